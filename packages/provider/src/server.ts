import type { ServerResponse } from "node:http";
import { Hono, type Context } from "hono";
import type { Address, Hex, LocalAccount } from "viem";
import {
  AdmissionError,
  checkTicket,
  decodeHeader,
  encodeHeader,
  feeFor,
  INPUT_TOKEN_ALLOWANCE,
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
import type { ServiceBook } from "./service-book.js";
import type { ProviderStore, RequestKey } from "./store.js";

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
  /** Credit limit per channel over unacknowledged and in-flight fees (wei). */
  creditLimit: (service: ServiceInfo) => bigint;
  /** Longest a request may run; a session key must stay valid at least this long (seconds). */
  maxRequestSeconds: number;
  log: (event: string, fields?: Record<string, unknown>) => void;
}

const PATH = "/v1/chat/completions";

class HttpRefusal extends Error {
  constructor(readonly code: ProtocolErrorCode, message: string, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

function refuse(c: Context, ctx: ProviderContext, code: ProtocolErrorCode, message: string, details?: Record<string, unknown>): Response {
  ctx.metrics.refusals.inc({ code });
  return c.json(protocolErrorBody(code, message, details), PROTOCOL_ERROR_CODES[code] as 400);
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
 * (plain and SSE streaming), `POST /v1/ack`, `GET /v1/receipts/:digest`, `GET /v1/models`, `GET /health`
 * and `GET /metrics`. Every refusal is an OpenAI-style error with a stable code; nothing is billed
 * without a receipt, and every receipt is stored before it is sent.
 */
export function createProviderApp(ctx: ProviderContext): Hono {
  const app = new Hono();

  app.get("/health", async (c) => {
    let chain = "ok";
    try {
      await ctx.chain.now();
    } catch {
      chain = "unreachable";
    }
    return c.json({ ok: true, provider: ctx.provider, backend: ctx.backend.kind, models: ctx.backend.models().map((m) => m.id), chain });
  });

  app.get("/metrics", async (c) => c.text(await ctx.metrics.registry.metrics(), 200, { "content-type": ctx.metrics.registry.contentType }));

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
    try {
      const ticket = readTicket(c);
      const now = await ctx.chain.now();
      const checked = await checkTicket({ domain: ctx.domain, ticket, provider: ctx.provider, now, recover: recoverNative });
      if (!checked.ackOnly) throw new HttpRefusal("bad_ticket", "an acknowledgement carries an ack-only ticket (maxCost 0, requestHash 0)");
      if (checked.signer.toLowerCase() !== ticket.user.toLowerCase()) {
        const lane = await ctx.chain.keyLane(ticket.user, checked.signer);
        if (lane.validUntil === 0n) throw new HttpRefusal("key_not_authorized", "the ticket's signer is not authorized for this channel");
      }
      const admitted = ctx.store.admit({ ticket, signer: checked.signer, digest: checked.digest, funds: { balance: 0n, pendingWithdraw: 0n, settledByLane: new Map() }, policy: { creditLimit: 0n }, now: Date.now() });
      return c.json({ ok: true, acked: admitted.lane.acked.toString() });
    } catch (err) {
      return fail(c, err);
    }
  });

  app.post(PATH, async (c) => {
    const started = performance.now();
    let admission: Admission;
    try {
      admission = await admit(c);
    } catch (err) {
      ctx.metrics.requests.inc({ outcome: "refused" });
      return fail(c, err);
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
    if (!header) throw new HttpRefusal("ticket_missing", `every request needs an ${TICKET_HEADER} header`);
    return ticketFromWire(decodeHeader("ticket", header));
  }

  const freshReads = new Map<string, number>();
  function freshReadAllowed(user: Address): boolean {
    const key = user.toLowerCase();
    const now = Date.now();
    if (now - (freshReads.get(key) ?? 0) < 1000) return false;
    freshReads.set(key, now);
    if (freshReads.size > 10_000) for (const [k, t] of freshReads) if (now - t >= 1000) freshReads.delete(k);
    return true;
  }

  async function admit(c: Context): Promise<Admission> {
    const encoding = c.req.header("content-encoding") ?? "identity";
    if (encoding !== "identity") throw new HttpRefusal("encoding_not_supported", "send the request body with identity encoding");
    const raw = new Uint8Array(await c.req.arrayBuffer());
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      throw new HttpRefusal("invalid_request", "the body is not valid JSON");
    }
    const parsed = chatBodySchema.safeParse(json);
    if (!parsed.success) throw new HttpRefusal("invalid_request", parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
    const body = parsed.data;
    const service = await ctx.services.byModel(body.model);
    const model = service && ctx.backend.models().find((m) => m.id === service.model);
    if (!service || !model) throw new HttpRefusal("model_not_found", `no service for model ${body.model ?? "(none)"}`, { models: ctx.backend.models().map((m) => m.id) });

    const ticket = readTicket(c);
    const now = await ctx.chain.now();
    const honoured = await ctx.services.honoured(ticket.terms.serviceId);
    const terms = honoured && honoured.serviceId.toLowerCase() === service.id.toLowerCase()
      ? honoured
      : { serviceId: service.id, versions: [{ version: service.version, inputPrice: service.inputPrice, outputPrice: service.outputPrice }] };
    const checked = await checkTicket({ domain: ctx.domain, ticket, provider: ctx.provider, now, requestHash: requestHash(PATH, raw), terms, recover: recoverNative });
    if (checked.ackOnly) throw new HttpRefusal("bad_ticket", "an ack-only ticket cannot pay for a request");

    let laneCap: bigint | undefined;
    if (checked.signer.toLowerCase() !== ticket.user.toLowerCase()) {
      const lane = await ctx.chain.keyLane(ticket.user, checked.signer);
      if (lane.validUntil === 0n) throw new HttpRefusal("key_not_authorized", "the ticket's signer is neither the user nor a session key authorized for this channel");
      if (now + BigInt(ctx.maxRequestSeconds) > lane.validUntil) throw new HttpRefusal("key_expired", "the session key expires before this request could finish", { validUntil: lane.validUntil.toString() });
      laneCap = lane.cap;
    }

    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    if (maxTokens === undefined) throw new HttpRefusal("max_tokens_required", "set max_tokens: it bounds what the request can cost");
    const exactInput = await ctx.backend.countInputTokens(body);
    // The engine needs one free slot after the prompt, so a prompt may use at most contextLength - 2 tokens.
    if (exactInput !== undefined && exactInput >= model.contextLength - 1) {
      throw new HttpRefusal("prompt_too_long", `the prompt has ${exactInput} tokens; the context holds ${model.contextLength}`, { inputTokens: exactInput, contextLength: model.contextLength });
    }
    const inputBound = exactInput ?? raw.length + INPUT_TOKEN_ALLOWANCE;
    const inputFee = BigInt(inputBound) * ticket.terms.inputPrice;
    let maxOutputTokens = maxTokens;
    if (ticket.terms.outputPrice > 0n && inputFee <= ticket.terms.maxCost) {
      const affordable = (ticket.terms.maxCost - inputFee) / ticket.terms.outputPrice;
      if (affordable < BigInt(maxOutputTokens)) maxOutputTokens = Number(affordable);
    }
    if (exactInput !== undefined) maxOutputTokens = Math.min(maxOutputTokens, model.contextLength - exactInput);
    if (inputFee > ticket.terms.maxCost || maxOutputTokens < 1) {
      throw new HttpRefusal("max_cost_too_low", "maxCost does not cover the input and one output token", { needed: (inputFee + ticket.terms.outputPrice).toString(), maxCost: ticket.terms.maxCost.toString() });
    }

    const signers = [...new Set([checked.signer, ...ctx.store.signersOf(ticket.user)])];
    const policy = { creditLimit: ctx.creditLimit(service), ...(laneCap === undefined ? {} : { laneCap }) };
    const admitWith = async () => {
      const funds = await ctx.chain.channelFunds(ticket.user, signers);
      await ctx.store.group(() => ctx.store.admit({ ticket, signer: checked.signer, digest: checked.digest, funds, policy, now: Date.now() }));
    };
    try {
      await admitWith();
    } catch (err) {
      // The cached channel may predate a deposit made a moment ago: before refusing for lack of funds, read
      // the chain again (at most once a second per user, so refusals cannot be used to flood the RPC).
      if (!(err instanceof AdmissionError && err.protocolCode === "insufficient_balance") || !freshReadAllowed(ticket.user)) throw err;
      ctx.chain.invalidate(ticket.user);
      await admitWith();
    }
    return { ticket, digest: checked.digest, key: { user: ticket.user, signer: checked.signer, nonce: ticket.nonce }, service, body: { ...body, model: service.model }, exactInput, inputBound, maxOutputTokens };
  }

  /** Token counts billed: exact input when known, never above the bound the fee limit was computed from. */
  function billable(a: Admission, usage: Usage): Usage {
    const input = a.exactInput ?? Math.min(usage.inputTokens, a.inputBound);
    return { inputTokens: input, outputTokens: Math.min(usage.outputTokens, a.maxOutputTokens) };
  }

  async function receiptFor(a: Admission, hash: Hex, usage: Usage) {
    const fee = feeFor(a.ticket.terms, usage.inputTokens, usage.outputTokens);
    const receipt = await signReceipt(ctx.responseSigner, ctx.domain, { ticketDigest: a.digest, responseHash: hash, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, fee });
    await ctx.store.group(() => ctx.store.bill(a.key, receipt)); // durable before it is sent
    ctx.metrics.tokens.inc({ kind: "input" }, usage.inputTokens);
    ctx.metrics.tokens.inc({ kind: "output" }, usage.outputTokens);
    ctx.metrics.billedWei.inc(Number(fee));
    return receipt;
  }

  async function plainResponse(a: Admission, signal: AbortSignal): Promise<Response> {
    let result;
    try {
      result = await ctx.backend.complete(a.body, { maxOutputTokens: a.maxOutputTokens, signal });
    } catch (err) {
      ctx.store.release(a.key);
      ctx.metrics.requests.inc({ outcome: "backend_error" });
      ctx.log("backend_error", { error: (err as Error).message });
      const status = err instanceof BackendError ? err.status : 502;
      return new Response(JSON.stringify(protocolErrorBody("backend_error", `the model backend failed: ${(err as Error).message}`)), { status, headers: { "content-type": "application/json" } });
    }
    const usage = billable(a, result.usage);
    const completion = { ...result.completion, model: a.service.model, usage: { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens } };
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
        const write = (data: string, hashed: boolean) => {
          if (hashed) hasher.update(data);
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
          const usage = billable(a, step.value);
          if (!produced && usage.outputTokens === 0 && controller.signal.aborted) {
            ctx.store.release(a.key);
            ctx.metrics.requests.inc({ outcome: "aborted" });
            return;
          }
          const receipt = await receiptFor(a, hasher.digest(), usage);
          const usageChunk = { id, object: "chat.completion.chunk", created, model: a.service.model, choices: [], usage: { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens }, [RECEIPT_FIELD]: receiptToWire(receipt) };
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
    return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform", "content-encoding": "identity" } });
  }

  function fail(c: Context, err: unknown): Response {
    if (err instanceof HttpRefusal) return refuse(c, ctx, err.code, err.message, plain(err.details));
    if (err instanceof AdmissionError) return refuse(c, ctx, err.protocolCode, err.message, plain(err.details));
    if (err instanceof WireFormatError) return refuse(c, ctx, "bad_ticket", err.message);
    if (err instanceof BackendError) return refuse(c, ctx, err.status === 400 ? "invalid_request" : "backend_error", err.message);
    ctx.log("internal_error", { error: err instanceof Error ? err.message : String(err), code: err instanceof ZeroGError ? err.code : undefined });
    return refuse(c, ctx, "internal_error", "the provider failed to process the request");
  }

  app.notFound((c) => c.json(protocolErrorBody("invalid_request", `not found: ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => fail(c, err));
  return app;
}
