// What the provider's public HTTP layer is given: its keys, store, chain view, services, backend, limits.
import type { Address, LocalAccount } from "viem";
import type { EscrowDomain, ServiceInfo } from "@0g-compute/core";
import type { Backend } from "../backend.js";
import type { ChainState } from "../chain-state.js";
import type { ProviderMetrics } from "../metrics.js";
import type { RateLimit } from "../rate-limit.js";
import type { ServiceBook } from "../service-book.js";
import type { CreditPolicy, ProviderStore } from "../store.js";

/**
 * Budgets for work the node does for nothing. Paid requests never count against them; refusals do
 * (per client address and, once the signature recovered, per signing key), and so does every
 * acknowledgement (per key). A spent budget is answered `429 rate_limited` before any other work.
 */
export interface AbuseLimits {
  refusalsPerAddress: RateLimit;
  refusalsPerKey: RateLimit;
  acksPerKey: RateLimit;
}

export const DEFAULT_ABUSE_LIMITS: AbuseLimits = {
  refusalsPerAddress: { ratePerSecond: 20, burst: 60 },
  refusalsPerKey: { ratePerSecond: 5, burst: 20 },
  acksPerKey: { ratePerSecond: 2, burst: 10 },
};

/** Everything the HTTP layer needs. */
export interface ProviderContext {
  domain: EscrowDomain;
  /** The payee address tickets name. */
  provider: Address;
  /** Key that signs receipts (the service's registered signer). */
  responseSigner: LocalAccount;
  store: ProviderStore;
  chain: ChainState;
  services: ServiceBook;
  backend: Backend;
  metrics: ProviderMetrics;
  /** Credit per channel over unacknowledged and in-flight fees: its ramp, ceiling and acknowledgement deadline. */
  credit: (service: ServiceInfo) => Omit<CreditPolicy, "laneCap">;
  /** Largest request body read (bytes); larger ones are refused while reading (413). */
  maxBodyBytes: number;
  limits: AbuseLimits;
  /** Longest a request may run; a session key must stay valid at least this long (seconds). */
  maxRequestSeconds: number;
  /** This node's clock in unix seconds, the time base of ticket deadlines (default {@link unixSeconds}; tests fix it). */
  clock?: () => bigint;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** Web origins allowed to call from a browser (CORS); none by default. `"*"` allows any. */
  corsOrigins?: readonly string[];
}
