/** ZK-compressed settlement (`@0g-compute/core/zk`, kept apart so that other users never load Poseidon): user keys and vouchers, the provider's channel tree, batch building. */
export * from "./field.js";
export * from "./voucher.js";
export * from "./tree.js";
export * from "./batch.js";
export * from "./proof.js";
export * from "./indexer.js";
export * from "./submit.js";
