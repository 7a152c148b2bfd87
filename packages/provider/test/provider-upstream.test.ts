import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import OpenAI from "openai";
import type { LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodeHeader, feeFor, inputTokenBound, ProviderError, RECEIPT_HEADER, receiptFromWire, type ZeroGClient } from "@0g-compute/core";
import { UpstreamBackend } from "../src/index.js";
import { startFakeUpstream, type FakeUpstream } from "../src/testing/fake-upstream.js";
import { INPUT_PRICE, OUTPUT_PRICE, post, startProviderFixture, type ProviderFixture } from "./helpers.js";

const BASE = "http://0g.invalid/v1";
const MODEL = "fake-model";

describe("provider node over an upstream OpenAI-compatible backend", () => {
  let f: ProviderFixture;
  let upstream: FakeUpstream;
  let alice: ZeroGClient;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    f = await startProviderFixture(
      () => new UpstreamBackend({ baseUrl: upstream.url, models: [{ id: MODEL, contextLength: 2048 }] }),
      MODEL,
    );
    alice = await f.user(1, 10n ** 16n);
  });
  afterAll(async () => {
    await f?.stop();
    await upstream?.close();
  });
  beforeEach(() => {
    upstream.mode = "ok";
  });

  it("serves a paid completion: exact usage from the upstream, a verified receipt, billed once", async () => {
    const paid = f.paid(alice);
    const openai = new OpenAI({ baseURL: BASE, apiKey: "x", fetch: paid, maxRetries: 0 });
    const r = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "say hello please" }],
      max_tokens: 32,
    });
    expect(r.choices[0]?.message.content).toBe("Hello from the fake upstream model .");
    expect(r.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 7 });
    const receipt = paid.receipts[0]!;
    expect(receipt.fee).toBe(feeFor({ inputPrice: INPUT_PRICE, outputPrice: OUTPUT_PRICE }, 7, 7));
    expect(upstream.bodies.at(-1)).toMatchObject({ max_tokens: 32, stream: false });
    const lane = f.node.store.lane(alice.address, alice.address);
    expect(lane.billed).toBe(receipt.fee);
    await paid.close();
    expect(f.node.store.lane(alice.address, alice.address).acked).toBe(receipt.fee);
  });

  it("streams with the receipt in the last event, and passes tool calls through", async () => {
    const paid = f.paid(alice);
    const openai = new OpenAI({ baseURL: BASE, apiKey: "x", fetch: paid, maxRetries: 0 });
    const stream = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 3,
      stream: true,
    });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
    expect(text).toBe("Hello from the");
    expect(paid.receipts[0]?.receipt).toMatchObject({ inputTokens: 5, outputTokens: 3 });
    // Usage was required of the upstream even though the client did not ask for it.
    expect(upstream.bodies.at(-1)).toMatchObject({ stream: true, stream_options: { include_usage: true } });

    const tools = [
      {
        type: "function" as const,
        function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
      },
      { type: "function" as const, function: { name: "get_time", parameters: { type: "object", properties: {} } } },
    ];
    const withTools = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "weather?" }],
      max_tokens: 64,
      tools,
    });
    expect(withTools.choices[0]?.message.tool_calls?.map((c) => c.type === "function" && c.function.name)).toEqual([
      "get_weather",
      "get_time",
    ]);
    await paid.close();
  });

  it("refuses bad input with OpenAI-style errors and stable codes, and keeps serving", async () => {
    const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: 4 });
    const user = alice.account;
    // Each refusal below is for its own reason: a fresh nonce, and the lane's acknowledged cumulative.
    const acked = () => f.node.store.lane(alice.address, alice.address).acked;
    const code = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code });
    expect(
      await code(await post(f.node.url, "{not json", await f.rawTicket(user, "{not json", { nonce: 890n, cumulative: acked() }))),
    ).toEqual({ status: 400, code: "invalid_request" });
    const empty = JSON.stringify({ messages: [] });
    expect(await code(await post(f.node.url, empty, await f.rawTicket(user, empty, { nonce: 891n, cumulative: acked() })))).toEqual({
      status: 400,
      code: "invalid_request",
    });
    const unknown = JSON.stringify({ model: "nope", messages: [{ role: "user", content: "x" }], max_tokens: 4 });
    expect(await code(await post(f.node.url, unknown, await f.rawTicket(user, unknown, { nonce: 892n, cumulative: acked() })))).toEqual({
      status: 404,
      code: "model_not_found",
    });
    expect(await code(await post(f.node.url, body))).toEqual({ status: 401, code: "ticket_missing" });
    expect(await code(await post(f.node.url, body, "garbage"))).toEqual({ status: 400, code: "bad_ticket" });
    // Forged: signed by a stranger in the user's name.
    const stranger = privateKeyToAccount(generatePrivateKey());
    expect(await code(await post(f.node.url, body, await f.rawTicket(stranger, body, { user: alice.address, nonce: 900n })))).toEqual({
      status: 401,
      code: "key_not_authorized",
    });
    // The ticket covers another body.
    expect(await code(await post(f.node.url, body, await f.rawTicket(user, body + " ", { nonce: 901n, cumulative: acked() })))).toEqual({
      status: 400,
      code: "request_hash_mismatch",
    });
    // Other prices than the registry's.
    expect(
      await code(
        await post(f.node.url, body, await f.rawTicket(user, body, { nonce: 902n, cumulative: acked(), terms: { inputPrice: 1n } })),
      ),
    ).toEqual({ status: 409, code: "terms_changed" });
    const noMax = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }] });
    expect(await code(await post(f.node.url, noMax, await f.rawTicket(user, noMax, { nonce: 903n, cumulative: acked() })))).toEqual({
      status: 400,
      code: "max_tokens_required",
    });
    expect(
      await code(
        await post(f.node.url, body, await f.rawTicket(user, body, { nonce: 904n, cumulative: acked(), terms: { maxCost: 10n } })),
      ),
    ).toEqual({ status: 402, code: "max_cost_too_low" });
    expect(
      await code(
        await post(f.node.url, body, await f.rawTicket(user, body, { nonce: 905n, cumulative: acked(), terms: { deadline: 1n } })),
      ),
    ).toEqual({ status: 409, code: "ticket_expired" });
    const gz = await fetch(`${f.node.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-encoding": "gzip", "x-0g-ticket": await f.rawTicket(user, body, { nonce: 906n, cumulative: acked() }) },
      body,
    });
    expect(await code(gz)).toEqual({ status: 415, code: "encoding_not_supported" });
    // Still serving.
    const ok = await post(f.node.url, body, await f.rawTicket(user, body, { nonce: 907n, cumulative: acked() }));
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it("a replayed ticket is never executed twice: 409 nonce_used with the stored receipt", async () => {
    const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "once" }], max_tokens: 4 });
    const ticket = await f.rawTicket(alice.account, body, {
      nonce: 2000n,
      cumulative: f.node.store.lane(alice.address, alice.address).acked,
    });
    const first = await post(f.node.url, body, ticket);
    expect(first.status).toBe(200);
    const receipt = receiptFromWire(decodeHeader("receipt", first.headers.get(RECEIPT_HEADER)!));
    await first.text();
    const served = upstream.requests;
    const again = await post(f.node.url, body, ticket);
    expect(again.status).toBe(409);
    const err = (await again.json()) as { error: { code: string; details: { receipt: { fee: string } } } };
    expect(err.error.code).toBe("nonce_used");
    expect(err.error.details.receipt.fee).toBe(receipt.fee.toString());
    expect(upstream.requests).toBe(served);
  });

  it("an underfunded channel gets 402 insufficient_balance with the numbers, and nothing is forwarded", async () => {
    const bob = await f.user(3, 1000n);
    const paid = f.paid(bob);
    const served = upstream.requests;
    const err = await paid(`${BASE}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 8 }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ status: 402, providerCode: "insufficient_balance", details: { free: "1000" } });
    expect(upstream.requests).toBe(served);
  });

  it("an upstream without usage or a crashed upstream is a 502 that bills nothing, and the node keeps serving", async () => {
    const paid = f.paid(alice);
    for (const mode of ["no-usage", "crash"] as const) {
      upstream.mode = mode;
      const billed = f.node.store.lane(alice.address, alice.address).billed;
      const err = await paid(`${BASE}/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 8 }),
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "NO_PROVIDER" }); // 502 makes the client fail over; there is no other provider
      expect(f.node.store.lane(alice.address, alice.address).billed).toBe(billed);
    }
    upstream.mode = "ok";
    const res = await f.paid(alice)(`${BASE}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 8 }),
    });
    expect(res.status).toBe(200);
    await res.text();
  });

  it("H1: concurrent requests over a channel worth M requests admit exactly M", async () => {
    const carol = await f.user(4);
    const body = (i: number) => JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `q${i}` }], max_tokens: 4 });
    // maxCost per request: core's input bound * in + 4 * out; fund exactly 10 of them.
    const perRequest = BigInt(inputTokenBound(JSON.parse(body(0)), body(0).length)) * INPUT_PRICE + 4n * OUTPUT_PRICE;
    await carol.depositAndFund((await f.node.status()).provider as `0x${string}`, perRequest * 10n);
    // Sign first, then fire all 20 at once, so every admission happens while the others are in flight.
    const tickets = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        f.rawTicket(carol.account as LocalAccount, body(i), { nonce: BigInt(i + 1), terms: { maxCost: perRequest } }),
      ),
    );
    upstream.mode = "slow";
    upstream.slowMs = 400; // every admitted request stays in flight while the others arrive
    const results = await Promise.all(
      tickets.map(async (ticket, i) => {
        const res = await post(f.node.url, body(i), ticket);
        await res.text();
        return res.status;
      }),
    );
    upstream.mode = "ok";
    upstream.slowMs = 50;
    expect(results.filter((s) => s === 200)).toHaveLength(10);
    expect(results.filter((s) => s === 402)).toHaveLength(10);
  });
});
