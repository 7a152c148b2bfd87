import { keccak256, parseSignature, signatureToCompactSignature, toBytes, toHex, type Address, type Hex, type LocalAccount } from "viem";
import type { EscrowDomain } from "./domain.js";
import { typedDigest, Words } from "./eip712-fast.js";
import { InvalidArgumentError } from "./errors.js";
import { recoverDigestSigner } from "./secp256k1.js";
import { assertUint, MAX_UINT128, MAX_UINT32, MAX_UINT64 } from "./uint.js";

/** EIP-712 type string of `Terms`; the escrow's `TERMS_TYPEHASH` is its keccak256. */
export const TERMS_TYPE =
  "Terms(bytes32 serviceId,uint32 serviceVersion,uint128 inputPrice,uint128 outputPrice,uint128 maxCost,bytes32 requestHash,uint64 deadline)";
/** EIP-712 type string of `Ticket` (with `Terms` appended, as EIP-712 encodes nested types). */
export const TICKET_TYPE = "Ticket(address user,address provider,uint64 nonce,uint128 cumulative,Terms terms)" + TERMS_TYPE;

/** The EIP-712 `types` of a ticket, in the form wallets and viem take. */
export const TICKET_TYPES = {
  Terms: [
    { name: "serviceId", type: "bytes32" },
    { name: "serviceVersion", type: "uint32" },
    { name: "inputPrice", type: "uint128" },
    { name: "outputPrice", type: "uint128" },
    { name: "maxCost", type: "uint128" },
    { name: "requestHash", type: "bytes32" },
    { name: "deadline", type: "uint64" },
  ],
  Ticket: [
    { name: "user", type: "address" },
    { name: "provider", type: "address" },
    { name: "nonce", type: "uint64" },
    { name: "cumulative", type: "uint128" },
    { name: "terms", type: "Terms" },
  ],
} as const;

/** The terms of one request, bound into its ticket. Prices and costs in wei; `deadline` in unix seconds. */
export interface Terms {
  serviceId: Hex;
  serviceVersion: number;
  inputPrice: bigint;
  outputPrice: bigint;
  /** Most this request may cost; 0 for an ack-only ticket. */
  maxCost: bigint;
  /** keccak256 of the request (see `requestHash`); zero for an ack-only ticket. */
  requestHash: Hex;
  /** The provider must not start the request after this time (unix seconds of the provider's clock, see {@link unixSeconds}). */
  deadline: bigint;
}

/**
 * The time base of ticket deadlines: unix seconds of the wall clock, on both sides. Deadlines are never
 * compared with the chain's block time, which runs ahead of or behind the wall clock (a local chain whose
 * clock was moved, a real chain's drift); the provider checks them against its own clock, and a client
 * whose clock differs learns the provider's from a `ticket_expired` refusal (`details.now`).
 */
export function unixSeconds(ms: number = Date.now()): bigint {
  return BigInt(Math.floor(ms / 1000));
}

/**
 * A ticket: "on this lane I owe `provider` at least `cumulative` wei in total", plus one request's terms.
 * Signed by the user or by a session key authorized for the channel, it is also the settlement voucher.
 */
export interface Ticket {
  user: Address;
  provider: Address;
  nonce: bigint;
  cumulative: bigint;
  terms: Terms;
}

/** A ticket with its 65-byte signature. */
export interface SignedTicket extends Ticket {
  signature: Hex;
}

/** A voucher in the form the escrow's `settle` takes (EIP-2098 compact signature). */
export interface Voucher {
  user: Address;
  nonce: bigint;
  cumulative: bigint;
  termsHash: Hex;
  r: Hex;
  vs: Hex;
}

const ZERO32 = `0x${"0".repeat(64)}` as const;

/** Check every field's width; throws {@link InvalidArgumentError}. */
export function validateTicket(ticket: Ticket): void {
  assertUint("nonce", ticket.nonce, MAX_UINT64);
  if (ticket.nonce === 0n) throw new InvalidArgumentError("nonce starts at 1");
  assertUint("cumulative", ticket.cumulative, MAX_UINT128);
  const t = ticket.terms;
  assertUint("serviceVersion", BigInt(t.serviceVersion), MAX_UINT32);
  assertUint("inputPrice", t.inputPrice, MAX_UINT128);
  assertUint("outputPrice", t.outputPrice, MAX_UINT128);
  assertUint("maxCost", t.maxCost, MAX_UINT128);
  assertUint("deadline", t.deadline, MAX_UINT64);
  if (!/^0x[0-9a-fA-F]{64}$/.test(t.serviceId)) throw new InvalidArgumentError("serviceId must be 32 bytes");
  if (!/^0x[0-9a-fA-F]{64}$/.test(t.requestHash)) throw new InvalidArgumentError("requestHash must be 32 bytes");
}

/** Whether a ticket only acknowledges receipts (no request attached). */
export function isAckOnly(ticket: Ticket): boolean {
  return ticket.terms.maxCost === 0n && ticket.terms.requestHash === ZERO32;
}

const TERMS_TYPEHASH = keccak256(toBytes(TERMS_TYPE), "bytes");
const TICKET_TYPEHASH = keccak256(toBytes(TICKET_TYPE), "bytes");

function termsStructHash(t: Terms): Uint8Array {
  return new Words(8)
    .bytes32(0, TERMS_TYPEHASH)
    .bytes32(1, t.serviceId)
    .uint(2, t.serviceVersion, 32)
    .uint(3, t.inputPrice, 128)
    .uint(4, t.outputPrice, 128)
    .uint(5, t.maxCost, 128)
    .bytes32(6, t.requestHash)
    .uint(7, t.deadline, 64)
    .hash();
}

/** EIP-712 struct hash of `terms`: the `termsHash` a voucher carries on-chain. */
export function hashTerms(terms: Terms): Hex {
  return toHex(termsStructHash(terms));
}

/** The EIP-712 digest of a ticket: what is signed, and what a receipt refers to. */
export function ticketDigest(domain: EscrowDomain, ticket: Ticket): Hex {
  const struct = new Words(6)
    .bytes32(0, TICKET_TYPEHASH)
    .uint(1, ticket.user, 160)
    .uint(2, ticket.provider, 160)
    .uint(3, ticket.nonce, 64)
    .uint(4, ticket.cumulative, 128)
    .bytes32(5, termsStructHash(ticket.terms))
    .hash();
  return typedDigest(domain, struct);
}

/**
 * Sign a ticket with the user's key or a session key.
 *
 * @example
 * const signed = await signTicket(account, escrowDomain(chainId, escrow), {
 *   user: account.address, provider, nonce: 1n, cumulative: 0n,
 *   terms: { serviceId, serviceVersion: 1, inputPrice: 1n, outputPrice: 2n, maxCost: 1000n, requestHash, deadline },
 * });
 */
export async function signTicket(signer: LocalAccount, domain: EscrowDomain, ticket: Ticket): Promise<SignedTicket> {
  return (await signTicketWithDigest(signer, domain, ticket)).ticket;
}

/**
 * {@link signTicket}, also returning the ticket's digest (what a receipt for it refers to), so a client
 * that signs and later checks the receipt hashes the ticket once.
 *
 * @example
 * const { ticket, digest } = await signTicketWithDigest(account, domain, unsigned);
 */
export async function signTicketWithDigest(
  signer: LocalAccount,
  domain: EscrowDomain,
  ticket: Ticket,
): Promise<{ ticket: SignedTicket; digest: Hex }> {
  validateTicket(ticket);
  const digest = ticketDigest(domain, ticket);
  // Sign the digest directly when the account can (same signature as signTypedData, without re-encoding).
  const signature = signer.sign
    ? await signer.sign({ hash: digest })
    : await signer.signTypedData({ domain, types: TICKET_TYPES, primaryType: "Ticket", message: toMessage(ticket) });
  return { ticket: { ...ticket, signature }, digest };
}

/** The address that signed a ticket (the user, or a session key). Throws on a malformed signature. */
export async function recoverTicketSigner(domain: EscrowDomain, ticket: SignedTicket): Promise<Address> {
  return recoverDigestSigner(ticketDigest(domain, ticket), ticket.signature);
}

/** Split a 65-byte signature into the EIP-2098 compact `(r, vs)` the contracts take. */
export function compactSignature(signature: Hex): { r: Hex; vs: Hex } {
  const parsed = parseSignature(signature);
  const compact = signatureToCompactSignature(parsed);
  return { r: compact.r, vs: compact.yParityAndS };
}

/** The settlement form of a signed ticket. */
export function toVoucher(ticket: SignedTicket): Voucher {
  const { r, vs } = compactSignature(ticket.signature);
  return {
    user: ticket.user,
    nonce: ticket.nonce,
    cumulative: ticket.cumulative,
    termsHash: hashTerms(ticket.terms),
    r,
    vs,
  };
}

function toMessage(ticket: Ticket) {
  return {
    user: ticket.user,
    provider: ticket.provider,
    nonce: ticket.nonce,
    cumulative: ticket.cumulative,
    terms: { ...ticket.terms },
  };
}
