import type { Address, Chain, Hex, LocalAccount, PublicClient, Transport } from "viem";
import { checkHealth, filterServices, listServices, NoProviderError, rankServices, type ServiceFilter, type ServiceInfo, type SortBy } from "./discovery.js";
import type { EscrowDomain } from "./domain.js";
import { ZeroGError } from "./errors.js";
import { requestHash, responseHash, StreamHasher } from "./hashing.js";
import { MemoryLaneStore, type LaneState, type LaneStore } from "./lane-store.js";
import type { NetworkConfig } from "./network.js";
import { ReceiptError } from "./receipt.js";
import { PaymentSession, type VerifiedReceipt } from "./session.js";
import type { SpendingLimit, SpendingReservation } from "./spending-limit.js";
import { SseParser } from "./sse.js";
import type { SignedTicket } from "./ticket.js";
import { decodeHeader, encodeHeader, ProviderError, RECEIPT_FIELD, RECEIPT_HEADER, receiptFromWire, TICKET_HEADER, ticketToWire } from "./wire.js";

/** Template overhead allowance, in tokens, added to a request's byte count to bound its input tokens. */
export const INPUT_TOKEN_ALLOWANCE = 64;
/** Tokens a provider may still generate after a client disconnects, accepted in a cut stream's receipt. */
export const ABORT_SLACK_TOKENS = 32;

/** Options for {@link createPaidFetch}. */
export interface PaidFetchOptions {
  network: NetworkConfig;
  publicClient: PublicClient<Transport, Chain>;
  domain: EscrowDomain;
  /** The payer. */
  user: Address;
  /** Key that signs tickets (the user's, or a session key authorized per provider). */
  signer: LocalAccount;
  /** Lane state; use a durable store in long-lived processes (default: in memory). */
  store?: LaneStore;
  /** Which services to consider, and how to rank them. */
  select?: ServiceFilter & { sortBy?: SortBy };
  /**
   * Tokens added to a request's byte count to bound its input tokens (default {@link INPUT_TOKEN_ALLOWANCE}).
   * Chat templates that render tool definitions with instructions need more; a function gets the parsed body.
   */
  inputTokenAllowance?: number | ((body: Record<string, unknown>) => number);
  /** `max_tokens` set on requests that have none (default 512). */
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
  /** Transport to the providers (default global fetch). */
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
  constructor(code: "REQUEST_NOT_JSON" | "MAX_COST_EXCEEDED" | "STREAM_RECEIPT_MISSING", message: string, hint?: string) {
    super(code, message, hint === undefined ? {} : { hint });
  }
}

const PAID_PATHS = new Set(["/v1/chat/completions", "/v1/completions"]);

/**
 * Create a `fetch` that any OpenAI-compatible client can use: it picks a provider from the on-chain
 * registry, signs a ticket for each request, sends it to the provider, verifies the receipt (header for
 * plain responses, last SSE event for streams) before acknowledging the fee, and fails over to the next
 * provider when one is unreachable or errors. `GET /v1/models` lists the services it can buy from.
 *
 * @example
 * const paidFetch = createPaidFetch({ network, publicClient, domain, user, signer, select: { model: "llama-3-8b" } });
 * const openai = new OpenAI({ baseURL: "http://0g.invalid/v1", apiKey: "unused", fetch: paidFetch });
 * const reply = await openai.chat.completions.create({ model: "llama-3-8b", messages, max_tokens: 64 });
 * await paidFetch.close();
 */
export function createPaidFetch(options: PaidFetchOptions): PaidFetch {
  const store = options.store ?? new MemoryLaneStore();
  const doFetch = options.fetch ?? fetch;
  const receipts: VerifiedReceipt[] = [];
  const sessions = new Map<string, PaymentSession>();
  const failedUntil = new Map<string, number>();
  let catalogue: { at: number; services: ServiceInfo[] } | undefined;

  async function candidates(): Promise<ServiceInfo[]> {
    const ttl = (options.catalogueTtlSeconds ?? 60) * 1000;
    if (!catalogue || Date.now() - catalogue.at > ttl) {
      const all = filterServices(await listServices(options.publicClient, options.network), options.select ?? {});
      const health = await checkHealth(all, { fetch: doFetch });
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
        domain: options.domain,
        user: options.user,
        signer: options.signer,
        service,
        store,
        fetch: doFetch,
        ...(options.ackDelayMs === undefined ? {} : { ackDelayMs: options.ackDelayMs }),
      });
      sessions.set(key, s);
    }
    return s;
  }

  async function paidRequest(path: string, init: RequestInit, bodyText: string): Promise<Response> {
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(bodyText);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      body = parsed as Record<string, unknown>;
    } catch {
      throw new PaymentRequestError("REQUEST_NOT_JSON", "the request body must be a JSON object");
    }
    const maxTokensField = typeof body.max_completion_tokens === "number" ? "max_completion_tokens" : "max_tokens";
    if (typeof body[maxTokensField] !== "number") body.max_tokens = options.defaultMaxTokens ?? 512;
    const maxTokens = body[maxTokensField === "max_completion_tokens" ? "max_completion_tokens" : "max_tokens"] as number;
    const stream = body.stream === true;
    const raw = JSON.stringify(body);
    const rawBytes = new TextEncoder().encode(raw);
    const allowance = typeof options.inputTokenAllowance === "function" ? options.inputTokenAllowance(body) : (options.inputTokenAllowance ?? INPUT_TOKEN_ALLOWANCE);
    const maxInputTokens = rawBytes.length + allowance;
    const hash = requestHash(path, rawBytes);

    const failures: { provider: Address; error: string }[] = [];
    let retriedTerms = false;
    let resynced = false;
    // A request names its model: only services of that model can answer it.
    const wanted = typeof body.model === "string" && body.model !== "" ? body.model : undefined;
    const list = (await candidates()).filter((s) => wanted === undefined || s.model === wanted);
    if (list.length === 0) throw new NoProviderError(wanted ? `no service offers model ${wanted}` : "no service matches the selection");
    for (let i = 0; i < list.length; i++) {
      const service = list[i]!;
      const maxCost = BigInt(maxInputTokens) * service.inputPrice + BigInt(maxTokens) * service.outputPrice;
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
      let res: Response;
      try {
        const headers = new Headers(init.headers);
        headers.delete("authorization");
        headers.delete("content-length");
        headers.set("content-type", "application/json");
        headers.set("accept-encoding", "identity");
        headers.set(TICKET_HEADER, encodeHeader(ticketToWire(ticket)));
        res = await doFetch(new URL(path, service.endpoint), { method: "POST", headers, body: rawBytes, ...(init.signal ? { signal: init.signal } : {}) });
      } catch (err) {
        hold?.release();
        if (init.signal?.aborted) throw err;
        failedUntil.set(service.provider, Date.now() + 30_000);
        failures.push({ provider: service.provider, error: err instanceof Error ? err.message : String(err) });
        continue;
      }
      if (!res.ok) {
        hold?.release();
        const error = await readProviderError(res);
        if (error.providerCode === "terms_changed" && !retriedTerms) {
          retriedTerms = true;
          catalogue = undefined;
          const fresh = (await candidates()).find((s) => s.provider === service.provider && s.id === service.id);
          if (fresh) list.splice(i + 1, 0, fresh);
          continue;
        }
        if ((error.providerCode === "nonce_used" || error.providerCode === "nonce_too_old" || error.providerCode === "cumulative_regressed") && !resynced) {
          resynced = true;
          if (await session.resync(error.details)) {
            i -= 1; // same provider, fresh ticket
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
      await session.delivered(ticket);
      const bounds = { maxInputTokens, maxTokens };
      if (stream) return verifyStream(res, session, ticket, bounds, hold);
      try {
        return await verifyPlain(res, session, ticket, bounds, hold);
      } catch (err) {
        hold?.release();
        throw err;
      }
    }
    throw new NoProviderError(`every provider failed (${failures.length}): ${failures.map((f) => `${f.provider}: ${f.error}`).join("; ")}`, failures);
  }

  async function verifyPlain(res: Response, session: PaymentSession, ticket: SignedTicket, bounds: { maxInputTokens: number; maxTokens: number }, hold?: SpendingReservation): Promise<Response> {
    const bytes = new Uint8Array(await res.arrayBuffer());
    const header = res.headers.get(RECEIPT_HEADER);
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

  function verifyStream(res: Response, session: PaymentSession, ticket: SignedTicket, bounds: { maxInputTokens: number; maxTokens: number }, hold?: SpendingReservation): Response {
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
        dataBytes += Buffer.byteLength(ev.data, "utf8");
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
          controller.error(new PaymentRequestError("STREAM_RECEIPT_MISSING", "the stream ended without a receipt", "the provider can be asked for it through the resync endpoint"));
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
    return new Response(res.body!.pipeThrough(transform), { status: res.status, statusText: res.statusText, headers: endToEndHeaders(res.headers) });
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
    if (method !== "POST" || !PAID_PATHS.has(canonical)) {
      return new Response(JSON.stringify({ error: { message: `not supported: ${method} ${path}`, type: "invalid_request_error", code: "not_supported" } }), { status: 404, headers: { "content-type": "application/json" } });
    }
    const bodyText = init.body !== undefined && init.body !== null ? await new Response(init.body as ConstructorParameters<typeof Response>[0]).text() : request ? await request.text() : "";
    const headers = init.headers ?? request?.headers;
    return paidRequest(canonical, { ...init, ...(headers ? { headers } : {}), ...(init.signal ?? request?.signal ? { signal: (init.signal ?? request?.signal)! } : {}) }, bodyText);
  }) as PaidFetch;

  Object.defineProperty(paidFetch, "receipts", { get: () => receipts });
  (paidFetch as { candidates: () => Promise<ServiceInfo[]> }).candidates = candidates;
  (paidFetch as { close: () => Promise<void> }).close = async () => {
    await Promise.all([...sessions.values()].map((s) => s.close().catch(() => undefined)));
  };
  return paidFetch;
}

/** The provider's response headers minus hop-by-hop and framing ones (the body is re-framed locally). */
function endToEndHeaders(from: Headers): Headers {
  const headers = new Headers(from);
  for (const h of ["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "date"]) headers.delete(h);
  return headers;
}

async function readProviderError(res: Response): Promise<ProviderError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
    return new ProviderError(res.status, body.error?.code ?? `http_${res.status}`, body.error?.message ?? text, body.error?.details);
  } catch {
    return new ProviderError(res.status, `http_${res.status}`, text.slice(0, 200));
  }
}
