// Reading what a client sent: its network address, its ticket header, and its body up to a limit.
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { AdmissionError, decodeHeader, TICKET_HEADER, ticketFromWire, type SignedTicket } from "@0g-compute/core";

/** The client's network address, for the per-address budget. */
export function clientAddress(c: Context): string {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress ?? "unknown";
}

/** The request's ticket header, decoded (its widths checked); `401 ticket_missing` without one. */
export function readTicket(c: Context): SignedTicket {
  const header = c.req.header(TICKET_HEADER);
  if (!header) throw new AdmissionError("ticket_missing", `every request needs an ${TICKET_HEADER} header`);
  return ticketFromWire(decodeHeader("ticket", header));
}

/** `413 request_too_large`, naming the limit when there is one. */
export function tooLarge(limit?: number): AdmissionError {
  return new AdmissionError(
    "request_too_large",
    "the request body is larger than this provider accepts",
    limit === undefined ? undefined : { maxBytes: limit },
  );
}

/**
 * Read a request body, refusing it (413) as soon as it passes `limit` bytes: a body is never held in
 * memory beyond the limit, whatever its declared length.
 */
export async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
