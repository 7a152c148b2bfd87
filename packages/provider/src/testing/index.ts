/**
 * `@0g-compute/provider/testing`: a whole local network (anvil, contracts, provider nodes, funded
 * users), the deterministic fake upstream and the GGUF test-model generator. For tests, benchmarks
 * and the devnet; never for serving real users.
 */
export * from "./local-network.js";
export * from "./fake-upstream.js";
export * from "../test-model/generate.js";
