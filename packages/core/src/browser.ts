/**
 * @0g-compute/core/browser: the part of the SDK that runs in a web page, with no Node.js module and no
 * polyfill: contract clients, discovery, tickets, receipts, the paid fetch, and lane state in IndexedDB.
 * Keystores, the gateway, file-based state and the CLI stay in the Node.js entry.
 *
 * @example
 * import { createPaidFetch, IndexedDbLaneStore, ZeroGClient } from "@0g-compute/core/browser";
 * const client = new ZeroGClient({ network, account });
 * const paidFetch = createPaidFetch({ client, store: await IndexedDbLaneStore.open() });
 * const res = await paidFetch("http://0g.invalid/v1/chat/completions", { method: "POST", body });
 * console.log(paidFetch.receipts.at(-1)); // the provider's verified receipt
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
export * from "./discovery.js";
export * from "./wire.js";
export * from "./lane-store.js";
export * from "./session.js";
export * from "./pricing.js";
export * from "./provider-transport.js";
export * from "./paid-fetch.js";
export * from "./budget.js";
export * from "./indexeddb-lane-store.js";
export * from "./secp256k1.js";
