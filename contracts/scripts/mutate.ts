/**
 * Mutation testing of the contracts' protective checks: applies each mutation of `mutations.ts` (one
 * textual replacement in Escrow.sol, ZkEscrow.sol or ServiceRegistry.sol: a dropped require, a flipped
 * comparison, a lock that is not restarted...), compiles the mutant, runs the contract tests of that file
 * against it, and reports each mutation as killed (some test failed) or survived (every test passed), with
 * the score killed / (killed + survived).
 *
 * The sources are never modified: each mutant is compiled from an in-memory copy into a temporary folder,
 * and Jest is pointed at that folder's typed modules instead of `contracts/generated`, so other work on the
 * repository (and a Ctrl-C at any moment) never sees a mutated contract. The temporary folder is removed
 * on exit, on error and on SIGINT/SIGTERM.
 *
 * Usage: `npm run mutate -w @0g-compute/contracts [-- --only id,id] [--file ZkEscrow.sol] [--tests a.test.ts,b.test.ts]
 * [--list] [--json out.json]` (`npm run mutate:contracts` from the root). `--tests` runs the given test files
 * instead of all of the mutated file's, e.g. to check that one test alone kills a mutation.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { compileSources, EXPORTS, projectSources, writeArtifactModules } from "./compile.js";
import { MUTATIONS, TESTS, type ContractFile, type Mutation } from "./mutations.js";

const require = createRequire(import.meta.url);
const contractsDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repoDir = resolve(contractsDir, "..");
const jestBin = join(dirname(require.resolve("jest/package.json")), "bin", "jest.js");

/** Contracts whose bytecode a change in each file affects (ZkEscrow inherits Escrow). */
const AFFECTED: Record<ContractFile, readonly string[]> = {
  "Escrow.sol": ["Escrow", "ZkEscrow"],
  "ZkEscrow.sol": ["ZkEscrow"],
  "ServiceRegistry.sol": ["ServiceRegistry"],
};
/** A mutant whose tests run longer than this is counted as killed (it hangs), as mutation tools do. */
const MUTANT_TIMEOUT_MS = 20 * 60_000;

type Status = "killed" | "survived" | "timeout" | "invalid";
interface Outcome {
  id: string;
  file: ContractFile;
  check: string;
  status: Status;
  /** The test file and test that killed it, or the compiler error of an invalid mutant. */
  detail?: string;
  seconds: number;
}

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    file: { type: "string" },
    tests: { type: "string" },
    list: { type: "boolean", default: false },
    json: { type: "string" },
  },
});

let work: string | undefined;
let child: ChildProcess | undefined;

function cleanUp(): void {
  if (child?.pid !== undefined && child.exitCode === null) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  if (work) rmSync(work, { recursive: true, force: true });
  work = undefined;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping; the sources were never modified\n`);
    cleanUp();
    process.exit(130);
  });
}

/** The source after the mutation; the text to replace must occur exactly once. */
function applyMutation(source: string, m: Mutation): string {
  const at = source.indexOf(m.from);
  if (at < 0 || source.indexOf(m.from, at + 1) >= 0) {
    throw new Error(
      `mutation ${m.id}: its text occurs ${at < 0 ? "nowhere" : "more than once"} in ${m.file}; update contracts/scripts/mutations.ts`,
    );
  }
  return source.slice(0, at) + m.to + source.slice(at + m.from.length);
}

/** Compile `sources` (only the contracts a change in `file` affects) over the baseline modules in `dir`. */
function buildInto(dir: string, baseline: string, sources: Record<string, { content: string }>, file: ContractFile): void {
  rmSync(dir, { recursive: true, force: true });
  cpSync(baseline, dir, { recursive: true });
  const only = EXPORTS.filter((e) => AFFECTED[file].includes(e.name));
  writeArtifactModules(compileSources(sources, only), dir);
}

/** A Jest config that loads the typed contract modules from `generatedDir` instead of contracts/generated. */
function writeJestConfig(dir: string, generatedDir: string): string {
  const file = join(dir, "jest.config.mjs");
  const base = pathToFileURL(join(repoDir, "jest.config.js")).href;
  writeFileSync(
    file,
    [
      `import base from ${JSON.stringify(base)};`,
      "export default {",
      "  ...base,",
      `  rootDir: ${JSON.stringify(repoDir)},`,
      `  moduleNameMapper: { "^\\\\.\\\\./generated/index(\\\\.js)?$": ${JSON.stringify(join(generatedDir, "index.ts"))}, ...base.moduleNameMapper },`,
      "};",
      "",
    ].join("\n"),
  );
  return file;
}

/** Run one test file; resolves to the failing tests' names (empty when all passed), or "timeout". */
function runTestFile(config: string, testFile: string, resultsFile: string, timeoutMs: number): Promise<string[] | "timeout"> {
  return new Promise((resolveRun, reject) => {
    const args = [
      "--experimental-vm-modules",
      "--no-warnings=ExperimentalWarning",
      jestBin,
      "--config",
      config,
      "--runTestsByPath",
      join(contractsDir, "test", testFile),
      "--maxWorkers=1",
      "--silent",
      "--json",
      `--outputFile=${resultsFile}`,
    ];
    rmSync(resultsFile, { force: true });
    child = spawn(process.execPath, args, { cwd: repoDir, stdio: ["ignore", "ignore", "pipe"], detached: true });
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      if (child?.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      resolveRun("timeout");
    }, timeoutMs);
    child.once("error", reject);
    child.once("exit", () => {
      clearTimeout(timer);
      try {
        const results = JSON.parse(readFileSync(resultsFile, "utf8")) as {
          numFailedTests: number;
          numRuntimeErrorTestSuites: number;
          testResults: { message: string; assertionResults: { status: string; fullName: string }[] }[];
        };
        const failed = results.testResults.flatMap((r) => r.assertionResults.filter((a) => a.status === "failed").map((a) => a.fullName));
        if (results.numRuntimeErrorTestSuites > 0)
          failed.push(
            `suite error: ${results.testResults
              .map((r) => r.message)
              .join(" ")
              .slice(0, 300)}`,
          );
        resolveRun(failed.length === 0 && results.numFailedTests > 0 ? ["(unnamed failure)"] : failed);
      } catch {
        resolveRun([`jest produced no results: ${stderr.slice(-300)}`]);
      }
    });
  });
}

/** Run the test files in order and stop at the first failure. */
async function runTests(
  config: string,
  files: readonly string[],
  resultsFile: string,
  deadline: number,
): Promise<{ failed?: string; timeout?: boolean }> {
  for (const testFile of files) {
    const result = await runTestFile(config, testFile, resultsFile, Math.max(1000, deadline - Date.now()));
    if (result === "timeout") return { timeout: true };
    if (result.length > 0) return { failed: `${testFile}: ${result[0]}` };
  }
  return {};
}

async function main(): Promise<void> {
  const only = values.only
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const selected = MUTATIONS.filter((m) => (!only || only.includes(m.id)) && (!values.file || m.file === values.file));
  if (only) for (const id of only) if (!MUTATIONS.some((m) => m.id === id)) throw new Error(`no mutation ${id}`);
  if (values.list) {
    for (const m of selected) console.log(`${m.id.padEnd(34)} ${m.file.padEnd(20)} ${m.check}`);
    return;
  }
  const testsFor = (m: Mutation): readonly string[] =>
    values.tests
      ?.split(",")
      .map((t) => t.trim())
      .filter(Boolean) ?? TESTS[m.file];
  const sources = projectSources();
  // Every mutation must apply before anything runs: a stale list fails at once.
  const mutants = selected.map((m) => ({ m, source: applyMutation(sources[m.file]!.content, m) }));

  work = mkdtempSync(join(tmpdir(), "0g-mutate-"));
  const baseline = join(work, "baseline");
  const generated = join(work, "generated");
  const config = writeJestConfig(work, generated);
  const resultsFile = join(work, "results.json");
  mkdirSync(baseline);
  process.stderr.write(`compiling the unmutated contracts (${Object.keys(sources).length} sources)\n`);
  writeArtifactModules(compileSources(sources), baseline);

  // The unmutated contracts must pass every test file the mutants will run.
  const files = [...new Set(selected.flatMap(testsFor))];
  cpSync(baseline, generated, { recursive: true });
  process.stderr.write(`baseline: ${files.join(", ")}\n`);
  const base = await runTests(config, files, resultsFile, Date.now() + MUTANT_TIMEOUT_MS * 2);
  if (base.failed || base.timeout)
    throw new Error(`the unmutated contracts fail their tests (${base.failed ?? "timeout"}); fix that first`);

  const outcomes: Outcome[] = [];
  for (const [i, { m, source }] of mutants.entries()) {
    const started = Date.now();
    let outcome: Outcome;
    try {
      buildInto(generated, baseline, { ...sources, [m.file]: { content: source } }, m.file);
      const run = await runTests(config, testsFor(m), resultsFile, started + MUTANT_TIMEOUT_MS);
      const status: Status = run.timeout ? "timeout" : run.failed ? "killed" : "survived";
      outcome = { id: m.id, file: m.file, check: m.check, status, ...(run.failed ? { detail: run.failed } : {}), seconds: 0 };
    } catch (err) {
      outcome = {
        id: m.id,
        file: m.file,
        check: m.check,
        status: "invalid",
        detail: (err as Error).message.split("\n").slice(0, 3).join(" "),
        seconds: 0,
      };
    }
    outcome.seconds = Math.round((Date.now() - started) / 1000);
    outcomes.push(outcome);
    console.log(
      `[${i + 1}/${mutants.length}] ${outcome.status.padEnd(8)} ${m.id.padEnd(34)} ${outcome.seconds}s${outcome.detail ? `  ${outcome.detail}` : ""}`,
    );
  }

  const count = (s: Status) => outcomes.filter((o) => o.status === s).length;
  const killed = count("killed") + count("timeout");
  const survived = outcomes.filter((o) => o.status === "survived");
  const scored = killed + survived.length;
  console.log("");
  for (const o of survived) console.log(`SURVIVED ${o.id} (${o.file}): ${o.check}`);
  for (const o of outcomes.filter((x) => x.status === "invalid")) console.log(`INVALID  ${o.id} (${o.file}): ${o.detail}`);
  console.log(
    `mutation score: ${killed}/${scored} killed (${scored === 0 ? 0 : Math.round((killed / scored) * 1000) / 10}%), ${survived.length} survived, ${count("invalid")} invalid`,
  );
  if (values.json)
    writeFileSync(values.json, JSON.stringify({ killed, survived: survived.length, invalid: count("invalid"), outcomes }, null, 2) + "\n");
  process.exitCode = survived.length === 0 && count("invalid") === 0 ? 0 : 1;
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
  })
  .finally(cleanUp);
