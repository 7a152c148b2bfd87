/** ZK-mode settlement for providers (`@0g-compute/provider/zk`): the prover (a separate process) and the ZK settler. */
export * from "./prover.js";
export * from "./settler.js";
export * from "./intake.js";
