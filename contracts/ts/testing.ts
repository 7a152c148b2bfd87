/**
 * @0g-compute/contracts/testing: a local chain for tests, demos and benchmarks: anvil on 127.0.0.1 with the
 * contracts deployed. Needs `@foundry-rs/anvil` (an optional peer dependency: install it beside this
 * package); the package root never loads it.
 *
 * @example
 * const chain = await startLocalChain({ params: { lockSeconds: 600n } });
 * // ... chain.rpcUrl, chain.deployment.escrow, chain.wallet(1) ...
 * await chain.stop();
 */
export * from "./anvil.js";
export * from "./local-chain.js";
