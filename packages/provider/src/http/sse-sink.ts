// Where a streamed answer goes. Served by Node.js, events are written straight to the socket (no web
// stream in between), the events of one event-loop turn in one write, and generation waits while the
// client is not reading. Anywhere else (`app.request` in tests), a web stream carries the same events.
import type { ServerResponse } from "node:http";
import type { Context } from "hono";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";

const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform", "content-encoding": "identity" };

/** One answer's server-sent events. */
export interface SseSink {
  /** The route's return value (the answer is already under way). */
  readonly response: Response;
  /** Queue `data: <data>` for the client. */
  event(data: string): void;
  /** Resolves once the client has taken what was written (at once when it keeps up). */
  ready(): Promise<void>;
  /** Send what is queued and end the answer. */
  end(): void;
}

const READY = Promise.resolve();

/** Events written to Node's response, coalesced per event-loop turn, with backpressure. */
function nodeSink(c: Context, outgoing: ServerResponse): SseSink {
  // Headers set by middleware before the route (CORS) go out with the stream's own.
  outgoing.writeHead(200, { ...Object.fromEntries(c.res.headers), ...SSE_HEADERS });
  outgoing.flushHeaders();
  let queued = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (queued !== "" && !outgoing.writableEnded && !outgoing.destroyed) outgoing.write(queued);
    queued = "";
  };
  return {
    // Tells the Node.js adapter that the answer was written here. It must be this very object (the adapter's
    // fast path would write headers again for any other); headers middleware adds to it are never sent.
    response: RESPONSE_ALREADY_SENT,
    event(data) {
      queued += `data: ${data}\n\n`;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    ready() {
      if (!outgoing.writableNeedDrain || outgoing.destroyed) return READY;
      return new Promise((resolve) => {
        const go = () => {
          outgoing.off("drain", go);
          outgoing.off("close", go);
          resolve();
        };
        outgoing.on("drain", go);
        outgoing.on("close", go);
      });
    },
    end() {
      flush();
      if (!outgoing.writableEnded) outgoing.end();
    },
  };
}

/** Events carried by a web stream, for a server that is not Node's. */
function webSink(onCancel: () => void): SseSink {
  const encoder = new TextEncoder();
  let out!: ReadableStreamDefaultController<Uint8Array>;
  let open = true;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      out = controller;
    },
    cancel() {
      open = false;
      onCancel();
    },
  });
  return {
    response: new Response(body, { headers: SSE_HEADERS }),
    event(data) {
      if (open) out.enqueue(encoder.encode(`data: ${data}\n\n`));
    },
    ready: () => READY,
    end() {
      if (!open) return;
      open = false;
      out.close();
    },
  };
}

/** The sink for this request: Node's response when there is one, else a web stream (`onCancel` when the reader stops). */
export function sseSink(c: Context, onCancel: () => void): SseSink {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  return outgoing ? nodeSink(c, outgoing) : webSink(onCancel);
}
