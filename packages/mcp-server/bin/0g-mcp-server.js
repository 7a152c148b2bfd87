#!/usr/bin/env node
// The `0g-mcp-server` command. A committed file, so that npm links it at install time, before the build.
import { main } from "@0g-compute/mcp-server/cli";

process.exit(await main(process.argv.slice(2)));
