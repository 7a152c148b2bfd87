import type { IncomingMessage, ServerResponse } from "node:http";
import { Hono, type Context } from "hono";
import type { Address, Hex, LocalAccount } from "viem";
import {
  AdmissionError,
  checkTicket,
  isAckOnly,
  decodeHeader,
  encodeHeader,
  affordableOutputTokens,
  feeFor,
  inputTokenBound,
  protocolErrorBody,
  PROTOCOL_ERROR_CODES,
  RECEIPT_FIELD,
  RECEIPT_HEADER,
  receiptToWire,
  requestHash,
  responseHash,
  signReceipt,
  StreamHasher,
  TICKET_HEADER,
  ticketFromWire,
  unixSeconds,
  WireFormatError,
  ZeroGError,
  type EscrowDomain,
  type ProtocolErrorCode,
  type ServiceInfo,
  type SignedTicket,
} from "@0g-compute/core";
import { BackendError, chatBodySchema, type Backend, type ChatBody, type Usage } from "./backend.js";
import type { ChainState } from "./chain-state.js";
import { recoverNative } from "./native-crypto.js";
import type { ProviderMetrics } from "./metrics.js";
import { RateLimiter, type RateLimit } from "./rate-limit.js";
import type { ServiceBook } from "./service-book.js";
import type { CreditPolicy, ProviderStore, RequestKey } from "./store.js";

/**
 * Budgets for work the node does for nothing. Paid requests never count against them; refusals do
 * (per client address and, once the signature recovered, per signing key), and so does every
 * acknowledgement (per key). A spent budget is answered `429 rate_limited` before any other work.
 */
export interface AbuseLimits {
  refusalsPerAddress: RateLimit;
  refusalsPerKey: RateLimit;
  acksPerKey: RateLimit;
}

export const DEFAULT_ABUSE_LIMITS: AbuseLimits = {
  refusalsPerAddress: { ratePerSecond: 20, burst: 60 },
  refusalsPerKey: { ratePerSecond: 5, burst: 20 },
  acksPerKey: { ratePerSecond: 2, burst: 10 },
};

/** Everything the HTTP layer needs. */
export interface ProviderContext {
  domain: EscrowDomain;
  /** The payee address tickets name. */
  provider: Address;
  /** Key that signs receipts (the service's registered signer). */
  responseSigner: LocalAccount;
  store: ProviderStore;
  chain: ChainState;
  services: ServiceBook;
  backend: Backend;
  metrics: ProviderMetrics;
  /** Credit per channel over unacknowledged and in-flight fees: its ramp, ceiling and acknowledgement deadline. */
  credit: (service: ServiceInfo) => Omit<CreditPolicy, "laneCap">;
  /** Largest request body read (bytes); larger ones are refused while reading (413). */
  maxBodyBytes: number;
  limits: AbuseLimits;
  /** Longest a request may run; a session key must stay valid at least this long (seconds). */
  maxRequestSeconds: number;
  /** This node's clock in unix seconds, the time base of ticket deadlines (default {@link unixSeconds}; tests fix it). */
  clock?: () => bigint;
  log: (event: string, fields?: Record<string, unknown>) => void;
}

const PATH = "/v1/chat/completions";

function refuse(c: Context, ctx: ProviderContext, code: ProtocolErrorCode, message: string, details?: Record<string, unknown>): Response {
  ctx.metrics.refusals.inc({ code });
  return c.json(protocolErrorBody(code, message, details), PROTOCOL_ERROR_CODES[code] as 400);
}

const lower = (a: string) => a.toLowerCase();

/** The client's network address, for the per-address budget. */
function clientAddress(c: Context): string {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress ?? "unknown";
}

function tooLarge(limit?: number): AdmissionError {
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
async function readBody(req: Request, limit: number): Promise<Uint8Array> {
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

/** Bigints in details go out as decimal strings. */
function plain(details: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!details) return undefined;
  return JSON.parse(JSON.stringify(details, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))) as Record<string, unknown>;
}

/** What admission decided for one paid request. */
interface Admission {
  ticket: SignedTicket;
  digest: Hex;
  /** The request's lane and nonce: what the store knows it by. */
  key: RequestKey;
  service: ServiceInfo;
  body: ChatBody;
  exactInput: number | undefined;
  inputBound: number;
  maxOutputTokens: number;
}

/**
 * The provider's public HTTP API (OpenAI-compatible, with payment): `POST /v1/chat/completions`
 * (plain and SSE streaming), `POST /v1/ack`, `GET /v1/receipts/:digest`, `GET /v1/models` and `GET /health`
 * (metrics are on the admin listener). Every refusal is an OpenAI-style error with a stable code; nothing is billed
 * without a receipt, and every receipt is stored before it is sent.
 */
export function createProviderApp(ctx: ProviderContext): Hono {
  const app = new Hono();
  const clock = ctx.clock ?? (() => unixSeconds());

  app.get("/health", async (c) => {
    let chain = "ok";
    try {
      await ctx.chain.now();
    } catch {
      chain = "unreachable";
    }
    return c.json({ ok: true, provider: ctx.provider, backend: ctx.backend.kind, models: ctx.backend.models().map((m) => m.id), chain });
  });

  app.get("/v1/models", async (c) => {
    const services = await ctx.services.services();
    const served = new Map(ctx.backend.models().map((m) => [m.id, m]));
    const data = services
      .filter((s) => served.has(s.model))
      .map((s) => {
        const m = served.get(s.model)!;
        return {
          id: s.model,
          object: "model",
          created: 0,
          owned_by: s.provider,
          service_id: s.id,
          service_version: s.version,
          input_price_per_token: s.inputPrice.toString(),
          output_price_per_token: s.outputPrice.toString(),
          context_length: m.contextLength,
          model_hash: s.modelHash,
          quantization: s.quantization,
          capabilities: m.capabilities,
        };
      });
    return c.json({ object: "list", data });
  });

  app.get("/v1/receipts/:digest", (c) => {
    const digest = c.req.param("digest");
    if (!/^0x[0-9a-fA-F]{64}$/.test(digest)) return refuse(c, ctx, "invalid_request", "not a ticket digest");
    // A ticket digest does not name its signing key; `?signer=` picks the lane when both keys signed it.
    const signer = c.req.query("signer");
    if (signer !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(signer)) return refuse(c, ctx, "invalid_request", "signer is not an address");
    const r = ctx.store.request(digest as Hex, signer as Address | undefined);
    if (!r?.receipt) return c.json(protocolErrorBody("invalid_request", "no receipt for this ticket"), 404);
    return c.json({ receipt: receiptToWire(r.receipt) });
  });

  app.post("/v1/ack", async (c) => {
    const address = clientAddress(c);
    let signer: Address | undefined;
    try {
      if (!refusalsPerAddress.allowed(address))
        throw new AdmissionError("rate_limited", "too many refused requests from this address; slow down");
      const ticket = readTicket(c);
      const checked = await checkTicket({ domain: ctx.domain, ticket, provider: ctx.provider, now: clock(), recover: recoverNative });
      signer = checked.signer;
      if (!acksPerKey.take(lower(signer)))
        throw new AdmissionError("rate_limited", "too many acknowledgements from this key; one per receipt batch is enough");
      if (!checked.ackOnly)
        throw new AdmissionError("bad_ticket", "an acknowledgement carries an ack-only ticket (maxCost 0, requestHash 0)");
      const admitted = await ctx.store.group(() =>
        ctx.store.acknowledge({ ticket, signer: checked.signer, digest: checked.digest, now: Date.now() }),
      );
      return c.json({ ok: true, acked: admitted.lane.acked.toString() });
    } catch (err) {
      return fail(c, err, address, signer);
    }
  });

  app.post(PATH, async (c) => {
    const started = performance.now();
    let admission: Admission;
    const address = clientAddress(c);
    const seen: { signer?: Address; bodyRead?: boolean } = {};
    try {
      admission = await admit(c, address, seen);
    } catch (err) {
      ctx.metrics.requests.inc({ outcome: "refused" });
      const res = fail(c, err, address, seen.signer);
      // A body the node never read is not drained: the connection closes after the refusal.
      if (!seen.bodyRead) res.headers.set("connection", "close");
      return res;
    }
    ctx.metrics.admissionSeconds.observe((performance.now() - started) / 1000);
    const controller = new AbortController();
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    outgoing?.once("close", () => {
      if (!outgoing.writableFinished) controller.abort();
    });
    ctx.metrics.inFlight.inc();
    const done = () => {
      ctx.metrics.inFlight.dec();
      ctx.metrics.requestSeconds.observe((performance.now() - started) / 1000);
    };
    if (admission.body.stream) return streamResponse(admission, controller, done);
    try {
      return await plainResponse(admission, controller.signal);
    } finally {
      done();
    }
  });

  function readTicket(c: Context): SignedTicket {
    const header = c.req.header(TICKET_HEADER);
    if (!header) throw new AdmissionError("ticket_missing", `every request needs an ${TICKET_HEADER} header`);
    return ticketFromWire(decodeHeader("ticket", header));
  }

  const refusalsPerAddress = new RateLimiter(ctx.limits.refusalsPerAddress);
  const refusalsPerKey = new RateLimiter(ctx.limits.refusalsPerKey);
  const acksPerKey = new RateLimiter(ctx.limits.acksPerKey);

  const freshReads = new Map<string, number>();
  function freshReadAllowed(user: Address): boolean {
    const key = user.toLowerCase();
    const now = Date.now();
    if (now - (freshReads.get(key) ?? 0) < 1000) return false;
    freshReads.set(key, now);
    if (freshReads.size > 10_000) for (const [k, t] of freshReads) if (now - t >= 1000) freshReads.delete(k);
    return true;
  }

  /**
   * Admission, cheapest and most selective checks first, so that a request that will be refused costs
   * the node as little as possible: the ticket (header only: widths, signature, deadline, service terms,
   * signing key) and a dry run of the money checks come before the body is read; the body is read up to
   * `maxBodyBytes` and hashed before it is parsed; the prompt is tokenized (off the event loop, by the
   * backend) only for a request its ticket can pay for. The atomic admission then decides again.
   */
  async function admit(c: Context, address: string, seen: { signer?: Address; bodyRead?: boolean }): Promise<Admission> {
    if (!refusalsPerAddress.allowed(address))
      throw new AdmissionError("rate_limited", "too many refused requests from this address; slow down");
    const encoding = c.req.header("content-encoding") ?? "identity";
    if (encoding !== "identity") throw new AdmissionError("encoding_not_supported", "send the request body with identity encoding");
    const declared = c.req.header("content-length");
    if (declared !== undefined && Number(declared) > ctx.maxBodyBytes) throw tooLarge(ctx.maxBodyBytes);

    const ticket = readTicket(c);
    if (isAckOnly(ticket)) throw new AdmissionError("bad_ticket", "an ack-only ticket cannot pay for a request");
    const service = await ctx.services.byId(ticket.terms.serviceId);
    const terms = await ctx.services.honoured(ticket.terms.serviceId);
    if (!service || !terms) throw new AdmissionError("terms_changed", `no service ${ticket.terms.serviceId} is listed by this provider`);
    // Deadlines are on this node's clock, never the chain's (docs/protocol.md, "Time").
    const checked = await checkTicket({ domain: ctx.domain, ticket, provider: ctx.provider, now: clock(), terms, recover: recoverNative });
    seen.signer = checked.signer;
    if (!refusalsPerKey.allowed(lower(checked.signer)))
      throw new AdmissionError("rate_limited", "too many refused requests from this key; slow down");

    let laneCap: bigint | undefined;
    if (checked.signer.toLowerCase() !== ticket.user.toLowerCase()) {
      const lane = await ctx.chain.keyLane(ticket.user, checked.signer);
      if (lane.validUntil === 0n)
        throw new AdmissionError(
          "key_not_authorized",
          "the ticket's signer is neither the user nor a session key authorized for this channel",
        );
      // A key's expiry is enforced on-chain, so it is compared with the chain's time.
      if ((await ctx.chain.now()) + BigInt(ctx.maxRequestSeconds) > lane.validUntil)
        throw new AdmissionError("key_expired", "the session key expires before this request could finish", {
          validUntil: lane.validUntil.toString(),
        });
      laneCap = lane.cap;
    }
    const signers = [...new Set([checked.signer, ...ctx.store.signersOf(ticket.user)])];
    const policy: CreditPolicy = { ...ctx.credit(service), ...(laneCap === undefined ? {} : { laneCap }) };
    const admission = { ticket, signer: checked.signer, digest: checked.digest, policy };
    const fundsFor = async (fresh: boolean) => {
      if (fresh) ctx.chain.invalidate(ticket.user);
      return ctx.chain.channelFunds(ticket.user, signers);
    };
    // The cached channel may predate a deposit made a moment ago: before refusing for lack of funds, read
    // the chain again (at most once a second per user, so refusals cannot be used to flood the RPC).
    const withFreshFunds = async (attempt: (funds: Awaited<ReturnType<typeof fundsFor>>) => Promise<unknown>) => {
      try {
        await attempt(await fundsFor(false));
      } catch (err) {
        if (!(err instanceof AdmissionError && err.protocolCode === "insufficient_balance") || !freshReadAllowed(ticket.user)) throw err;
        await attempt(await fundsFor(true));
      }
    };
    await withFreshFunds(async (funds) => ctx.store.admit({ ...admission, funds, now: Date.now() }, { dryRun: true }));

    const raw = await readBody(c.req.raw, ctx.maxBodyBytes);
    seen.bodyRead = true;
    if (requestHash(PATH, raw).toLowerCase() !== ticket.terms.requestHash.toLowerCase()) {
      throw new AdmissionError("request_hash_mismatch", "the ticket's request hash does not match the request body");
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      throw new AdmissionError("invalid_request", "the body is not valid JSON");
    }
    const parsed = chatBodySchema.safeParse(json);
    if (!parsed.success)
      throw new AdmissionError("invalid_request", parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
    const body = parsed.data;
    const model = ctx.backend.models().find((m) => m.id === service.model);
    if (!model || (body.model !== undefined && body.model !== service.model)) {
      throw new AdmissionError("model_not_found", `the ticket's service serves ${service.model}, not ${body.model ?? "(none)"}`, {
        models: ctx.backend.models().map((m) => m.id),
      });
    }

    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    if (maxTokens === undefined) throw new AdmissionError("max_tokens_required", "set max_tokens: it bounds what the request can cost");
    // The client accepts a receipt only for input tokens within this bound (core computes it from the same
    // bytes), so a longer rendered prompt is refused here, before anything is reserved or billed.
    const clientBound = inputTokenBound(body, raw.length);
    const exactInput = await ctx.backend.countInputTokens(body);
    if (exactInput !== undefined && exactInput > clientBound) {
      throw new AdmissionError(
        "prompt_too_long",
        `the rendered prompt has ${exactInput} tokens, more than the ${clientBound} a client accepts for this request (its bytes plus the template allowance)`,
        { inputTokens: exactInput, inputBound: clientBound },
      );
    }
    // The engine needs one free slot after the prompt, so a prompt may use at most contextLength - 2 tokens.
    if (exactInput !== undefined && exactInput >= model.contextLength - 1) {
      throw new AdmissionError("prompt_too_long", `the prompt has ${exactInput} tokens; the context holds ${model.contextLength}`, {
        inputTokens: exactInput,
        contextLength: model.contextLength,
      });
    }
    const inputBound = exactInput ?? clientBound;
    let maxOutputTokens = affordableOutputTokens(ticket.terms, inputBound, maxTokens);
    if (exactInput !== undefined) maxOutputTokens = Math.min(maxOutputTokens, model.contextLength - exactInput);
    if (maxOutputTokens < 1) {
      const inputFee = BigInt(inputBound) * ticket.terms.inputPrice;
      throw new AdmissionError("max_cost_too_low", "maxCost does not cover the input and one output token", {
        needed: (inputFee + ticket.terms.outputPrice).toString(),
        maxCost: ticket.terms.maxCost.toString(),
      });
    }

    await withFreshFunds(async (funds) => ctx.store.group(() => ctx.store.admit({ ...admission, funds, now: Date.now() })));
    return {
      ticket,
      digest: checked.digest,
      key: { user: ticket.user, signer: checked.signer, nonce: ticket.nonce },
      service,
      body: { ...body, model: service.model },
      exactInput,
      inputBound,
      maxOutputTokens,
    };
  }

  /**
   * Token counts billed: exact input when known, never above the bound the fee limit was computed from;
   * output never above what the ticket pays for, nor above the bytes of the answer (`answerBytes`), which is
   * the client's own bound on output tokens: a count it would refuse is never billed.
   */
  function billable(a: Admission, usage: Usage, answerBytes: number): Usage {
    const input = a.exactInput ?? Math.min(usage.inputTokens, a.inputBound);
    return { inputTokens: input, outputTokens: Math.min(usage.outputTokens, a.maxOutputTokens, answerBytes) };
  }

  async function receiptFor(a: Admission, hash: Hex, usage: Usage) {
    const fee = feeFor(a.ticket.terms, usage.inputTokens, usage.outputTokens);
    const receipt = await signReceipt(ctx.responseSigner, ctx.domain, {
      ticketDigest: a.digest,
      responseHash: hash,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      fee,
    });
    await ctx.store.group(() => ctx.store.bill(a.key, receipt)); // durable before it is sent
    ctx.metrics.tokens.inc({ kind: "input" }, usage.inputTokens);
    ctx.metrics.tokens.inc({ kind: "output" }, usage.outputTokens);
    ctx.metrics.billedWei.inc(Number(fee));
    return receipt;
  }

  async function plainResponse(a: Admission, signal: AbortSignal): Promise<Response> {
    let result: Awaited<ReturnType<Backend["complete"]>>;
    try {
      result = await ctx.backend.complete(a.body, { maxOutputTokens: a.maxOutputTokens, signal });
    } catch (err) {
      ctx.store.release(a.key);
      ctx.metrics.requests.inc({ outcome: "backend_error" });
      ctx.log("backend_error", { error: (err as Error).message });
      const status = err instanceof BackendError ? err.status : 502;
      return new Response(JSON.stringify(protocolErrorBody("backend_error", `the model backend failed: ${(err as Error).message}`)), {
        status,
        headers: { "content-type": "application/json" },
      });
    }
    const answer = { ...result.completion, model: a.service.model };
    const usage = billable(a, result.usage, Buffer.byteLength(JSON.stringify(answer)));
    const completion = {
      ...answer,
      usage: {
        prompt_tokens: usage.inputTokens,
        completion_tokens: usage.outputTokens,
        total_tokens: usage.inputTokens + usage.outputTokens,
      },
    };
    const text = JSON.stringify(completion);
    const receipt = await receiptFor(a, responseHash(text), usage);
    ctx.metrics.requests.inc({ outcome: "ok" });
    return new Response(text, { headers: { "content-type": "application/json", [RECEIPT_HEADER]: encodeHeader(receiptToWire(receipt)) } });
  }

  function streamResponse(a: Admission, controller: AbortController, done: () => void): Response {
    const encoder = new TextEncoder();
    const hasher = new StreamHasher();
    const created = Math.floor(Date.now() / 1000);
    const id = `chatcmpl-${a.digest.slice(2, 26)}`;
    const body = new ReadableStream<Uint8Array>({
      async start(out) {
        let hashedBytes = 0;
        const write = (data: string, hashed: boolean) => {
          if (hashed) {
            hasher.update(data);
            hashedBytes += Buffer.byteLength(data);
          }
          if (!controller.signal.aborted) {
            try {
              out.enqueue(encoder.encode(`data: ${data}\n\n`));
            } catch {
              controller.abort();
            }
          }
        };
        let produced = false;
        try {
          const gen = ctx.backend.stream(a.body, { maxOutputTokens: a.maxOutputTokens, signal: controller.signal });
          let step = await gen.next();
          while (!step.done) {
            produced = true;
            write(JSON.stringify({ ...step.value, id, object: "chat.completion.chunk", created, model: a.service.model }), true);
            step = await gen.next();
          }
          const usage = billable(a, step.value, hashedBytes);
          if (!produced && usage.outputTokens === 0 && controller.signal.aborted) {
            ctx.store.release(a.key);
            ctx.metrics.requests.inc({ outcome: "aborted" });
            return;
          }
          const receipt = await receiptFor(a, hasher.digest(), usage);
          const usageChunk = {
            id,
            object: "chat.completion.chunk",
            created,
            model: a.service.model,
            choices: [],
            usage: {
              prompt_tokens: usage.inputTokens,
              completion_tokens: usage.outputTokens,
              total_tokens: usage.inputTokens + usage.outputTokens,
            },
            [RECEIPT_FIELD]: receiptToWire(receipt),
          };
          write(JSON.stringify(usageChunk), false);
          if (!controller.signal.aborted) out.enqueue(encoder.encode("data: [DONE]\n\n"));
          ctx.metrics.requests.inc({ outcome: controller.signal.aborted ? "aborted" : "ok" });
        } catch (err) {
          ctx.store.release(a.key);
          ctx.metrics.requests.inc({ outcome: "backend_error" });
          ctx.log("backend_error", { error: (err as Error).message, stream: true });
          write(JSON.stringify(protocolErrorBody("backend_error", `the model backend failed: ${(err as Error).message}`)), false);
        } finally {
          done();
          try {
            out.close();
          } catch {
            // already closed by the client
          }
        }
      },
      cancel() {
        controller.abort();
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform", "content-encoding": "identity" },
    });
  }

  /** Answer a refusal, and charge it to the client address's (and the signing key's) budget. */
  function fail(c: Context, err: unknown, address?: string, signer?: Address): Response {
    const res = refusal(c, err);
    if (res.status < 500 && res.status !== 429) {
      if (address !== undefined) refusalsPerAddress.take(address);
      if (signer !== undefined) refusalsPerKey.take(lower(signer));
    }
    return res;
  }

  function refusal(c: Context, err: unknown): Response {
    if (err instanceof AdmissionError) return refuse(c, ctx, err.protocolCode, err.message, plain(err.details));
    if (err instanceof WireFormatError) return refuse(c, ctx, "bad_ticket", err.message);
    if (err instanceof BackendError) return refuse(c, ctx, err.status === 400 ? "invalid_request" : "backend_error", err.message);
    ctx.log("internal_error", {
      error: err instanceof Error ? err.message : String(err),
      code: err instanceof ZeroGError ? err.code : undefined,
    });
    return refuse(c, ctx, "internal_error", "the provider failed to process the request");
  }

  app.notFound((c) => c.json(protocolErrorBody("invalid_request", `not found: ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => fail(c, err));
  return app;
}
