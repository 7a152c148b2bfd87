/** ZK-mode settlement for providers: the worker-thread prover and the ZK settler. */
export * from "./prover.js";
export * from "./settler.js";
