import type { Address, Chain, Hex, LocalAccount, PublicClient, Transport } from "viem";
import type { ZeroGClient } from "./client.js";
import {
  checkHealth,
  embeddingDimensions,
  filterServices,
  serviceKind,
  type ServiceKind,
  listServices,
  ModelNotFoundError,
  NoProviderError,
  rankServices,
  type ServiceFilter,
  type ServiceInfo,
  type SortBy,
} from "./discovery.js";
import type { EscrowDomain } from "./domain.js";
import { type InvalidArgumentError, ZeroGError } from "./errors.js";
import { requestHash, responseHash, StreamHasher } from "./hashing.js";
import { processLaneStore, type LaneState, type LaneStore } from "./lane-store.js";
import type { NetworkConfig } from "./network.js";
import { providerTransport, type ProviderReply } from "./provider-transport.js";
import {
  DEFAULT_MAX_TOKENS,
  EMBEDDINGS_PATH,
  embeddingInputTokenBound,
  IMAGES_PATH,
  imageUnitBound,
  inputTokenBound,
  maxCostFor,
  readTranscriptionRequest,
  requestedMaxTokens,
  TRANSCRIPTIONS_PATH,
} from "./pricing.js";
import { ReceiptError } from "./receipt.js";
import { PaymentSession, type VerifiedReceipt } from "./session.js";
import type { SpendingLimit, SpendingReservation } from "./spending-limit.js";
import { SseParser } from "./sse.js";
import type { SignedTicket } from "./ticket.js";
import {
  decodeHeader,
  encodeHeader,
  ProviderError,
  RECEIPT_FIELD,
  RECEIPT_HEADER,
  receiptFromWire,
  TICKET_HEADER,
  ticketToWire,
} from "./wire.js";

const utf8 = new TextEncoder();

/** Tokens a provider may still generate after a client disconnects, accepted in a cut stream's receipt. */
export const ABORT_SLACK_TOKENS = 32;
/** Times a request re-signs after the provider refused its nonce (lanes shared with other processes). */
const MAX_RESYNCS = 3;

/**
 * Who pays, and on which chain: a {@link ZeroGClient} (its account signs tickets; pass `user` when that account
 * is a session key signing for someone else), or the same parts by hand.
 */
export type PaidFetchPayer =
  | { client: ZeroGClient; user?: Address }
  | {
      network: NetworkConfig;
      publicClient: PublicClient<Transport, Chain>;
      domain: EscrowDomain;
      /** The payer. */
      user: Address;
      /** Key that signs tickets (the user's, or a session key authorized per provider). */
      signer: LocalAccount;
    };

/** Options for {@link createPaidFetch}: a payer and these settings. */
export type PaidFetchOptions = PaidFetchPayer & PaidFetchSettings;

/** How a paid fetch chooses, pays and verifies. */
export interface PaidFetchSettings {
  /**
   * Lane state (nonces, acknowledged fees). Default: {@link processLaneStore}, in memory and shared by every
   * paid fetch of the process, so several clients on one key never collide. Processes that share a key
   * share a {@link FileLaneStore} directory (safe across processes), or each use their own session key.
   */
  store?: LaneStore;
  /** Which services to consider, and how to rank them. */
  select?: ServiceFilter & { sortBy?: SortBy };
  /** `max_tokens` set on requests that have none (default {@link DEFAULT_MAX_TOKENS}). */
  defaultMaxTokens?: number;
  /** Refuse requests whose maximum cost is above this (wei). */
  maxCostPerRequest?: bigint;
  /** Seconds between catalogue refreshes (default 60). */
  catalogueTtlSeconds?: number;
  /** Called for every receipt verified and acknowledged. */
  onReceipt?: (receipt: VerifiedReceipt) => void;
  /** Called before each attempt with the provider chosen and the lane's state; a hook for budgets and top-ups (see `AutoTopUp`). May throw to refuse. */
  beforeRequest?: (service: ServiceInfo, maxCost: bigint, lane: LaneState) => Promise<void>;
  /** Caps on fees: each attempt reserves its maximum cost first and commits the verified fee (see {@link SpendingLimit}). */
  spendingLimit?: SpendingLimit;
  /**
   * `fetch` to reach providers with (tests, proxies). Default: the SDK's transport (in Node.js, undici's
   * `request` on a keep-alive pool; in browsers, the global `fetch`).
   */
  fetch?: typeof fetch;
  ackDelayMs?: number;
}

/** A fetch that pays for OpenAI-compatible requests and verifies every receipt. */
export interface PaidFetch {
  (input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Receipts verified so far, oldest first. */
  readonly receipts: readonly VerifiedReceipt[];
  /** Services tried, best first (refreshes the catalogue when stale). */
  candidates(): Promise<ServiceInfo[]>;
  /** Send pending acknowledgements and release timers. */
  close(): Promise<void>;
}

/** A request that cannot be paid for as given (not JSON, over the user's cost ceiling...). */
export class PaymentRequestError extends ZeroGError {
  constructor(code: "REQUEST_NOT_JSON" | "INVALID_REQUEST" | "MODEL_REQUIRED" | "STREAM_RECEIPT_MISSING", message: string, hint?: string) {
    super(code, message, hint === undefined ? {} : { hint });
  }
}

/** The paid endpoints, and what kind of service answers each. */
const PAID_ENDPOINTS: Record<string, ServiceKind> = {
  "/v1/chat/completions": "chat",
  [EMBEDDINGS_PATH]: "embedding",
  [IMAGES_PATH]: "images",
  [TRANSCRIPTIONS_PATH]: "transcription",
};

/**
 * Create a `fetch` that any OpenAI-compatible client can use: it picks a provider from the on-chain
 * registry, signs a ticket for each request, sends it to the provider, verifies the receipt (header for
 * plain responses, last SSE event for streams) before acknowledging the fee, and fails over to the next
 * provider when one is unreachable or errors. `GET /v1/models` lists the services it can buy from.
 *
 * @example
 * const client = new ZeroGClient({ network, account });
 * await client.verifyDeployment();
 * const paidFetch = createPaidFetch({ client, select: { model: "llama-3-8b" } });
 * const openai = new OpenAI({ baseURL: "http://0g.invalid/v1", apiKey: "unused", fetch: paidFetch });
 * const reply = await openai.chat.completions.create({ model: "llama-3-8b", messages, max_tokens: 64 });
 * await paidFetch.close();
 */
export function createPaidFetch(options: PaidFetchOptions): PaidFetch {
  const payer =
    "client" in options
      ? {
          network: options.client.network,
          publicClient: options.client.publicClient,
          domain: options.client.domain,
          user: options.user ?? options.client.address,
          signer: options.client.account,
        }
      : options;
  const store = options.store ?? processLaneStore;
  const transport = providerTransport(options.fetch);
  const receipts: VerifiedReceipt[] = [];
  const sessions = new Map<string, PaymentSession>();
  const failedUntil = new Map<string, number>();
  let catalogue: { at: number; services: ServiceInfo[] } | undefined;

  async function candidates(): Promise<ServiceInfo[]> {
    const ttl = (options.catalogueTtlSeconds ?? 60) * 1000;
    if (!catalogue || Date.now() - catalogue.at > ttl) {
      const all = filterServices(await listServices(payer.publicClient, payer.network), options.select ?? {});
      const health = await checkHealth(all, options.fetch ? { fetch: options.fetch } : {});
      catalogue = { at: Date.now(), services: rankServices(health, options.select?.sortBy ?? "price") };
    }
    const now = Date.now();
    const ok = catalogue.services.filter((s) => (failedUntil.get(s.provider) ?? 0) <= now);
    const cooling = catalogue.services.filter((s) => (failedUntil.get(s.provider) ?? 0) > now);
    return [...ok, ...cooling];
  }

  function sessionFor(service: ServiceInfo): PaymentSession {
    const key = `${service.provider}:${service.id}:${service.version}`;
    let s = sessions.get(key);
    if (!s) {
      s = new PaymentSession({
        domain: payer.domain,
        user: payer.user,
        signer: payer.signer,
        service,
        store,
        ...(options.fetch ? { fetch: options.fetch } : {}),
        ...(options.ackDelayMs === undefined ? {} : { ackDelayMs: options.ackDelayMs }),
      });
      sessions.set(key, s);
    }
    return s;
  }

  /** The body as the provider will receive it, its model, and its bounds (input tokens or units, output tokens). */
  interface Prepared {
    raw: Uint8Array<ArrayBuffer>;
    contentType: string;
    model: string | undefined;
    /** Sets the model into the body when the request named none (JSON bodies only). */
    setModel?: (model: string) => void;
    maxInputTokens: (raw: Uint8Array) => number;
    maxTokens: number;
    stream: boolean;
  }

  function invalid(err: unknown): PaymentRequestError {
    return new PaymentRequestError("INVALID_REQUEST", (err as Error).message, (err as InvalidArgumentError).hint);
  }

  /** Read a JSON body: chat (max_tokens defaulted), embeddings, images. */
  function prepareJson(kind: ServiceKind, bytes: Uint8Array<ArrayBuffer>): Prepared & { body: Record<string, unknown> } {
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(new TextDecoder().decode(bytes));
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      body = parsed as Record<string, unknown>;
    } catch {
      throw new PaymentRequestError("REQUEST_NOT_JSON", "the request body must be a JSON object");
    }
    let maxTokens = 0;
    let maxInputTokens: (raw: Uint8Array) => number;
    try {
      if (kind === "chat") {
        const requested = requestedMaxTokens(body);
        if (requested === undefined) body.max_tokens = options.defaultMaxTokens ?? DEFAULT_MAX_TOKENS;
        maxTokens = requested ?? (body.max_tokens as number);
        maxInputTokens = (raw) => inputTokenBound(body, raw.length);
      } else if (kind === "images") {
        const units = imageUnitBound(body);
        maxInputTokens = () => units;
      } else {
        // Embeddings have no output tokens: their cost is bounded by their input alone.
        maxInputTokens = (raw) => embeddingInputTokenBound(raw.length);
      }
    } catch (err) {
      throw invalid(err);
    }
    if (body.model !== undefined && (typeof body.model !== "string" || body.model === "")) {
      throw new PaymentRequestError("INVALID_REQUEST", "model must be a non-empty string");
    }
    return {
      body,
      raw: bytes,
      contentType: "application/json",
      model: body.model as string | undefined,
      setModel: (model) => {
        body.model = model;
      },
      maxInputTokens,
      maxTokens,
      stream: kind === "chat" && body.stream === true,
    };
  }

  /** Read a multipart transcription body: sent as its exact bytes, billed per second of its audio file. */
  async function prepareMultipart(bytes: Uint8Array<ArrayBuffer>, contentType: string): Promise<Prepared> {
    let request: Awaited<ReturnType<typeof readTranscriptionRequest>>;
    try {
      request = await readTranscriptionRequest(bytes, contentType);
    } catch (err) {
      throw invalid(err);
    }
    return { raw: bytes, contentType, model: request.model, maxInputTokens: () => request.seconds, maxTokens: 0, stream: false };
  }

  async function paidRequest(path: string, init: RequestInit, bytes: Uint8Array<ArrayBuffer>, contentType: string): Promise<Response> {
    const kind = PAID_ENDPOINTS[path]!;
    const prepared = kind === "transcription" ? await prepareMultipart(bytes, contentType) : prepareJson(kind, bytes);
    const { maxTokens, stream } = prepared;
    const all = (await candidates()).filter((s) => serviceKind(s) === kind);
    if (all.length === 0) throw new NoProviderError(`no ${kind} service matches the selection`);
    // A request names its model, and only services of that model answer it. Without one it goes to the one
    // model the selection offers, never to whichever service is cheapest.
    let wanted = prepared.model;
    if (wanted === undefined) {
      const models = [...new Set(all.map((s) => s.model))];
      if (models.length > 1)
        throw new PaymentRequestError(
          "MODEL_REQUIRED",
          `the request names no model; the services offer ${models.join(", ")}`,
          "set model in the request",
        );
      wanted = models[0]!;
      prepared.setModel?.(wanted);
    }
    const list = all.filter((s) => s.model === wanted);
    if (list.length === 0) throw new ModelNotFoundError(wanted, [...new Set(all.map((s) => s.model))]);
    // JSON bodies are sent as serialized here (with the defaults set); multipart ones byte for byte.
    const rawBytes = "body" in prepared ? new TextEncoder().encode(JSON.stringify(prepared.body)) : prepared.raw;
    const maxInputTokens = prepared.maxInputTokens(rawBytes);
    const hash = requestHash(path, rawBytes);

    // The caller's headers, checked once: a malformed one is the caller's error, not a provider's failure.
    const forwarded = forwardedHeaders(init.headers);
    const failures: { provider: Address; error: string }[] = [];
    let retriedTerms = false;
    let retriedClock = false;
    let resyncs = 0;
    for (let i = 0; i < list.length; i++) {
      const service = list[i]!;
      let maxCost: bigint;
      try {
        maxCost = maxCostFor(service, maxInputTokens, maxTokens);
      } catch (err) {
        throw new PaymentRequestError("INVALID_REQUEST", (err as Error).message, (err as InvalidArgumentError).hint);
      }
      if (options.maxCostPerRequest !== undefined && maxCost > options.maxCostPerRequest) {
        failures.push({ provider: service.provider, error: `maximum cost ${maxCost} above the per-request ceiling` });
        continue;
      }
      const session = sessionFor(service);
      if (options.beforeRequest) await options.beforeRequest(service, maxCost, await session.state());
      const hold = options.spendingLimit?.reserve(maxCost);
      let ticket: SignedTicket;
      try {
        ticket = await session.signTicket(hash, maxCost);
      } catch (err) {
        hold?.release();
        throw err;
      }
      let res: ProviderReply;
      try {
        const headers = {
          ...forwarded,
          "content-type": prepared.contentType,
          "accept-encoding": "identity",
          [TICKET_HEADER]: encodeHeader(ticketToWire(ticket)),
        };
        res = await transport(new URL(path, service.endpoint), {
          method: "POST",
          headers,
          body: rawBytes,
          ...(init.signal ? { signal: init.signal } : {}),
        });
      } catch (err) {
        hold?.release();
        if (init.signal?.aborted) throw err;
        failedUntil.set(service.provider, Date.now() + 30_000);
        failures.push({ provider: service.provider, error: err instanceof Error ? err.message : String(err) });
        continue;
      }
      if (res.status < 200 || res.status > 299) {
        hold?.release();
        const error = await readProviderError(res);
        if (error.providerCode === "terms_changed" && !retriedTerms) {
          retriedTerms = true;
          catalogue = undefined;
          const fresh = (await candidates()).find((s) => s.provider === service.provider && s.id === service.id);
          if (fresh) list.splice(i + 1, 0, fresh);
          continue;
        }
        // Another client on this lane (another process on the same key) used the nonce: move above it.
        if (
          (error.providerCode === "nonce_used" ||
            error.providerCode === "nonce_too_old" ||
            error.providerCode === "cumulative_regressed") &&
          resyncs < MAX_RESYNCS
        ) {
          resyncs += 1;
          if (await session.resync(error.details)) {
            i -= 1; // same provider, fresh ticket
            continue;
          }
        }
        // Deadlines are on the provider's clock: adopt it and sign again, once.
        if (error.providerCode === "ticket_expired" && !retriedClock) {
          retriedClock = true;
          if (session.adoptProviderClock(error.details)) {
            i -= 1;
            continue;
          }
        }
        if (error.providerCode === "ack_required" || error.providerCode === "credit_limit") {
          await session.flushAck().catch(() => undefined);
        }
        if (res.status >= 500 || res.status === 429) {
          failedUntil.set(service.provider, Date.now() + 30_000);
          failures.push({ provider: service.provider, error: error.message });
          continue;
        }
        throw error;
      }
      try {
        await session.delivered(ticket);
      } catch (err) {
        res.cancel();
        hold?.release();
        throw err;
      }
      const bounds = { maxInputTokens, maxTokens };
      if (stream) return verifyStream(res, session, ticket, bounds, hold);
      try {
        return await verifyPlain(res, session, ticket, bounds, hold);
      } catch (err) {
        hold?.release();
        throw err;
      }
    }
    throw new NoProviderError(
      `every provider failed (${failures.length}): ${failures.map((f) => `${f.provider}: ${f.error}`).join("; ")}`,
      failures,
    );
  }

  async function verifyPlain(
    res: ProviderReply,
    session: PaymentSession,
    ticket: SignedTicket,
    bounds: { maxInputTokens: number; maxTokens: number },
    hold?: SpendingReservation,
  ): Promise<Response> {
    const bytes = await res.bytes();
    const header = res.headers[RECEIPT_HEADER];
    if (!header) throw new ReceiptError("bad_signature", "the provider sent no receipt");
    const receipt = receiptFromWire(decodeHeader("receipt", header));
    const verified = await session.acceptReceipt(ticket, receipt, {
      responseHash: responseHash(bytes),
      maxInputTokens: bounds.maxInputTokens,
      maxOutputTokens: Math.min(bounds.maxTokens, bytes.length),
    });
    hold?.commit(verified.fee);
    receipts.push(verified);
    options.onReceipt?.(verified);
    return new Response(bytes, { status: res.status, statusText: res.statusText, headers: endToEndHeaders(res.headers) });
  }

  function verifyStream(
    res: ProviderReply,
    session: PaymentSession,
    ticket: SignedTicket,
    bounds: { maxInputTokens: number; maxTokens: number },
    hold?: SpendingReservation,
  ): Response {
    const parser = new SseParser();
    const hasher = new StreamHasher();
    const decoder = new TextDecoder();
    let dataBytes = 0;
    let receiptData: unknown;
    const check = (text: string) => {
      for (const ev of parser.push(text)) {
        if (ev.data === "[DONE]") continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(ev.data);
        } catch {
          parsed = undefined;
        }
        if (parsed && typeof parsed === "object" && RECEIPT_FIELD in parsed) {
          receiptData = (parsed as Record<string, unknown>)[RECEIPT_FIELD];
          continue;
        }
        hasher.update(ev.data);
        dataBytes += utf8.encode(ev.data).byteLength;
      }
    };
    const transform = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        check(decoder.decode(chunk, { stream: true }));
        controller.enqueue(chunk);
      },
      async flush(controller) {
        check(decoder.decode());
        if (receiptData === undefined) {
          hold?.release();
          controller.error(
            new PaymentRequestError(
              "STREAM_RECEIPT_MISSING",
              "the stream ended without a receipt",
              "the provider can be asked for it through the resync endpoint",
            ),
          );
          return;
        }
        try {
          const verified = await session.acceptReceipt(ticket, receiptFromWire(receiptData), {
            responseHash: hasher.digest() as Hex,
            maxInputTokens: bounds.maxInputTokens,
            maxOutputTokens: Math.min(bounds.maxTokens, dataBytes),
          });
          hold?.commit(verified.fee);
          receipts.push(verified);
          options.onReceipt?.(verified);
        } catch (err) {
          hold?.release();
          controller.error(err);
        }
      },
    });
    return new Response(res.stream().pipeThrough(transform), {
      status: res.status,
      statusText: res.statusText,
      headers: endToEndHeaders(res.headers),
    });
  }

  async function modelsResponse(): Promise<Response> {
    const list = await candidates();
    const data = list.map((s) => ({
      id: s.model,
      object: "model",
      created: 0,
      owned_by: s.provider,
      service_id: s.id,
      input_price_per_token: s.inputPrice.toString(),
      output_price_per_token: s.outputPrice.toString(),
      endpoint: s.endpoint,
      kind: serviceKind(s),
      ...(embeddingDimensions(s) === undefined ? {} : { dimensions: embeddingDimensions(s) }),
    }));
    return new Response(JSON.stringify({ object: "list", data }), { headers: { "content-type": "application/json" } });
  }

  const paidFetch = (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const request = input instanceof Request ? input : undefined;
    const url = new URL(request ? request.url : input.toString());
    const method = (init.method ?? request?.method ?? "GET").toUpperCase();
    const path = url.pathname.replace(/\/+$/, "");
    if (method === "GET" && path.endsWith("/models")) return modelsResponse();
    const canonical = path.slice(path.indexOf("/v1/"));
    if (method !== "POST" || !Object.hasOwn(PAID_ENDPOINTS, canonical)) {
      return new Response(
        JSON.stringify({ error: { message: `not supported: ${method} ${path}`, type: "invalid_request_error", code: "not_supported" } }),
        { status: 404, headers: { "content-type": "application/json" } },
      );
    }
    // The body as bytes, with its content type (a FormData gets its multipart encoding and boundary here).
    // A string (what OpenAI clients send for JSON) is encoded directly; anything else goes through a Response.
    let bytes: Uint8Array<ArrayBuffer>;
    let encodedType: string | null = null;
    if (typeof init.body === "string") bytes = new TextEncoder().encode(init.body);
    else {
      const encoded = new Response(
        (init.body ?? (request ? await request.arrayBuffer() : null)) as ConstructorParameters<typeof Response>[0],
      );
      bytes = new Uint8Array(await encoded.arrayBuffer());
      encodedType = encoded.headers.get("content-type");
    }
    const headers = init.headers ?? request?.headers;
    const contentType = new Headers(headers).get("content-type") ?? encodedType ?? "application/json";
    return paidRequest(
      canonical,
      {
        ...init,
        ...(headers ? { headers } : {}),
        ...((init.signal ?? request?.signal) ? { signal: (init.signal ?? request?.signal)! } : {}),
      },
      bytes,
      // A FormData's own content type names its boundary: it wins over whatever the caller set.
      init.body instanceof FormData && encodedType ? encodedType : contentType,
    );
  }) as PaidFetch;

  Object.defineProperty(paidFetch, "receipts", { get: () => receipts });
  (paidFetch as { candidates: () => Promise<ServiceInfo[]> }).candidates = candidates;
  (paidFetch as { close: () => Promise<void> }).close = async () => {
    await Promise.all([...sessions.values()].map((s) => s.close().catch(() => undefined)));
  };
  return paidFetch;
}

/** Headers that describe one hop or the framing of one body: never copied from one exchange to another. */
const HOP_HEADERS = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "host",
  "content-length",
  "content-encoding",
  "proxy-authorization",
  "proxy-connection",
]);

/** The caller's credentials (for whatever it called before, or for a gateway in front): never sent to a provider. */
const CREDENTIAL_HEADERS = new Set(["authorization", "cookie", "api-key", "x-api-key"]);

/** The caller's request headers to forward to a provider, lower-cased: no credentials, nothing hop-by-hop. */
function forwardedHeaders(from: RequestInit["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  if (from === undefined) return out;
  new Headers(from).forEach((value, name) => {
    if (!CREDENTIAL_HEADERS.has(name) && !HOP_HEADERS.has(name)) out[name] = value;
  });
  return out;
}

/** The provider's response headers minus hop-by-hop and framing ones (the body is re-framed locally). */
function endToEndHeaders(from: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(from)) if (!HOP_HEADERS.has(name) && name !== "date") out[name] = value;
  return out;
}

async function readProviderError(res: ProviderReply): Promise<ProviderError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
    return new ProviderError(res.status, body.error?.code ?? `http_${res.status}`, body.error?.message ?? text, body.error?.details);
  } catch {
    return new ProviderError(res.status, `http_${res.status}`, text.slice(0, 200));
  }
}
