import { fileURLToPath } from "node:url";

// Mutation testing of the protocol code: the ticket and receipt checks in core, and the provider's
// store and HTTP layer. Run with `npm run mutate` (see docs/security.md, "Mutation testing").
//
// Mutants are written into the source files themselves (`inPlace`), because the workspace packages
// import each other through node_modules links to their `src` folders: in a copied sandbox the
// provider's tests would load core's original source. Stryker puts the originals back when it ends.

const here = (file) => fileURLToPath(new URL(file, import.meta.url));

/** The files mutated by default; `npm run mutate -- --mutate <file>` narrows the run to one of them. */
const mutate = [
  "packages/core/src/admission.ts",
  "packages/core/src/session.ts",
  "packages/core/src/receipt.ts",
  "packages/core/src/pricing.ts",
  "packages/provider/src/store.ts",
  "packages/provider/src/http/admission.ts",
  "packages/provider/src/http/chat-completions.ts",
  "packages/provider/src/http/ack.ts",
  "packages/provider/src/http/refusals.ts",
  "packages/provider/src/http/read-request.ts",
];

/**
 * The tests that exercise those files. Each mutant is then tested only by the tests that executed its
 * code in the initial run (per-test coverage), or by all of them when it runs as a module loads.
 * Left out: the crash test (a child process killed at random moments: neither deterministic nor
 * observable by Stryker's coverage), the ZK settler (minutes of proving per run), the llama backend tests
 * and the clients of other packages, which reach these modules only through the ones listed here.
 */
const defaultTests = [
  "packages/core/test/admission.test.ts",
  "packages/core/test/session.test.ts",
  "packages/core/test/receipt.test.ts",
  "packages/core/test/eip712.test.ts",
  "packages/core/test/pricing.test.ts",
  "packages/core/test/paid-fetch.test.ts",
  "packages/core/test/lane-store.test.ts",
  "packages/provider/test/store.test.ts",
  "packages/provider/test/store-admission.test.ts",
  "packages/provider/test/hardening.test.ts",
  "packages/provider/test/admission-money.test.ts",
  "packages/provider/test/provider-payments.test.ts",
  "packages/provider/test/provider-upstream.test.ts",
  "packages/provider/test/server-guards.test.ts",
  "packages/provider/test/chain-state.test.ts",
];
/** `MUTATE_TESTS=a.test.ts,b.test.ts npm run mutate` runs the mutants against those test files only. */
const tests = process.env.MUTATE_TESTS
  ? process.env.MUTATE_TESTS.split(",")
      .map((t) => t.trim())
      .filter(Boolean)
  : defaultTests;

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  packageManager: "npm",
  mutate,
  inPlace: true,
  // Stryker would otherwise add `// @ts-nocheck` to every script of the repository while it runs (in
  // place: to other people's files). Jest's transform does not type-check, so nothing needs it.
  disableTypeChecks: false,
  testRunner: "jest",
  // Jest runs in native ESM mode, as in `npm test`.
  testRunnerNodeArgs: ["--experimental-vm-modules", "--no-warnings=ExperimentalWarning"],
  jest: {
    projectType: "custom",
    configFile: "jest.config.js",
    config: {
      testMatch: tests.map((t) => `<rootDir>/${t}`),
      // Loads only the test files that hold the tests covering the mutant.
      testSequencer: here("./scripts/mutation-sequencer.js"),
      // Jest's node environment, skipping the rest of a mutant's tests once one has failed.
      testEnvironment: here("./scripts/mutation-environment.cjs"),
    },
    // Jest cannot relate provider tests to core's source (they import it by package name), so the
    // tests to run come from per-test coverage instead.
    enableFindRelatedTests: false,
  },
  coverageAnalysis: "perTest",
  // Two cores, shared: one runner per core at most.
  concurrency: 2,
  // Provider tests start a local chain and a node; a mutant that hangs a request is cut off after this
  // much beyond the test's normal time (generous: a runner started afresh needs a few seconds more).
  timeoutMS: 45000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 15,
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  thresholds: { high: 90, low: 75, break: null },
};
