/** ZK-compressed settlement: user keys and vouchers, the provider's channel tree, batch building. */
export * from "./field.js";
export * from "./voucher.js";
export * from "./tree.js";
export * from "./batch.js";
export * from "./proof.js";
export * from "./indexer.js";
