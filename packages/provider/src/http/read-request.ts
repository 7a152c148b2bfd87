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
 * memory beyond the limit, whatever its declared length. On Node's server the body is read from the
 * incoming message itself (no web stream is built for it); elsewhere from the request's web stream.
 */
export function readBody(c: Context, limit: number): Promise<Uint8Array> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  // Only a body nobody started reading: once the adapter streams it, the web stream has it.
  if (incoming && !incoming.readableDidRead && !incoming.readableEnded) return readIncoming(incoming, limit);
  return readWebBody(c.req.raw, limit);
}

/** Node's incoming message, up to `limit` bytes; past it, reading stops (the refusal closes the connection). */
function readIncoming(incoming: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = () => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("aborted", onAborted);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        done();
        incoming.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onAborted = () => onError(new Error("the client aborted the request"));
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
    incoming.on("aborted", onAborted);
  });
}

async function readWebBody(req: Request, limit: number): Promise<Uint8Array> {
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
