import { Readable } from "node:stream";
import { Agent, interceptors, request } from "undici";
import { setDefaultProviderTransport, type ProviderTransport } from "./provider-transport.js";

/**
 * Keep-alive connections to providers. A plain answer's headers come after the whole generation (they
 * carry its receipt), so waits are long: 10 minutes for the headers and between two body chunks, the
 * OpenAI SDK's own default request timeout; a caller's signal ends a request sooner.
 */
const pool = new Agent({ keepAliveTimeout: 30_000, headersTimeout: 600_000, bodyTimeout: 600_000 }).compose(
  // As fetch did: an endpoint behind a redirect (http -> https, a moved path) still answers.
  interceptors.redirect({ maxRedirections: 3 }),
);

/** Sent when the caller names no user agent (some front ends refuse requests without one, as fetch sends). */
const USER_AGENT = "0g-compute";

/**
 * The Node.js transport to providers: undici's `request` over a keep-alive pool of its own. The same
 * library as Node's `fetch`, without the WHATWG `Request`/`Response`/stream objects `fetch` builds (and the
 * abort signal it makes transferable) for every exchange: measured by `bench:provider`, several times less
 * CPU per request. Idle connections never keep a process alive.
 *
 * @example
 * import { undiciTransport } from "@0g-compute/core";
 * const reply = await undiciTransport(new URL("http://127.0.0.1:8080/health"), { method: "GET", headers: {} });
 * console.log(reply.status, await reply.text());
 */
export const undiciTransport: ProviderTransport = async (url, init) => {
  const res = await request(url, {
    method: init.method,
    headers: "user-agent" in init.headers ? init.headers : { ...init.headers, "user-agent": USER_AGENT },
    dispatcher: pool,
    ...(init.body === undefined ? {} : { body: init.body }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return {
    status: res.statusCode,
    statusText: res.statusText ?? "",
    headers,
    bytes: async () => new Uint8Array(await res.body.arrayBuffer()),
    text: () => res.body.text(),
    stream: () => Readable.toWeb(res.body) as ReadableStream<Uint8Array>,
    cancel: () => res.body.destroy(),
  };
};

// Installed for the whole SDK when this module (part of the Node.js entry) loads.
setDefaultProviderTransport(undiciTransport);
