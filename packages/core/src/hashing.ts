import { bytesToHex, hexToBytes, type Hex } from "viem";
import { keccak256Bytes, keccak256Hex } from "./keccak.js";

const utf8 = new TextEncoder();

/** 32 zero bytes: the start of a stream's hash chain, and the request hash of an ack-only ticket. */
export const ZERO_HASH: Hex = `0x${"0".repeat(64)}`;

/**
 * The hash a ticket binds for one HTTP request: `keccak256(utf8("POST " + path + "\n") ‖ rawBody)`,
 * over the exact body bytes on the wire (identity encoding). Binding the path stops a ticket for one
 * endpoint being used on another with the same body.
 *
 * @example
 * const body = JSON.stringify({ model: "demo", messages, max_tokens: 64 });
 * const h = requestHash("/v1/chat/completions", body);
 */
export function requestHash(path: string, rawBody: string | Uint8Array): Hex {
  const body = typeof rawBody === "string" ? utf8.encode(rawBody) : rawBody;
  return keccak256Hex(utf8.encode(`POST ${path}\n`), body);
}

/** Hash of a non-streaming response: keccak256 of the raw body bytes. */
export function responseHash(rawBody: string | Uint8Array): Hex {
  const body = typeof rawBody === "string" ? utf8.encode(rawBody) : rawBody;
  return keccak256Hex(body);
}

/**
 * Hash chain over a stream's SSE `data` payloads: `h0 = 0`, `h_i = keccak256(h_{i-1} ‖ keccak256(utf8(data_i)))`.
 * Feed it each event's data (after SSE parsing) in order, excluding the receipt event and `[DONE]`.
 * Independent of TCP chunking, line endings and keep-alive comments.
 */
export class StreamHasher {
  private current: Uint8Array = hexToBytes(ZERO_HASH);
  private count = 0;

  /** Add one event's data field. */
  update(data: string): this {
    this.current = keccak256Bytes(this.current, keccak256Bytes(utf8.encode(data)));
    this.count += 1;
    return this;
  }

  /** The hash so far. */
  digest(): Hex {
    return bytesToHex(this.current);
  }

  /** Number of events hashed. */
  get events(): number {
    return this.count;
  }
}
