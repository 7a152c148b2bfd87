/**
 * @0g-compute/contracts: compiled ABIs and bytecode (generated from `contracts/src`), the typed deploy
 * module, and a local anvil harness. `@0g-compute/core` builds its contract clients from these ABIs.
 */
export * from "../generated/index.js";
export * from "./deploy.js";
export * from "./anvil.js";
export * from "./local-chain.js";
export * from "./gas.js";
export * from "./zk.js";
