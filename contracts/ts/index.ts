/**
 * @0g-compute/contracts: compiled ABIs and bytecode (generated from `contracts/src`) and the typed deploy
 * module. `@0g-compute/core` builds its contract clients from these ABIs. Its only runtime dependency is
 * viem; a local anvil chain is in `@0g-compute/contracts/testing`, the Solidity and ZK builds are tooling
 * of this repository.
 */
export * from "../generated/index.js";
export * from "./deploy.js";
export * from "./gas.js";
export * from "./zk.js";
