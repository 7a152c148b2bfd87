import type { Address, Hex } from "viem";
import type { EscrowDomain } from "./domain.js";
import { ZeroGError } from "./errors.js";
import { recoverDigestSigner } from "./secp256k1.js";
import { isAckOnly, ticketDigest, type SignedTicket } from "./ticket.js";
import { PROTOCOL_ERROR_CODES, type ProtocolErrorCode } from "./wire.js";

/** Width of the nonce window: a nonce is fresh if unused and above `highest - NONCE_WINDOW`. */
export const NONCE_WINDOW = 256n;
/** Largest jump above the highest nonce seen that a provider accepts. */
export const MAX_NONCE_JUMP = 2n ** 32n;
/** Seconds of clock skew a provider allows on a ticket's deadline. */
export const DEADLINE_SKEW_SECONDS = 5n;

/** A ticket was refused; `code` and `status` follow the protocol's error table. */
export class AdmissionError extends ZeroGError {
  readonly status: number;
  readonly protocolCode: ProtocolErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ProtocolErrorCode, message: string, details?: Record<string, unknown>) {
    super(`ADMISSION_${code.toUpperCase() as Uppercase<ProtocolErrorCode>}`, message);
    this.protocolCode = code;
    this.status = PROTOCOL_ERROR_CODES[code];
    this.details = details;
  }
}

/** The terms a provider currently honours for one service: its current version and, in grace, the previous one. */
export interface HonouredTerms {
  serviceId: Hex;
  versions: readonly { version: number; inputPrice: bigint; outputPrice: bigint }[];
}

/** Stateless ticket checks: signature, provider, domain (by construction), deadline, terms, request hash. */
export interface StaticCheckInput {
  domain: EscrowDomain;
  ticket: SignedTicket;
  /** This provider's address (the payee). */
  provider: Address;
  /** The provider's clock now, in unix seconds ({@link unixSeconds}): the time base of deadlines, never the chain's. */
  now: bigint;
  /** The hash the provider computed over the raw request it received (omit for ack-only tickets). */
  requestHash?: Hex;
  /** Terms honoured for the ticket's service (omit for ack-only tickets). */
  terms?: HonouredTerms;
}

/** The outcome of {@link checkTicket}: who signed and the digest receipts refer to. */
export interface CheckedTicket {
  signer: Address;
  digest: Hex;
  ackOnly: boolean;
}

/**
 * Check everything about a ticket that needs no provider state. Throws {@link AdmissionError}.
 * The domain must be the provider's own (its configured chain id and escrow), never the client's.
 */
export async function checkTicket(input: StaticCheckInput): Promise<CheckedTicket> {
  const { ticket } = input;
  if (ticket.provider.toLowerCase() !== input.provider.toLowerCase()) {
    throw new AdmissionError("wrong_provider", `ticket is for provider ${ticket.provider}`);
  }
  const digest = ticketDigest(input.domain, ticket);
  let signer: Address;
  try {
    signer = await recoverDigestSigner(digest, ticket.signature);
  } catch {
    throw new AdmissionError("bad_signature", "ticket signature does not recover");
  }
  const ackOnly = isAckOnly(ticket);
  if (ackOnly) return { signer, digest, ackOnly };
  if (ticket.terms.deadline + DEADLINE_SKEW_SECONDS < input.now) {
    throw new AdmissionError("ticket_expired", `ticket deadline ${ticket.terms.deadline} has passed`, { now: input.now.toString() });
  }
  if (input.requestHash !== undefined && input.requestHash.toLowerCase() !== ticket.terms.requestHash.toLowerCase()) {
    throw new AdmissionError("request_hash_mismatch", "the ticket's request hash does not match the request body");
  }
  if (input.terms) checkTerms(ticket, input.terms);
  return { signer, digest, ackOnly };
}

/** Throw `terms_changed` unless the ticket's service, version and prices are among the terms honoured. */
export function checkTerms(ticket: SignedTicket, honoured: HonouredTerms): void {
  const t = ticket.terms;
  const match =
    honoured.serviceId.toLowerCase() === t.serviceId.toLowerCase() &&
    honoured.versions.some((v) => v.version === t.serviceVersion && v.inputPrice === t.inputPrice && v.outputPrice === t.outputPrice);
  if (match) return;
  const current = honoured.versions[0];
  throw new AdmissionError(
    "terms_changed",
    "the ticket's service, version or prices are not the ones in force",
    current === undefined
      ? undefined
      : {
          serviceId: honoured.serviceId,
          serviceVersion: current.version,
          inputPrice: current.inputPrice.toString(),
          outputPrice: current.outputPrice.toString(),
        },
  );
}

/** Serializable nonce window of one lane: the highest nonce seen and a bitmap of the 256 below it. */
export interface NonceWindowState {
  highest: bigint;
  /** Bit i set = nonce `highest - i` used (bit 0 is `highest` itself). */
  bitmap: bigint;
}

export const EMPTY_NONCE_WINDOW: NonceWindowState = { highest: 0n, bitmap: 0n };

/**
 * Check a nonce against a lane's window; returns the window with it marked used, or throws
 * `nonce_used`, `nonce_too_old` or `nonce_out_of_range`. Parallel requests may arrive in any order.
 */
export function useNonce(window: NonceWindowState, nonce: bigint): NonceWindowState {
  if (nonce < 1n) throw new AdmissionError("nonce_out_of_range", "nonces start at 1");
  const { highest, bitmap } = window;
  if (nonce > highest) {
    if (nonce - highest > MAX_NONCE_JUMP) {
      throw new AdmissionError("nonce_out_of_range", `nonce ${nonce} jumps too far above ${highest}`, { highestNonce: highest.toString() });
    }
    const shift = nonce - highest;
    const shifted = shift >= NONCE_WINDOW ? 0n : (bitmap << shift) & ((1n << NONCE_WINDOW) - 1n);
    return { highest: nonce, bitmap: shifted | 1n };
  }
  const offset = highest - nonce;
  if (offset >= NONCE_WINDOW) {
    throw new AdmissionError("nonce_too_old", `nonce ${nonce} is below the window (highest ${highest})`, {
      highestNonce: highest.toString(),
    });
  }
  const bit = 1n << offset;
  if ((bitmap & bit) !== 0n) throw new AdmissionError("nonce_used", `nonce ${nonce} was used`, { highestNonce: highest.toString() });
  return { highest, bitmap: bitmap | bit };
}
