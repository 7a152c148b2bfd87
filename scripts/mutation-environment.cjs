// Jest test environment for mutation runs (see stryker.config.mjs): Jest's node environment, plus
// "bail" for a mutant. Stryker needs one failing test to call a mutant killed, but cannot make Jest stop
// at the first failure, so every covering test would run (each provider test file starts a chain and
// a node). Here, once a test has failed while a mutant is active, the tests still to come in that run
// are skipped, and test files not yet started skip their hooks too. The initial run, which has no
// active mutant and must see every test pass, is never cut short.
"use strict";
const { TestEnvironment } = require("jest-environment-node");

/** Stryker names the active mutant in this variable for each mutant run. */
const ACTIVE_MUTANT = "__STRYKER_ACTIVE_MUTANT__";
/** The mutant (of this runner process) that already made a test fail. */
let killed;

const activeMutant = () => process.env[ACTIVE_MUTANT];

function skipAll(block) {
  for (const child of block.children) {
    if (child.type === "describeBlock") skipAll(child);
    else child.mode = "skip";
  }
}

class MutationEnvironment extends TestEnvironment {
  async handleTestEvent(event, state) {
    const mutant = activeMutant();
    if (mutant === undefined) return;
    if (event.name === "run_start" && killed === mutant) skipAll(state.rootDescribeBlock);
    else if (event.name === "test_start" && killed === mutant) event.test.mode = "skip";
    else if ((event.name === "test_done" && event.test.errors.length > 0) || event.name === "hook_failure") killed = mutant;
  }
}

module.exports = MutationEnvironment;
module.exports.TestEnvironment = MutationEnvironment;
