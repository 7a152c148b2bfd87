#!/usr/bin/env node
// `npm run mutate [-- stryker options]`: mutation testing of the protocol code (stryker.config.mjs).
// Stryker mutates the source files in place and puts them back when it ends, so this refuses to start
// while one of them has uncommitted changes (an edit made during the run would be overwritten) or still
// holds mutants from an interrupted run, and checks afterwards that every file was put back.
//
// Examples:
//   npm run mutate                                              # all five files
//   npm run mutate -- --mutate packages/core/src/admission.ts   # one file
//   npm run mutate -- --mutate packages/provider/src/store.ts:300-360 --concurrency 1
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { default: config } = await import(join(root, "stryker.config.mjs"));
const files = config.mutate;

/** Files with Stryker's instrumentation still in them. */
const leftovers = () => files.filter((f) => readFileSync(join(root, f), "utf8").includes("stryMutAct_"));

const dirty = () => {
  const res = spawnSync("git", ["status", "--porcelain", "--", ...files], { cwd: root, encoding: "utf8" });
  if (res.status !== 0) return undefined; // not a git checkout: nothing to compare with
  return res.stdout.trim();
};

const before = leftovers();
if (before.length > 0) {
  console.error(`These files still hold mutants from an interrupted run: ${before.join(", ")}.`);
  console.error("Restore them (git checkout -- <file>, if their only change is Stryker's) and run again.");
  process.exit(1);
}
const changed = dirty();
if (changed && process.env.MUTATE_ALLOW_DIRTY !== "1") {
  console.error("Stryker rewrites these files while it runs; commit or stash their changes first:");
  console.error(changed);
  console.error("(MUTATE_ALLOW_DIRTY=1 runs anyway; edits made to them during the run are lost.)");
  process.exit(1);
}

const require = createRequire(import.meta.url);
const stryker = join(dirname(require.resolve("@stryker-mutator/core/package.json")), "bin", "stryker.js");
const run = spawnSync(process.execPath, [stryker, "run", join(root, "stryker.config.mjs"), ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});

const after = leftovers();
if (after.length > 0) {
  console.error(`Stryker did not restore ${after.join(", ")}: restore them from git before committing.`);
  process.exit(1);
}
if (dirty() !== changed) console.error("Warning: the mutated files differ from before the run; check git diff.");
process.exit(run.status ?? 1);
