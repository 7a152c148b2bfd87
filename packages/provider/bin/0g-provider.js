#!/usr/bin/env node
// The `0g-provider` command. A committed file, so that npm links it at install time, before the build.
import { main } from "@0g-compute/provider/cli";

process.exit(await main(process.argv));
