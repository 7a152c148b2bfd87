/**
 * How the SDK speaks HTTP to providers on its hot path (one paid request, one acknowledgement). A
 * transport sends bytes and hands back the status, the headers and the body, without the WHATWG
 * `Request`/`Response` machinery a plain `fetch` builds around every exchange. In Node.js the SDK
 * installs an undici keep-alive transport when its entry loads (see `undici-transport.ts`), which
 * costs a fraction of the CPU of `fetch`; browsers (and callers who pass their own `fetch`) use
 * {@link fetchTransport}.
 */

/** One request to a provider. */
export interface ProviderRequest {
  method: "GET" | "POST";
  /** Header names in lower case. */
  headers: Record<string, string>;
  body?: Uint8Array<ArrayBuffer>;
  signal?: AbortSignal;
}

/** A provider's answer: status and headers at once, the body read exactly once by one of the methods. */
export interface ProviderReply {
  readonly status: number;
  readonly statusText: string;
  /** Response headers, names in lower case (a repeated header joined with ", "). */
  readonly headers: Record<string, string>;
  /** The whole body. */
  bytes(): Promise<Uint8Array<ArrayBuffer>>;
  /** The whole body as UTF-8 text. */
  text(): Promise<string>;
  /** The body as a web stream (for streamed answers). */
  stream(): ReadableStream<Uint8Array>;
  /** Discard the body unread (its connection is closed, not left waiting). */
  cancel(): void;
}

/**
 * Sends one request and resolves when the response's status and headers arrived. Rejects when the
 * provider cannot be reached (or `signal` aborts).
 *
 * @example
 * const reply = await transport(new URL("/v1/ack", endpoint), { method: "POST", headers: { [TICKET_HEADER]: header } });
 * if (reply.status !== 200) console.log(await reply.text());
 */
export type ProviderTransport = (url: URL, request: ProviderRequest) => Promise<ProviderReply>;

/**
 * A transport over a `fetch` implementation: the browser's, or one a caller passes to stand in for the
 * network (tests, proxies).
 *
 * @example
 * const paid = createPaidFetch({ client, fetch: myFetch }); // uses fetchTransport(myFetch)
 */
export function fetchTransport(doFetch: typeof fetch = fetch): ProviderTransport {
  return async (url, request) => {
    const res = await doFetch(url, {
      method: request.method,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    });
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return {
      status: res.status,
      statusText: res.statusText,
      headers,
      bytes: async () => new Uint8Array(await res.arrayBuffer()),
      text: () => res.text(),
      stream: () => res.body ?? new ReadableStream({ start: (c) => c.close() }),
      cancel: () => void res.body?.cancel().catch(() => undefined),
    };
  };
}

let installed: ProviderTransport | undefined;

/** Use `transport` wherever no `fetch` was passed (the Node.js entry installs undici's). */
export function setDefaultProviderTransport(transport: ProviderTransport): void {
  installed = transport;
}

/** The transport for a caller's optional `fetch`: that fetch if given, else the installed default (else global fetch). */
export function providerTransport(doFetch?: typeof fetch): ProviderTransport {
  if (doFetch !== undefined) return fetchTransport(doFetch);
  return installed ?? fetchTransport();
}
