#!/usr/bin/env node
// The `0g-compute` command. A committed file, so that npm links it at install time, before the build.
import { main } from "@0g-compute/core/cli";

process.exit(await main(process.argv));
