import { z } from "zod";
import type { Hex } from "viem";
import { InvalidArgumentError, ZeroGError } from "./errors.js";
import type { SignedReceipt } from "./receipt.js";
import { validateTicket, type SignedTicket } from "./ticket.js";
import { MAX_UINT128 } from "./uint.js";

/** Request header carrying the signed ticket (base64url of its JSON wire form). */
export const TICKET_HEADER = "x-0g-ticket";
/** Response header carrying the signed receipt of a non-streaming response (base64url of JSON). */
export const RECEIPT_HEADER = "x-0g-receipt";
/** Field of the last SSE chunk (before `[DONE]`) that carries a stream's receipt. */
export const RECEIPT_FIELD = "x_receipt";

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "32-byte hex");
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "20-byte hex address");
const signature = z.string().regex(/^0x[0-9a-fA-F]{130}$/, "65-byte hex signature");
const decimal = z.string().regex(/^(0|[1-9]\d{0,77})$/, "decimal integer string");

/** The JSON wire form of a signed ticket: every integer a decimal string. */
export const ticketWireSchema = z.strictObject({
  user: address,
  provider: address,
  nonce: decimal,
  cumulative: decimal,
  terms: z.strictObject({
    serviceId: hex32,
    serviceVersion: z.number().int().min(0).max(4294967295),
    inputPrice: decimal,
    outputPrice: decimal,
    maxCost: decimal,
    requestHash: hex32,
    deadline: decimal,
  }),
  signature,
});
export type TicketWire = z.infer<typeof ticketWireSchema>;

/** The JSON wire form of a signed receipt. */
export const receiptWireSchema = z.strictObject({
  ticketDigest: hex32,
  responseHash: hex32,
  inputTokens: z.number().int().min(0).max(4294967295),
  outputTokens: z.number().int().min(0).max(4294967295),
  fee: decimal,
  signature,
});
export type ReceiptWire = z.infer<typeof receiptWireSchema>;

/** A ticket, receipt or error body on the wire is malformed. */
export class WireFormatError extends ZeroGError {
  constructor(what: string, detail: string) {
    super("WIRE_FORMAT", `malformed ${what}: ${detail}`);
  }
}

export function ticketToWire(t: SignedTicket): TicketWire {
  return {
    user: t.user,
    provider: t.provider,
    nonce: t.nonce.toString(),
    cumulative: t.cumulative.toString(),
    terms: {
      serviceId: t.terms.serviceId,
      serviceVersion: t.terms.serviceVersion,
      inputPrice: t.terms.inputPrice.toString(),
      outputPrice: t.terms.outputPrice.toString(),
      maxCost: t.terms.maxCost.toString(),
      requestHash: t.terms.requestHash,
      deadline: t.terms.deadline.toString(),
    },
    signature: t.signature,
  };
}

export function ticketFromWire(value: unknown): SignedTicket {
  const parsed = ticketWireSchema.safeParse(value);
  if (!parsed.success) throw new WireFormatError("ticket", parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  const w = parsed.data;
  const ticket: SignedTicket = {
    user: w.user as Hex,
    provider: w.provider as Hex,
    nonce: BigInt(w.nonce),
    cumulative: BigInt(w.cumulative),
    terms: {
      serviceId: w.terms.serviceId as Hex,
      serviceVersion: w.terms.serviceVersion,
      inputPrice: BigInt(w.terms.inputPrice),
      outputPrice: BigInt(w.terms.outputPrice),
      maxCost: BigInt(w.terms.maxCost),
      requestHash: w.terms.requestHash as Hex,
      deadline: BigInt(w.terms.deadline),
    },
    signature: w.signature as Hex,
  };
  // Every integer must fit the width the contract and the EIP-712 type give it (a 78-digit string does not).
  try {
    validateTicket(ticket);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new WireFormatError("ticket", err.message);
    throw err;
  }
  return ticket;
}

export function receiptToWire(r: SignedReceipt): ReceiptWire {
  return {
    ticketDigest: r.ticketDigest,
    responseHash: r.responseHash,
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    fee: r.fee.toString(),
    signature: r.signature,
  };
}

export function receiptFromWire(value: unknown): SignedReceipt {
  const parsed = receiptWireSchema.safeParse(value);
  if (!parsed.success) throw new WireFormatError("receipt", parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  const w = parsed.data;
  const fee = BigInt(w.fee);
  if (fee > MAX_UINT128) throw new WireFormatError("receipt", `fee out of range: ${fee}`);
  return {
    ticketDigest: w.ticketDigest as Hex,
    responseHash: w.responseHash as Hex,
    inputTokens: w.inputTokens,
    outputTokens: w.outputTokens,
    fee,
    signature: w.signature as Hex,
  };
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Node.js's native base64 (absent in browsers, which use atob/btoa). A page's `Buffer` polyfill has no
 * base64url, so only a `Buffer` that says it supports it is used.
 */
const globalBuffer = (
  globalThis as {
    Buffer?: {
      isEncoding?(encoding: string): boolean;
      from(buffer: ArrayBufferLike, offset: number, length: number): { toString(encoding: "base64url"): string };
      from(text: string, encoding: "base64url"): Uint8Array;
    };
  }
).Buffer;
const nodeBuffer = typeof globalBuffer?.isEncoding === "function" && globalBuffer.isEncoding("base64url") ? globalBuffer : undefined;

/** base64url without padding (RFC 4648 §5): Node's native encoder, else `btoa`; the same text either way. */
function toBase64url(bytes: Uint8Array): string {
  if (nodeBuffer) return nodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Inverse of {@link toBase64url}; throws on any character outside the base64url alphabet and on a length
 * no encoding has (4n + 1), as `atob` does, so one header has one text in every runtime.
 */
function fromBase64url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new Error("not base64url");
  // Node's decoder skips what is not base64 and a dangling last character: only after the checks above.
  if (nodeBuffer) return nodeBuffer.from(text, "base64url");
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** base64url(JSON) for headers. */
export function encodeHeader(value: unknown): string {
  return toBase64url(utf8Encoder.encode(JSON.stringify(value)));
}

/** Inverse of {@link encodeHeader}; throws {@link WireFormatError}. */
export function decodeHeader(what: string, header: string): unknown {
  if (header.length > 8192) throw new WireFormatError(what, "header too long");
  try {
    return JSON.parse(utf8Decoder.decode(fromBase64url(header))) as unknown;
  } catch {
    throw new WireFormatError(what, "not base64url JSON");
  }
}

/** Stable error codes a provider answers with (HTTP status in brackets). */
export const PROTOCOL_ERROR_CODES = {
  bad_signature: 401,
  key_not_authorized: 401,
  key_expired: 401,
  ticket_missing: 401,
  insufficient_balance: 402,
  credit_limit: 402,
  ack_required: 402,
  session_cap: 402,
  max_cost_too_low: 402,
  nonce_used: 409,
  nonce_too_old: 409,
  nonce_out_of_range: 409,
  cumulative_regressed: 409,
  ack_exceeds_billed: 409,
  terms_changed: 409,
  ticket_expired: 409,
  wrong_provider: 409,
  request_hash_mismatch: 400,
  bad_ticket: 400,
  invalid_request: 400,
  prompt_too_long: 400,
  max_tokens_required: 400,
  model_not_found: 404,
  request_too_large: 413,
  encoding_not_supported: 415,
  rate_limited: 429,
  backend_error: 502,
  internal_error: 500,
} as const;
export type ProtocolErrorCode = keyof typeof PROTOCOL_ERROR_CODES;

/** The OpenAI-style error body every provider error uses. `details` carries machine-readable numbers. */
export interface ProtocolErrorBody {
  error: { message: string; type: string; code: ProtocolErrorCode | string; details?: Record<string, unknown> };
}

/** Build the error body for `code`. */
export function protocolErrorBody(code: ProtocolErrorCode, message: string, details?: Record<string, unknown>): ProtocolErrorBody {
  const status = PROTOCOL_ERROR_CODES[code];
  const type =
    status === 401
      ? "authentication_error"
      : status === 402
        ? "payment_required"
        : status === 409
          ? "conflict"
          : status >= 500
            ? "server_error"
            : "invalid_request_error";
  return { error: details === undefined ? { message, type, code } : { message, type, code, details } };
}

/** A provider refused a request with a protocol error. */
export class ProviderError extends ZeroGError {
  /** HTTP status of the answer. */
  readonly status: number;
  /** The provider's own code, e.g. `insufficient_balance`. */
  readonly providerCode: string;
  /** Machine-readable numbers the provider sent (free balance, needed amount...). */
  readonly details: Record<string, unknown> | undefined;
  constructor(status: number, providerCode: string, message: string, details?: Record<string, unknown>) {
    super(`PROVIDER_${providerCode.toUpperCase() as Uppercase<string>}`, `provider answered ${status} ${providerCode}: ${message}`);
    this.status = status;
    this.providerCode = providerCode;
    this.details = details;
  }
}
