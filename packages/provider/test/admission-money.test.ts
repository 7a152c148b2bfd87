// The money checks of admission, each pinned by a case that only it can refuse: the free balance
// (acknowledged-but-unsettled debt, pending withdrawal), the credit ramp and the age of unacknowledged
// fees, session keys that expire mid-request, the chain watcher's invalidation, and fees at the ticket's
// prices.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { keccak256, toHex, type Address, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodeHeader, receiptFromWire, RECEIPT_HEADER, resolveNetwork, type ZeroGClient } from "@0g-compute/core";
import { registerService, UpstreamBackend } from "../src/index.js";
import { startFakeUpstream, type FakeUpstream } from "../src/testing/fake-upstream.js";
import { INPUT_PRICE, OUTPUT_PRICE, post, startProviderFixture, type ProviderFixture } from "./helpers.js";

const MODEL = "fake-model";
const ask = (content: string) => JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 8 });
const errorOf = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code });
/** Enough for any one request below: (body + 64) input tokens and 8 output tokens at the fixture's prices. */
const ENOUGH = 400n * INPUT_PRICE + 8n * OUTPUT_PRICE;

describe("admission's money checks", () => {
  let f: ProviderFixture;
  let upstream: FakeUpstream;
  let provider: Address;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    f = await startProviderFixture(
      () => new UpstreamBackend({ baseUrl: upstream.url, models: [{ id: MODEL, contextLength: 2048 }] }),
      MODEL,
      { creditLimit: 10n ** 14n, baseCreditShare: 1 },
    );
    provider = (await f.node.status()).provider as Address;
  });
  afterAll(async () => {
    await f?.stop();
    await upstream?.close();
  });

  /** Serve one request for `user` (nonce, cumulative given); returns the receipt's fee. */
  async function serve(user: ZeroGClient, nonce: bigint, cumulative: bigint, maxCost = ENOUGH): Promise<bigint> {
    const body = ask(`request ${nonce}`);
    const res = await post(
      f.node.url,
      body,
      await f.rawTicket(user.account as LocalAccount, body, { nonce, cumulative, terms: { maxCost } }),
    );
    expect(res.status).toBe(200);
    await res.text();
    return receiptFromWire(decodeHeader("receipt", res.headers.get(RECEIPT_HEADER)!)).fee;
  }
  const attempt = async (user: ZeroGClient, nonce: bigint, cumulative: bigint, maxCost: bigint) => {
    const body = ask(`request ${nonce}`);
    return post(f.node.url, body, await f.rawTicket(user.account as LocalAccount, body, { nonce, cumulative, terms: { maxCost } }));
  };

  it("the free balance counts acknowledged but unsettled debt", async () => {
    const balance = 3n * ENOUGH;
    const user = await f.user(3, balance);
    const fee = await serve(user, 1n, 0n);
    // The next ticket acknowledges the fee (unsettled debt now), and may reserve at most the rest.
    const free = balance - fee;
    expect(await errorOf(await attempt(user, 2n, fee, free + 1n))).toEqual({ status: 402, code: "insufficient_balance" });
    expect((await attempt(user, 3n, fee, free)).status).toBe(200);
  });

  it("the free balance counts a pending withdrawal", async () => {
    const balance = 3n * ENOUGH;
    const user = await f.user(4, balance);
    const pending = ENOUGH;
    await user.requestWithdraw(provider, pending);
    expect(await errorOf(await attempt(user, 1n, 0n, balance - pending + 1n))).toEqual({ status: 402, code: "insufficient_balance" });
    expect((await attempt(user, 2n, 0n, balance - pending)).status).toBe(200);
  });

  it("a session key that expires before the request could finish is refused", async () => {
    const user = await f.user(5, 10n ** 16n);
    const key = privateKeyToAccount(generatePrivateKey());
    // Valid for 100 s: less than the longest a request may run (300 s by default).
    await user.authorizeSessionKey(provider, key.address, 10n ** 15n, (await f.chain.now()) + 100n);
    const body = ask("agent");
    const res = await post(f.node.url, body, await f.rawTicket(key, body, { user: user.address, terms: { maxCost: ENOUGH } }));
    expect(await errorOf(res)).toEqual({ status: 401, code: "key_expired" });
    // One that outlives the request is served.
    const lasting = privateKeyToAccount(generatePrivateKey());
    await user.authorizeSessionKey(provider, lasting.address, 10n ** 15n, (await f.chain.now()) + 3600n);
    expect(
      (await post(f.node.url, body, await f.rawTicket(lasting, body, { user: user.address, terms: { maxCost: ENOUGH } }))).status,
    ).toBe(200);
  });

  it("the chain watcher's events invalidate cached channel state (cache on)", async () => {
    await f.restart({ cacheMs: 600_000, pollMs: 100 });
    const user = await f.user(6, 10n ** 16n);
    await serve(user, 1n, 0n); // the channel is now cached for ten minutes
    await user.requestWithdraw(provider, "all");
    await new Promise((r) => setTimeout(r, 600)); // a few polls
    const fee = f.node.store.lane(user.address, user.address).billed;
    expect(await errorOf(await attempt(user, 2n, fee, ENOUGH))).toEqual({ status: 402, code: "insufficient_balance" });
    await f.restart();
  });

  it("credit ramps with acknowledged history: a new channel starts at the base credit", async () => {
    const base = 2n * ENOUGH;
    await f.restart({ creditLimit: 8n * base, baseCreditShare: 0.125 });
    const user = await f.user(7, 10n ** 16n);
    expect(await errorOf(await attempt(user, 1n, 0n, base + 1n))).toEqual({ status: 402, code: "credit_limit" });
    const fee = await serve(user, 2n, 0n, base);
    // The acknowledgement earns its amount in credit.
    expect(await errorOf(await attempt(user, 3n, fee, base + fee + 1n))).toEqual({ status: 402, code: "credit_limit" });
    expect((await attempt(user, 4n, fee, base + fee)).status).toBe(200);
    await f.restart();
  });

  it("a fee left unacknowledged past the deadline stops new credit until it is acknowledged", async () => {
    await f.restart({ ackTimeoutSeconds: 1 });
    const user = await f.user(8, 10n ** 16n);
    const fee = await serve(user, 1n, 0n);
    expect((await attempt(user, 2n, 0n, ENOUGH)).status).toBe(200); // within the deadline: credit allows it
    await new Promise((r) => setTimeout(r, 1300));
    const stale = await attempt(user, 3n, 0n, ENOUGH);
    expect(await errorOf(stale)).toEqual({ status: 402, code: "ack_required" });
    // A ticket that acknowledges everything billed is served again.
    const billed = f.node.store.lane(user.address, user.address).billed;
    expect(billed).toBeGreaterThan(fee);
    expect((await attempt(user, 4n, billed, ENOUGH)).status).toBe(200);
    await f.restart();
  });

  it("fees are computed at the ticket's prices: a ticket signed before a price cut is billed at its own prices", async () => {
    const user = await f.user(9, 10n ** 16n);
    const network = resolveNetwork("devnet", {
      rpcUrl: f.chain.rpcUrl,
      escrow: f.chain.deployment.escrow,
      registry: f.chain.deployment.registry,
    });
    const body = ask("priced");
    const oldTicket = await f.rawTicket(user.account as LocalAccount, body, { nonce: 1n, terms: { maxCost: ENOUGH } });
    // The provider halves its prices (a decrease applies at once; the old version stays honoured for a grace period).
    const { version } = await registerService(
      f.chain.wallet(2) as unknown as Parameters<typeof registerService>[0],
      f.chain.publicClient,
      network,
      {
        name: "chat",
        model: MODEL,
        modelHash: keccak256(toHex(MODEL)),
        quantization: "F32",
        endpoint: f.node.url,
        inputPrice: INPUT_PRICE / 2n,
        outputPrice: OUTPUT_PRICE / 2n,
        signer: f.responseKey.address,
        metadata: JSON.stringify({ contextLength: 2048 }),
      },
    );
    expect(version).toBeGreaterThan(f.serviceVersion);
    await f.node.services.refresh();
    const res = await post(f.node.url, body, oldTicket);
    expect(res.status).toBe(200);
    await res.text();
    const receipt = receiptFromWire(decodeHeader("receipt", res.headers.get(RECEIPT_HEADER)!));
    expect(receipt.fee).toBe(BigInt(receipt.inputTokens) * INPUT_PRICE + BigInt(receipt.outputTokens) * OUTPUT_PRICE);
  });
});
