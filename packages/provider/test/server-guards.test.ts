// The provider's HTTP layer in process (no chain, no sockets): createProviderApp over a real store, a
// scripted chain view and a scripted backend, so that each admission check and each bound on what is
// billed can be pinned at its edge.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256, toHex, type Address, type Hex, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  decodeHeader,
  encodeHeader,
  escrowDomain,
  feeFor,
  inputTokenBound,
  RECEIPT_FIELD,
  RECEIPT_HEADER,
  receiptFromWire,
  requestHash,
  responseHash,
  signTicket,
  StreamHasher,
  TICKET_HEADER,
  ticketDigest,
  ticketToWire,
  verifyReceipt,
  ZERO_HASH,
  type ServiceInfo,
  type SignedReceipt,
  type SignedTicket,
  type Terms,
} from "@0g-compute/core";
import {
  BackendError,
  createProviderApp,
  DEFAULT_ABUSE_LIMITS,
  ProviderMetrics,
  ProviderStore,
  type AbuseLimits,
  type Backend,
  type BackendModel,
  type ChainState,
  type ChannelFunds,
  type ChatBody,
  type GenerationLimits,
  type KeyLaneState,
  type ServiceBook,
  type Usage,
} from "../src/index.js";

const PATH = "/v1/chat/completions";
const MODEL = "scripted";
const CONTEXT = 100;
const INPUT_PRICE = 2n;
const OUTPUT_PRICE = 3n;
const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const provider = privateKeyToAccount(generatePrivateKey()).address;
const responseKey = privateKeyToAccount(generatePrivateKey());
const service: ServiceInfo = {
  id: keccak256(toHex("scripted service")),
  provider,
  name: "chat",
  model: MODEL,
  modelHash: ZERO_HASH,
  quantization: "F32",
  endpoint: "http://127.0.0.1:9",
  inputPrice: INPUT_PRICE,
  outputPrice: OUTPUT_PRICE,
  version: 4,
  signer: responseKey.address,
  previousSigner: "0x0000000000000000000000000000000000000000",
  rotatedAt: 0n,
  metadata: {},
  active: true,
};
const lower = (a: string) => a.toLowerCase();

/** The chain as the server sees it, set by each test. */
class ScriptedChain {
  time = 1_000n;
  balance = 10n ** 18n;
  keys = new Map<string, KeyLaneState>();
  reads = 0;
  invalidated: string[] = [];
  /** Balances returned by successive reads (then `balance`). */
  next: bigint[] = [];
  failNow = false;
  async now(): Promise<bigint> {
    if (this.failNow) throw new Error("rpc down");
    return this.time;
  }
  async keyLane(_user: Address, key: Address): Promise<KeyLaneState> {
    return this.keys.get(lower(key)) ?? { settled: 0n, cap: 0n, validUntil: 0n };
  }
  async channelFunds(_user: Address, _signers: readonly Address[]): Promise<ChannelFunds & { unlockAt: bigint }> {
    if (this.failNow) throw new Error("rpc down");
    this.reads += 1;
    return { balance: this.next.shift() ?? this.balance, pendingWithdraw: 0n, settledByLane: new Map(), unlockAt: 0n };
  }
  invalidate(user: Address): void {
    this.invalidated.push(lower(user));
  }
}

/** A backend that answers what the test scripted and records what it was asked. */
class ScriptedBackend implements Backend {
  readonly kind = "upstream" as const;
  exactInput: number | undefined = undefined;
  usage: Usage = { inputTokens: 5, outputTokens: 4 };
  fail: BackendError | Error | undefined;
  counted = 0;
  calls: { body: ChatBody; limits: GenerationLimits }[] = [];
  chunks = ["Hel", "lo"];
  contextLength = CONTEXT;
  models(): BackendModel[] {
    return [{ id: MODEL, contextLength: this.contextLength, capabilities: ["chat"] }];
  }
  async countInputTokens(): Promise<number | undefined> {
    this.counted += 1;
    return this.exactInput;
  }
  async complete(body: ChatBody, limits: GenerationLimits) {
    this.calls.push({ body, limits });
    if (this.fail) throw this.fail;
    return {
      completion: {
        id: "x",
        object: "chat.completion",
        choices: [{ index: 0, message: { role: "assistant", content: "Hello" }, finish_reason: "stop" }],
      },
      usage: this.usage,
    };
  }
  async *stream(body: ChatBody, limits: GenerationLimits): AsyncGenerator<Record<string, unknown> & { choices: unknown[] }, Usage> {
    this.calls.push({ body, limits });
    if (this.fail) throw this.fail;
    for (const c of this.chunks) yield { choices: [{ index: 0, delta: { content: c } }] };
    return this.usage;
  }
  async close(): Promise<void> {}
}

let dir: string;
let count = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "0g-server-guards-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Harness {
  app: ReturnType<typeof createProviderApp>;
  store: ProviderStore;
  chain: ScriptedChain;
  backend: ScriptedBackend;
  metrics: ProviderMetrics;
  logs: string[];
  /** The node's clock (unix seconds), the time base of deadlines. */
  clock: { now: bigint };
}
const open: ProviderStore[] = [];
afterEach(() => {
  while (open.length > 0) open.pop()!.close();
});

function harness(
  over: { limits?: Partial<AbuseLimits>; maxBodyBytes?: number; creditLimit?: bigint; services?: Partial<ServiceBook> } = {},
): Harness {
  const store = new ProviderStore(join(dir, `server-${++count}.db`));
  open.push(store);
  const chain = new ScriptedChain();
  const backend = new ScriptedBackend();
  const metrics = new ProviderMetrics();
  const logs: string[] = [];
  const clock = { now: 1_000n };
  const services = {
    services: async () => [service],
    byId: async (id: string) => (lower(id) === lower(service.id) ? service : undefined),
    honoured: async (id: string) =>
      lower(id) === lower(service.id)
        ? { serviceId: service.id, versions: [{ version: service.version, inputPrice: INPUT_PRICE, outputPrice: OUTPUT_PRICE }] }
        : undefined,
    ...over.services,
  } as unknown as ServiceBook;
  const app = createProviderApp({
    domain,
    provider,
    responseSigner: responseKey,
    store,
    chain: chain as unknown as ChainState,
    services,
    backend,
    metrics,
    credit: () => ({ creditLimit: over.creditLimit ?? 10n ** 18n }),
    maxBodyBytes: over.maxBodyBytes ?? 64 * 1024,
    limits: { ...DEFAULT_ABUSE_LIMITS, ...over.limits },
    maxRequestSeconds: 300,
    clock: () => clock.now, // deadlines are on the node's clock (scripted here), never the chain's
    log: (event) => logs.push(event),
  });
  return { app, store, chain, backend, metrics, logs, clock };
}

const alice = privateKeyToAccount(generatePrivateKey());
const chat = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 10, ...extra });

async function ticketFor(
  body: string,
  o: { signer?: LocalAccount; user?: Address; nonce?: bigint; cumulative?: bigint; terms?: Partial<Terms> } = {},
): Promise<SignedTicket> {
  const signer = o.signer ?? alice;
  return signTicket(signer, domain, {
    user: o.user ?? signer.address,
    provider,
    nonce: o.nonce ?? 1n,
    cumulative: o.cumulative ?? 0n,
    terms: {
      serviceId: service.id,
      serviceVersion: service.version,
      inputPrice: INPUT_PRICE,
      outputPrice: OUTPUT_PRICE,
      maxCost: 10n ** 6n,
      requestHash: requestHash(PATH, body),
      deadline: 2_000n,
      ...o.terms,
    },
  });
}
const header = (t: SignedTicket) => encodeHeader(ticketToWire(t));

function post(h: Harness, body: string, t?: SignedTicket, headers: Record<string, string> = {}, path = PATH): Promise<Response> {
  return Promise.resolve(
    h.app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...(t ? { [TICKET_HEADER]: header(t) } : {}), ...headers },
      body,
    }),
  );
}
async function errorOf(res: Response): Promise<{ status: number; code: string; details?: Record<string, unknown> }> {
  const body = (await res.json()) as { error: { code: string; details?: Record<string, unknown> } };
  return { status: res.status, code: body.error.code, ...(body.error.details ? { details: body.error.details } : {}) };
}
const receiptOf = (res: Response): SignedReceipt => receiptFromWire(decodeHeader("receipt", res.headers.get(RECEIPT_HEADER)!));

/** Serve `body` and check its receipt as a client would; returns the receipt. */
async function served(h: Harness, body: string, t: SignedTicket): Promise<SignedReceipt> {
  const res = await post(h, body, t);
  expect(res.status).toBe(200);
  const text = await res.text();
  const receipt = receiptOf(res);
  await verifyReceipt(receipt, {
    domain,
    ticketDigest: ticketDigest(domain, t),
    terms: t.terms,
    responseHash: responseHash(text),
    signers: [responseKey.address],
  });
  return receipt;
}

describe("provider HTTP admission, in process", () => {
  it("serves a paid request: the receipt is stored before it is sent, billed at the ticket's prices", async () => {
    const h = harness();
    const body = chat();
    const t = await ticketFor(body);
    const receipt = await served(h, body, t);
    expect(receipt).toMatchObject({ inputTokens: 5, outputTokens: 4, fee: feeFor(t.terms, 5, 4) });
    expect(h.store.request(ticketDigest(domain, t))).toMatchObject({ status: "billed", fee: receipt.fee });
    expect(h.store.lane(alice.address, alice.address).billed).toBe(receipt.fee);
    // The backend got the service's model and the token limit.
    expect(h.backend.calls[0]?.body.model).toBe(MODEL);
    expect(h.backend.calls[0]?.limits.maxOutputTokens).toBe(10);
  });

  it("a deadline is checked against the node's clock, not the chain's, and a refusal tells the client that clock", async () => {
    const h = harness();
    const body = chat();
    h.chain.time = 10n ** 9n; // a chain whose clock ran far ahead (a kept devnet, a drifting chain)
    expect((await post(h, body, await ticketFor(body, { terms: { deadline: 1_001n } }))).status).toBe(200);
    h.clock.now = 5_000n;
    const late = await post(h, body, await ticketFor(body, { nonce: 2n, terms: { deadline: 4_990n } }));
    expect(await errorOf(late)).toEqual({ status: 409, code: "ticket_expired", details: { now: "5000" } });
    expect(h.backend.calls).toHaveLength(1);
  });

  it("a rendered prompt longer than the client's input bound is refused before anything is reserved", async () => {
    const h = harness();
    const body = chat({ max_tokens: 10 });
    const bound = inputTokenBound(JSON.parse(body), body.length);
    h.backend.exactInput = bound + 1;
    expect(await errorOf(await post(h, body, await ticketFor(body)))).toEqual({
      status: 400,
      code: "prompt_too_long",
      details: { inputTokens: bound + 1, inputBound: bound },
    });
    expect(h.backend.calls).toHaveLength(0);
    expect(h.store.lane(alice.address, alice.address).highestNonce).toBe(0n);
    expect(h.store.totals().reserved).toBe(0n);
    // At the bound it is served (in a context that holds it), and billed exactly.
    h.backend.contextLength = 4096;
    h.backend.exactInput = bound;
    expect((await served(h, body, await ticketFor(body, { nonce: 2n, terms: { maxCost: 10n ** 12n } }))).inputTokens).toBe(bound);
  });

  it("never bills more output tokens than the answer has bytes (the client's own bound)", async () => {
    const h = harness();
    const body = chat({ max_tokens: 5000 });
    h.backend.usage = { inputTokens: 5, outputTokens: 4000 }; // e.g. tokens that render to nothing
    const t = await ticketFor(body, { terms: { maxCost: 10n ** 12n } });
    const res = await post(h, body, t);
    const text = await res.text();
    const receipt = receiptOf(res);
    const answerBytes = Buffer.byteLength(JSON.stringify({ ...(JSON.parse(text) as Record<string, unknown>), usage: undefined }));
    expect(receipt.outputTokens).toBeLessThanOrEqual(answerBytes);
    expect(receipt.outputTokens).toBeGreaterThan(0);
    await verifyReceipt(receipt, {
      domain,
      ticketDigest: ticketDigest(domain, t),
      terms: t.terms,
      responseHash: responseHash(text),
      signers: [responseKey.address],
      maxOutputTokens: Math.min(5000, Buffer.byteLength(text)),
    });
    // Streams: bounded by the bytes of the data events, as the client counts them.
    const streamed = chat({ max_tokens: 5000, stream: true });
    const st = await ticketFor(streamed, { nonce: 2n, terms: { maxCost: 10n ** 12n } });
    const events = (await (await post(h, streamed, st)).text())
      .split("\n\n")
      .filter((e) => e.startsWith("data: "))
      .map((e) => e.slice(6));
    const dataBytes = events.slice(0, -2).reduce((n, e) => n + Buffer.byteLength(e), 0);
    const last = receiptFromWire((JSON.parse(events.at(-2)!) as { x_receipt: unknown }).x_receipt);
    expect(last.outputTokens).toBe(dataBytes);
  });

  it("refusals before the body: rate budget, encoding, declared length, ticket, ack-only, service", async () => {
    const h = harness();
    const body = chat();
    expect(await errorOf(await post(h, body, undefined, { "content-encoding": "gzip" }))).toMatchObject({
      status: 415,
      code: "encoding_not_supported",
    });
    expect((await post(h, body, await ticketFor(body), { "content-encoding": "identity" })).status).toBe(200);
    expect(await errorOf(await post(h, body, undefined))).toMatchObject({ status: 401, code: "ticket_missing" });
    const ack = await ticketFor("", { nonce: 2n, terms: { maxCost: 0n, requestHash: ZERO_HASH } });
    expect(await errorOf(await post(h, body, ack))).toMatchObject({ status: 400, code: "bad_ticket" });
    const other = await ticketFor(body, { nonce: 3n, terms: { serviceId: keccak256(toHex("no such service")) } });
    expect(await errorOf(await post(h, body, other))).toMatchObject({ status: 409, code: "terms_changed" });
    const expired = await ticketFor(body, { nonce: 4n, terms: { deadline: 10n } });
    expect(await errorOf(await post(h, body, expired))).toMatchObject({ status: 409, code: "ticket_expired" });
    // Nothing of these reached the backend or the store.
    expect(h.backend.calls).toHaveLength(1);
    expect(h.store.lane(alice.address, alice.address).highestNonce).toBe(1n);
  });

  it("a body is bounded by its declared length and while it is read; the bound itself is accepted", async () => {
    const body = chat();
    const h = harness({ maxBodyBytes: body.length });
    const big = chat({ pad: "x" });
    expect(await errorOf(await post(h, big, await ticketFor(big), { "content-length": String(big.length) }))).toEqual({
      status: 413,
      code: "request_too_large",
      details: { maxBytes: body.length },
    });
    // Undeclared: refused while reading, once past the limit.
    const stream = (text: string) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          const bytes = new TextEncoder().encode(text);
          c.enqueue(bytes.subarray(0, 10));
          c.enqueue(bytes.subarray(10));
          c.close();
        },
      });
    const chunked = (text: string, t: SignedTicket) =>
      h.app.request(PATH, { method: "POST", headers: { [TICKET_HEADER]: header(t) }, body: stream(text), duplex: "half" } as RequestInit);
    expect(await errorOf(await chunked(big, await ticketFor(big, { nonce: 2n })))).toMatchObject({
      status: 413,
      code: "request_too_large",
    });
    // Exactly at the limit, in two chunks: served (the body is reassembled whole).
    const res = await chunked(body, await ticketFor(body, { nonce: 3n }));
    expect(res.status).toBe(200);
    await res.text();
    expect((await post(h, body, await ticketFor(body, { nonce: 4n }), { "content-length": String(body.length) })).status).toBe(200);
  });

  it("the body must hash to the ticket's request hash, parse, and name the service's model", async () => {
    const h = harness();
    const body = chat();
    expect(await errorOf(await post(h, body + " ", await ticketFor(body)))).toMatchObject({ status: 400, code: "request_hash_mismatch" });
    expect(await errorOf(await post(h, "{nope", await ticketFor("{nope", { nonce: 2n })))).toMatchObject({
      status: 400,
      code: "invalid_request",
    });
    const bad = JSON.stringify({ model: MODEL, messages: [] });
    expect(await errorOf(await post(h, bad, await ticketFor(bad, { nonce: 3n })))).toMatchObject({ status: 400, code: "invalid_request" });
    const wrong = chat({ model: "another-model" });
    expect(await errorOf(await post(h, wrong, await ticketFor(wrong, { nonce: 4n })))).toMatchObject({
      status: 404,
      code: "model_not_found",
      details: { models: [MODEL] },
    });
    const noMax = JSON.stringify({ messages: [{ role: "user", content: "hi" }] });
    expect(await errorOf(await post(h, noMax, await ticketFor(noMax, { nonce: 5n })))).toMatchObject({
      status: 400,
      code: "max_tokens_required",
    });
    // A body without a model is the ticket's service's model.
    const unnamed = JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_completion_tokens: 3, max_tokens: 9 });
    await served(h, unnamed, await ticketFor(unnamed, { nonce: 6n }));
    expect(h.backend.calls.at(-1)?.body.model).toBe(MODEL);
    expect(h.backend.calls.at(-1)?.limits.maxOutputTokens).toBe(3);
    expect(h.backend.calls).toHaveLength(1);
  });

  it("a backend whose model this provider does not serve is refused", async () => {
    const h = harness({ services: { byId: async () => ({ ...service, model: "gone" }) } as Partial<ServiceBook> });
    const body = chat({ model: undefined });
    expect(await errorOf(await post(h, body, await ticketFor(body)))).toMatchObject({ status: 404, code: "model_not_found" });
  });

  it("the prompt must leave the context room for one output token; output is bounded by the context", async () => {
    const h = harness();
    h.backend.exactInput = CONTEXT - 1;
    const body = chat({ max_tokens: 50 });
    expect(await errorOf(await post(h, body, await ticketFor(body)))).toMatchObject({
      status: 400,
      code: "prompt_too_long",
      details: { inputTokens: CONTEXT - 1, contextLength: CONTEXT },
    });
    h.backend.exactInput = CONTEXT - 2;
    h.backend.usage = { inputTokens: 1, outputTokens: 2 };
    const receipt = await served(h, body, await ticketFor(body, { nonce: 2n }));
    expect(h.backend.calls.at(-1)?.limits.maxOutputTokens).toBe(2);
    // Exact input is billed when known, whatever the backend reports.
    expect(receipt.inputTokens).toBe(CONTEXT - 2);
    h.backend.exactInput = 60;
    await served(h, body, await ticketFor(body, { nonce: 3n }));
    expect(h.backend.calls.at(-1)?.limits.maxOutputTokens).toBe(CONTEXT - 60);
  });

  it("maxCost bounds the output tokens; a ticket that cannot pay for one is refused with what it needs", async () => {
    const h = harness();
    const body = chat({ max_tokens: 50 });
    const inputBound = BigInt(inputTokenBound(JSON.parse(body), body.length)); // no exact count: core's bound
    const inputFee = inputBound * INPUT_PRICE;
    // Room for exactly 7 output tokens.
    const seven = await ticketFor(body, { terms: { maxCost: inputFee + 7n * OUTPUT_PRICE + 2n } });
    h.backend.usage = { inputTokens: 3, outputTokens: 7 };
    await served(h, body, seven);
    expect(h.backend.calls.at(-1)?.limits.maxOutputTokens).toBe(7);
    // Room for exactly one.
    const one = await ticketFor(body, { nonce: 2n, terms: { maxCost: inputFee + OUTPUT_PRICE } });
    h.backend.usage = { inputTokens: 3, outputTokens: 1 };
    await served(h, body, one);
    expect(h.backend.calls.at(-1)?.limits.maxOutputTokens).toBe(1);
    // Not even one output token, or not even the input.
    const none = await ticketFor(body, { nonce: 3n, terms: { maxCost: inputFee + OUTPUT_PRICE - 1n } });
    expect(await errorOf(await post(h, body, none))).toEqual({
      status: 402,
      code: "max_cost_too_low",
      details: { needed: (inputFee + OUTPUT_PRICE).toString(), maxCost: (inputFee + OUTPUT_PRICE - 1n).toString() },
    });
    const short = await ticketFor(body, { nonce: 4n, terms: { maxCost: inputFee - 1n } });
    expect(await errorOf(await post(h, body, short))).toMatchObject({ status: 402, code: "max_cost_too_low" });
    expect(h.backend.calls).toHaveLength(2);
    // Free output: only max_tokens bounds it.
    const free = await ticketFor(body, { nonce: 5n, terms: { outputPrice: 0n, maxCost: inputFee } });
    const hFree = harness({
      services: {
        honoured: async () => ({
          serviceId: service.id,
          versions: [{ version: service.version, inputPrice: INPUT_PRICE, outputPrice: 0n }],
        }),
      } as Partial<ServiceBook>,
    });
    hFree.backend.usage = { inputTokens: 3, outputTokens: 50 };
    await served(hFree, body, free);
    expect(hFree.backend.calls.at(-1)?.limits.maxOutputTokens).toBe(50);
  });

  it("never bills more tokens than the bounds its fee limit was computed from", async () => {
    const h = harness();
    const body = chat({ max_tokens: 6 });
    const inputBound = inputTokenBound(JSON.parse(body), body.length);
    h.backend.usage = { inputTokens: inputBound + 100, outputTokens: 9 };
    const receipt = await served(h, body, await ticketFor(body));
    expect(receipt).toMatchObject({ inputTokens: inputBound, outputTokens: 6 });
    h.backend.usage = { inputTokens: 7, outputTokens: 2 };
    expect(await served(h, body, await ticketFor(body, { nonce: 2n }))).toMatchObject({ inputTokens: 7, outputTokens: 2 });
    // Streams too.
    const streamed = chat({ max_tokens: 6, stream: true });
    const streamedBound = inputTokenBound(JSON.parse(streamed), streamed.length);
    h.backend.usage = { inputTokens: streamedBound + 1, outputTokens: 60 };
    const t = await ticketFor(streamed, { nonce: 3n });
    const res = await post(h, streamed, t);
    const text = await res.text();
    const events = text
      .split("\n\n")
      .filter((e) => e.startsWith("data: "))
      .map((e) => e.slice(6));
    expect(events.at(-1)).toBe("[DONE]");
    const last = JSON.parse(events.at(-2)!) as { x_receipt: unknown; usage: { prompt_tokens: number; completion_tokens: number } };
    const receiptWire = receiptFromWire(last.x_receipt);
    expect(receiptWire).toMatchObject({ inputTokens: streamedBound, outputTokens: 6 });
    expect(last.usage).toMatchObject({ prompt_tokens: receiptWire.inputTokens, completion_tokens: 6 });
    const hasher = new StreamHasher();
    for (const e of events.slice(0, -2)) hasher.update(e);
    await verifyReceipt(receiptWire, {
      domain,
      ticketDigest: ticketDigest(domain, t),
      terms: t.terms,
      responseHash: hasher.digest(),
      signers: [responseKey.address],
    });
  });

  it("a session key must be authorized and outlive the longest request; its cap reaches the store", async () => {
    const h = harness();
    const agent = privateKeyToAccount(generatePrivateKey());
    const body = chat();
    const as = (nonce: bigint, maxCost = 10n ** 6n) => ticketFor(body, { signer: agent, user: alice.address, nonce, terms: { maxCost } });
    expect(await errorOf(await post(h, body, await as(1n)))).toMatchObject({ status: 401, code: "key_not_authorized" });
    h.chain.keys.set(lower(agent.address), { settled: 0n, cap: 10n ** 6n, validUntil: h.chain.time + 299n });
    expect(await errorOf(await post(h, body, await as(2n)))).toEqual({
      status: 401,
      code: "key_expired",
      details: { validUntil: (h.chain.time + 299n).toString() },
    });
    h.chain.keys.set(lower(agent.address), { settled: 0n, cap: 10n ** 6n, validUntil: h.chain.time + 300n });
    await served(h, body, await as(3n));
    expect(h.store.lane(alice.address, agent.address).billed).toBeGreaterThan(0n);
    expect(await errorOf(await post(h, body, await as(4n, 10n ** 6n)))).toMatchObject({ status: 402, code: "session_cap" });
    // The owner's own key needs no authorization and has no cap.
    await served(h, body, await ticketFor(body, { nonce: 1n, terms: { maxCost: 10n ** 6n } }));
  });

  it("before refusing for lack of funds the chain is read again, at most once a second per user", async () => {
    const h = harness();
    const body = chat();
    const maxCost = 10n ** 6n;
    h.chain.balance = maxCost - 1n;
    // Cached read: nothing; fresh read: a deposit made a moment ago (and the admission after the body reads it).
    h.chain.next = [0n, maxCost, maxCost];
    const res = await post(h, body, await ticketFor(body, { terms: { maxCost } }));
    expect(res.status).toBe(200);
    await res.text();
    expect(h.chain.invalidated).toEqual([lower(alice.address)]);
    // The next refusal within the second does not read the chain again.
    h.chain.next = [];
    const reads = h.chain.reads;
    expect(await errorOf(await post(h, body, await ticketFor(body, { nonce: 2n, terms: { maxCost } })))).toMatchObject({
      status: 402,
      code: "insufficient_balance",
    });
    expect(h.chain.reads).toBe(reads + 1);
    expect(h.chain.invalidated).toHaveLength(1);
    // Another user has its own second.
    const bob = privateKeyToAccount(generatePrivateKey());
    expect((await post(h, body, await ticketFor(body, { signer: bob, terms: { maxCost } }))).status).toBe(402);
    expect(h.chain.invalidated).toEqual([lower(alice.address), lower(bob.address)]);
    // Other refusals never cause a fresh read.
    const hc = harness({ creditLimit: 1n });
    expect(await errorOf(await post(hc, body, await ticketFor(body, { terms: { maxCost } })))).toMatchObject({
      status: 402,
      code: "credit_limit",
    });
    expect(hc.chain.invalidated).toEqual([]);
  });

  it("a request runs only once its admission is on disk, and a receipt leaves only once it is on disk", async () => {
    const h = harness();
    const body = chat();
    // The disk refuses the admission's lane write: the model is never asked.
    h.store.db.exec("CREATE TRIGGER refuse_lane BEFORE INSERT ON lanes BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    const refused = await post(h, body, await ticketFor(body));
    expect(refused.status).toBe(500);
    expect(h.backend.calls).toHaveLength(0);
    h.store.db.exec("DROP TRIGGER refuse_lane");
    // The disk refuses the receipt: the answer goes out with no receipt, and nothing is billed.
    h.store.db.exec("CREATE TRIGGER refuse_receipt BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    for (const stream of [false, true]) {
      const streamBody = chat({ stream });
      const res = await post(h, streamBody, await ticketFor(streamBody, { nonce: stream ? 3n : 2n }));
      const text = await res.text();
      expect(res.headers.get(RECEIPT_HEADER)).toBeNull();
      expect(text).not.toContain(RECEIPT_FIELD);
    }
    expect(h.backend.calls).toHaveLength(2);
    expect(h.store.totals()).toMatchObject({ billed: 0n, reserved: 0n });
    h.store.db.exec("DROP TRIGGER refuse_receipt");
    await served(h, body, await ticketFor(body, { nonce: 4n }));
  });

  it("a backend failure releases the reservation and bills nothing; the node keeps serving", async () => {
    const h = harness();
    const body = chat();
    h.backend.fail = new BackendError("upstream said no", { status: 503 });
    const t = await ticketFor(body);
    const res = await post(h, body, t);
    expect(await errorOf(res)).toMatchObject({ status: 503, code: "backend_error" });
    expect(h.store.requestByNonce(alice.address, alice.address, 1n)).toBeUndefined(); // released: no longer in flight, never billed
    expect(h.logs).toContain("backend_error");
    h.backend.fail = new Error("crashed");
    expect((await post(h, body, await ticketFor(body, { nonce: 2n }))).status).toBe(502);
    // A stream that fails is released too.
    const streamed = chat({ stream: true });
    await (await post(h, streamed, await ticketFor(streamed, { nonce: 3n }))).text();
    expect(h.store.requestByNonce(alice.address, alice.address, 3n)).toBeUndefined();
    h.backend.fail = undefined;
    await served(h, body, await ticketFor(body, { nonce: 4n }));
    expect(h.store.totals()).toMatchObject({ reserved: 0n, billed: feeFor(t.terms, 5, 4) });
  });

  it("refusals are charged to the address's budget, server errors and rate limits are not", async () => {
    const h = harness({ limits: { refusalsPerAddress: { ratePerSecond: 0.001, burst: 2 } } });
    const body = chat();
    expect((await post(h, body)).status).toBe(401);
    // An internal failure is the node's fault, not the client's: not charged.
    const broken = harness({ limits: { refusalsPerAddress: { ratePerSecond: 0.001, burst: 1 } } });
    broken.chain.failNow = true;
    for (let i = 0; i < 3; i++)
      expect(await errorOf(await post(broken, body, await ticketFor(body)))).toMatchObject({ status: 500, code: "internal_error" });
    expect(broken.logs).toEqual(["internal_error", "internal_error", "internal_error"]);
    expect((await post(h, body)).status).toBe(401);
    expect(await errorOf(await post(h, body))).toMatchObject({ status: 429, code: "rate_limited" });
    expect(await errorOf(await post(h, body, await ticketFor(body)))).toMatchObject({ status: 429, code: "rate_limited" });
  });

  it("refusals are charged to the signing key's budget too", async () => {
    const h = harness({ limits: { refusalsPerKey: { ratePerSecond: 0.001, burst: 2 } } });
    h.chain.balance = 10_000n;
    const body = chat();
    const unfunded = (nonce: bigint) => ticketFor(body, { nonce, terms: { maxCost: 10n ** 6n } });
    const affordable = (nonce: bigint, signer: LocalAccount = alice) => ticketFor(body, { signer, nonce, terms: { maxCost: 5_000n } });
    expect((await post(h, body, await unfunded(1n))).status).toBe(402);
    expect((await post(h, body, await unfunded(2n))).status).toBe(402);
    expect(await errorOf(await post(h, body, await unfunded(3n)))).toMatchObject({ status: 429, code: "rate_limited" });
    // Even a good ticket from that key now waits; another key does not.
    expect((await post(h, body, await affordable(4n))).status).toBe(429);
    const bob = privateKeyToAccount(generatePrivateKey());
    expect((await post(h, body, await affordable(1n, bob))).status).toBe(200);
    // A refusal before the signature is known is charged to the address only.
    const carol = privateKeyToAccount(generatePrivateKey());
    for (const n of [1n, 2n, 3n])
      expect((await post(h, body, await ticketFor(body, { signer: carol, nonce: n, terms: { deadline: 1n } }))).status).toBe(409);
    expect((await post(h, body, await affordable(4n, carol))).status).toBe(200);
  });

  it("a refusal before the body is read closes the connection; one after it does not", async () => {
    const h = harness();
    const body = chat();
    const before = await post(h, body, await ticketFor(body, { terms: { deadline: 1n } }));
    expect(before.headers.get("connection")).toBe("close");
    const after = await post(h, body + " ", await ticketFor(body, { nonce: 2n }));
    expect(after.status).toBe(400);
    expect(after.headers.get("connection")).toBeNull();
  });
});

describe("provider HTTP acknowledgements and receipts, in process", () => {
  const ackTicket = (nonce: bigint, cumulative: bigint, signer: LocalAccount = alice) =>
    ticketFor("", { signer, nonce, cumulative, terms: { maxCost: 0n, requestHash: ZERO_HASH, deadline: 0n } });
  const ack = (h: Harness, t?: SignedTicket) => post(h, "", t, {}, "/v1/ack");

  it("takes an ack-only ticket up to what was billed, and nothing else", async () => {
    const h = harness();
    const body = chat();
    const receipt = await served(h, body, await ticketFor(body));
    // An acknowledgement is answered ok only once it is on disk.
    h.store.db.exec("CREATE TRIGGER refuse_lane BEFORE UPDATE ON lanes BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    expect((await ack(h, await ackTicket(2n, receipt.fee))).status).toBe(500);
    expect(h.store.lane(alice.address, alice.address).acked).toBe(0n);
    h.store.db.exec("DROP TRIGGER refuse_lane");
    const res = await ack(h, await ackTicket(2n, receipt.fee));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, acked: receipt.fee.toString() });
    expect(h.store.lane(alice.address, alice.address).acked).toBe(receipt.fee);
    expect(await errorOf(await ack(h, await ackTicket(3n, receipt.fee + 1n)))).toMatchObject({ status: 409, code: "ack_exceeds_billed" });
    expect(await errorOf(await ack(h, await ticketFor(body, { nonce: 4n })))).toMatchObject({ status: 400, code: "bad_ticket" });
    expect(await errorOf(await ack(h))).toMatchObject({ status: 401, code: "ticket_missing" });
    // A forged signature recovers another key: a lane with nothing billed.
    const forged = {
      ...(await ackTicket(5n, 1n)),
      signature: (await ackTicket(5n, 1n, privateKeyToAccount(generatePrivateKey()))).signature,
    };
    expect(await errorOf(await ack(h, forged))).toMatchObject({ status: 409, code: "ack_exceeds_billed" });
    // A key with nothing billed cannot acknowledge even zero: the node keeps no lane for it.
    const stranger = privateKeyToAccount(generatePrivateKey());
    expect(await errorOf(await ack(h, await ackTicket(1n, 0n, stranger)))).toMatchObject({ status: 409, code: "ack_exceeds_billed" });
    expect(h.store.lanesOf(stranger.address)).toEqual([]);
    expect(await errorOf(await ack(h, { ...(await ackTicket(6n, 0n)), signature: `0x${"00".repeat(65)}` as Hex }))).toMatchObject({
      status: 401,
      code: "bad_signature",
    });
  });

  it("acknowledgements are budgeted per key, and refusals per address", async () => {
    const h = harness({
      limits: { acksPerKey: { ratePerSecond: 0.001, burst: 2 }, refusalsPerAddress: { ratePerSecond: 0.001, burst: 3 } },
    });
    const body = chat();
    const receipt = await served(h, body, await ticketFor(body));
    expect((await ack(h, await ackTicket(2n, receipt.fee))).status).toBe(200);
    expect((await ack(h, await ackTicket(3n, receipt.fee))).status).toBe(200);
    expect(await errorOf(await ack(h, await ackTicket(4n, receipt.fee)))).toMatchObject({ status: 429, code: "rate_limited" });
    // Three refusals from this address (the 429 above does not count): its budget is spent.
    for (let i = 0; i < 3; i++) expect((await ack(h, await ackTicket(1n, 1n, privateKeyToAccount(generatePrivateKey())))).status).toBe(409);
    expect(await errorOf(await ack(h, await ackTicket(1n, 1n, privateKeyToAccount(generatePrivateKey()))))).toMatchObject({
      status: 429,
      code: "rate_limited",
    });
  });

  it("serves a stored receipt by digest, and by digest and signer", async () => {
    const h = harness();
    const body = chat();
    const t = await ticketFor(body);
    const receipt = await served(h, body, t);
    const digest = ticketDigest(domain, t);
    const get = (path: string) => Promise.resolve(h.app.request(path));
    const found = await get(`/v1/receipts/${digest}`);
    expect(found.status).toBe(200);
    expect(receiptFromWire(((await found.json()) as { receipt: unknown }).receipt)).toEqual(receipt);
    expect((await get(`/v1/receipts/${digest}?signer=${alice.address}`)).status).toBe(200);
    expect((await get(`/v1/receipts/${digest}?signer=${privateKeyToAccount(generatePrivateKey()).address}`)).status).toBe(404);
    expect(await errorOf(await get(`/v1/receipts/${digest}?signer=0x12`))).toMatchObject({ status: 400, code: "invalid_request" });
    expect(await errorOf(await get(`/v1/receipts/${digest.slice(0, 65)}`))).toMatchObject({ status: 400, code: "invalid_request" });
    expect(await errorOf(await get(`/v1/receipts/${digest}ab`))).toMatchObject({ status: 400, code: "invalid_request" });
    expect((await get(`/v1/receipts/${keccak256(toHex("unknown"))}`)).status).toBe(404);
    // A reservation without a receipt yet is not found either.
    const pending = await ticketFor(body, { nonce: 2n });
    h.store.admit({
      ticket: pending,
      signer: alice.address,
      digest: ticketDigest(domain, pending),
      funds: { balance: 10n ** 18n, pendingWithdraw: 0n, settledByLane: new Map() },
      policy: { creditLimit: 10n ** 18n },
      now: 1,
    });
    expect((await get(`/v1/receipts/${ticketDigest(domain, pending)}`)).status).toBe(404);
  });

  it("health and the model list", async () => {
    const h = harness();
    expect(await (await h.app.request("/health")).json()).toEqual({
      ok: true,
      provider,
      backend: "upstream",
      models: [MODEL],
      chain: "ok",
    });
    h.chain.failNow = true;
    expect(await (await h.app.request("/health")).json()).toMatchObject({ chain: "unreachable" });
    const models = (await (await h.app.request("/v1/models")).json()) as { data: Record<string, unknown>[] };
    expect(models.data).toEqual([
      {
        id: MODEL,
        object: "model",
        created: 0,
        owned_by: provider,
        service_id: service.id,
        service_version: service.version,
        input_price_per_token: INPUT_PRICE.toString(),
        output_price_per_token: OUTPUT_PRICE.toString(),
        context_length: CONTEXT,
        model_hash: ZERO_HASH,
        quantization: "F32",
        capabilities: ["chat"],
        kind: "chat",
      },
    ]);
    expect(await errorOf(await h.app.request("/nothing"))).toMatchObject({ status: 404, code: "invalid_request" });
  });
});
