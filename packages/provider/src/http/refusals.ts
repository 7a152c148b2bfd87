// How the node says no: an OpenAI-style error with a stable protocol code, counted in the metrics and
// charged to the budgets of free work (per client address and per signing key).
import type { Context } from "hono";
import type { Address } from "viem";
import {
  AdmissionError,
  PROTOCOL_ERROR_CODES,
  protocolErrorBody,
  WireFormatError,
  ZeroGError,
  type ProtocolErrorCode,
} from "@0g-compute/core";
import { BackendError } from "../backend.js";
import { RateLimiter } from "../rate-limit.js";
import type { ProviderContext } from "./context.js";

/** Bigints in details go out as decimal strings. */
function plain(details: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!details) return undefined;
  return JSON.parse(JSON.stringify(details, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))) as Record<string, unknown>;
}

const lower = (a: string) => a.toLowerCase();

/**
 * The budgets of work the node does for nothing ({@link ProviderContext.limits}) and the answer to every
 * refusal. A spent budget is `429 rate_limited` before any other work; refusals (below 500, other than 429)
 * are charged to the client's address and, once its signature recovered, to its signing key.
 */
export class Refusals {
  private readonly perAddress: RateLimiter;
  private readonly perKey: RateLimiter;
  private readonly acksPerKey: RateLimiter;

  constructor(private readonly ctx: ProviderContext) {
    this.perAddress = new RateLimiter(ctx.limits.refusalsPerAddress);
    this.perKey = new RateLimiter(ctx.limits.refusalsPerKey);
    this.acksPerKey = new RateLimiter(ctx.limits.acksPerKey);
  }

  /** Throws `429 rate_limited` once `address` spent its budget of refusals. */
  checkAddress(address: string): void {
    if (!this.perAddress.allowed(address))
      throw new AdmissionError("rate_limited", "too many refused requests from this address; slow down");
  }

  /** Throws `429 rate_limited` once the signing key spent its budget of refusals. */
  checkKey(signer: Address): void {
    if (!this.perKey.allowed(lower(signer))) throw new AdmissionError("rate_limited", "too many refused requests from this key; slow down");
  }

  /** Takes one acknowledgement from the key's budget; throws `429 rate_limited` when it is spent. */
  takeAck(signer: Address): void {
    if (!this.acksPerKey.take(lower(signer)))
      throw new AdmissionError("rate_limited", "too many acknowledgements from this key; one per receipt batch is enough");
  }

  /** An answer with `code`, counted in the metrics. */
  refuse(c: Context, code: ProtocolErrorCode, message: string, details?: Record<string, unknown>): Response {
    this.ctx.metrics.refusals.inc({ code });
    return c.json(protocolErrorBody(code, message, details), PROTOCOL_ERROR_CODES[code] as 400);
  }

  /** Answer a failure, and charge a refusal to the client address's (and the signing key's) budget. */
  answer(c: Context, err: unknown, address?: string, signer?: Address): Response {
    const res = this.toResponse(c, err);
    if (res.status < 500 && res.status !== 429) {
      if (address !== undefined) this.perAddress.take(address);
      if (signer !== undefined) this.perKey.take(lower(signer));
    }
    return res;
  }

  private toResponse(c: Context, err: unknown): Response {
    if (err instanceof AdmissionError) return this.refuse(c, err.protocolCode, err.message, plain(err.details));
    if (err instanceof WireFormatError) return this.refuse(c, "bad_ticket", err.message);
    if (err instanceof BackendError) return this.refuse(c, err.status === 400 ? "invalid_request" : "backend_error", err.message);
    this.ctx.log("internal_error", {
      error: err instanceof Error ? err.message : String(err),
      code: err instanceof ZeroGError ? err.code : undefined,
    });
    return this.refuse(c, "internal_error", "the provider failed to process the request");
  }
}
