#!/usr/bin/env node
// Runs the whole Jest suite in native ESM mode and ends with a plain `N passed, N failed` line.
// Extra arguments go to Jest (e.g. a test path pattern); each package's `npm test` passes its own folder.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const jestBin = join(dirname(require.resolve("jest/package.json")), "bin", "jest.js");
const dir = mkdtempSync(join(tmpdir(), "0g-jest-"));
const resultsFile = join(dir, "results.json");

// One configuration for every package, whichever package's `npm test` calls this (paths are the repository's).
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = spawnSync(
  process.execPath,
  [
    "--experimental-vm-modules",
    "--no-warnings=ExperimentalWarning",
    jestBin,
    "--config",
    join(root, "jest.config.js"),
    "--rootDir",
    root,
    "--json",
    `--outputFile=${resultsFile}`,
    ...process.argv.slice(2),
  ],
  { stdio: "inherit", cwd: root, env: { ...process.env, NODE_OPTIONS: process.env.NODE_OPTIONS ?? "" } },
);

let passed = 0;
let failed = 0;
try {
  const results = JSON.parse(readFileSync(resultsFile, "utf8"));
  passed = results.numPassedTests;
  failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
} catch {
  failed = Math.max(failed, 1);
}
rmSync(dir, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
