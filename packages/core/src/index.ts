/**
 * @0g-compute/core: the only package that knows the 0G Compute wire protocol, its signatures and its
 * contract bindings. Everything else (provider, LangChain, MCP) goes through it. This is the Node.js entry:
 * everything of the browser entry, and what needs Node.js (keystores, files, the gateway, the CLI's
 * errors, the provider's admission checks, native secp256k1).
 */
export * from "./browser.js";
export * from "./keys.js";
export * from "./admission.js";
export * from "./gateway.js";
export * from "./local-auth.js";
export * from "./file-lane-store.js";
export * from "./spending-limit.js";
export * from "./network-env.js";
export * from "./cli-errors.js";
// Installs undici's keep-alive transport for every request to a provider.
export * from "./undici-transport.js";
// Installs libsecp256k1 for every signature and recovery of the SDK when its binding loads.
export * from "./native-secp256k1.js";
