/**
 * @0g-compute/core: the only package that knows the 0G Compute wire protocol, its signatures and its
 * contract bindings. Everything else (provider, LangChain, MCP) goes through it.
 */
export * from "./errors.js";
export * from "./domain.js";
export * from "./uint.js";
export * from "./ticket.js";
export * from "./delegation.js";
export * from "./hashing.js";
export * from "./sse.js";
export * from "./receipt.js";
export * from "./amount.js";
export * from "./network.js";
export * from "./chain-errors.js";
export * from "./transaction.js";
export * from "./client.js";
export * from "./keys.js";
export * from "./discovery.js";
export * from "./wire.js";
export * from "./lane-store.js";
export * from "./session.js";
export * from "./pricing.js";
export * from "./paid-fetch.js";
export * from "./admission.js";
export * from "./gateway.js";
export * from "./local-auth.js";
export * from "./file-lane-store.js";
export * from "./budget.js";
export * from "./spending-limit.js";
export * from "./network-env.js";
export * from "./cli-errors.js";
export * from "./secp256k1.js";
// Installs libsecp256k1 for every signature and recovery of the SDK when its binding loads.
export * from "./native-secp256k1.js";
