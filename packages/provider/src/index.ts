/**
 * @0g-compute/provider: a provider node for 0G Compute. It serves a local GGUF model (node-llama-cpp)
 * or an upstream OpenAI-compatible server, admits only paid requests (tickets verified through
 * @0g-compute/core), signs a receipt for every response, keeps its state in SQLite, and settles
 * vouchers on-chain in batches.
 */
export * from "./backend.js";
export * from "./backends/upstream.js";
export * from "./chain-state.js";
export * from "./config.js";
export * from "./metrics.js";
export * from "./rate-limit.js";
export * from "./node.js";
export * from "./registration.js";
export * from "./server.js";
export * from "./service-book.js";
export * from "./settlement.js";
export * from "./store.js";
