#!/usr/bin/env node
// Runs the whole Jest suite in native ESM mode and ends with a plain `N passed, N failed` line.
// Extra arguments go to Jest (e.g. a test path pattern); each package's `npm test` passes its own folder.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const jestBin = join(dirname(require.resolve("jest/package.json")), "bin", "jest.js");
const dir = mkdtempSync(join(tmpdir(), "0g-jest-"));
const resultsFile = join(dir, "results.json");
/** How long Jest may take to exit once it has written its results before it counts as a failure. */
const EXIT_GRACE_MS = 60_000;

// One configuration for every package, whichever package's `npm test` calls this (paths are the repository's).
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const jestArgs = [
  "--experimental-vm-modules",
  "--no-warnings=ExperimentalWarning",
  jestBin,
  "--config",
  join(root, "jest.config.js"),
  "--rootDir",
  root,
];
const env = { ...process.env, NODE_OPTIONS: process.env.NODE_OPTIONS ?? "" };

function finish(passed, failed) {
  rmSync(dir, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

// The ZK tests share one small circuit whose keys take minutes to build on a cold cache: build it (or find
// it in the cache) before Jest starts, so that no test's time limit includes it and parallel files never
// race for it.
const listed = spawnSync(process.execPath, [...jestArgs, "--listTests", ...process.argv.slice(2)], {
  cwd: root,
  env,
  encoding: "utf8",
  maxBuffer: 16 << 20,
});
if (listed.status !== 0) {
  process.stderr.write(listed.stderr);
  finish(0, 1);
}
if (/zk/i.test(listed.stdout)) {
  const zk = spawnSync(process.execPath, ["--import", "tsx", join(root, "contracts", "zk", "build.ts")], {
    cwd: root,
    env,
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (zk.status !== 0) {
    console.error("building the ZK test circuit failed");
    finish(0, 1);
  }
}

// Jest runs in its own process group so that, if it does not exit after its run (something a test started
// still runs), it and its workers can be stopped and the run reported as failed rather than hang.
const jest = spawn(process.execPath, [...jestArgs, "--json", `--outputFile=${resultsFile}`, ...process.argv.slice(2)], {
  stdio: "inherit",
  cwd: root,
  env,
  detached: true,
});
let hung = false;
let resultsAt;
const watchdog = setInterval(() => {
  resultsAt ??= existsSync(resultsFile) ? Date.now() : undefined;
  if (resultsAt === undefined || Date.now() - resultsAt < EXIT_GRACE_MS) return;
  hung = true;
  console.error(`Jest did not exit ${EXIT_GRACE_MS / 1000} s after its run: a test left something running; stopping it.`);
  stopJest("SIGKILL");
}, 1000);
function stopJest(signal) {
  try {
    process.kill(-jest.pid, signal);
  } catch {
    // already gone
  }
}
process.on("SIGINT", () => stopJest("SIGINT"));
process.on("SIGTERM", () => stopJest("SIGTERM"));

jest.once("exit", (code) => {
  clearInterval(watchdog);
  let passed = 0;
  let failed = 0;
  try {
    const results = JSON.parse(readFileSync(resultsFile, "utf8"));
    passed = results.numPassedTests;
    failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
  } catch {
    failed = Math.max(failed, 1);
  }
  if (hung || code !== 0) failed = Math.max(failed, 1);
  finish(passed, failed);
});
