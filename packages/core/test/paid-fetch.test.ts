import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { request } from "node:http";
import OpenAI from "openai";
import { getContract, keccak256, toHex, type LocalAccount } from "viem";
import { serviceRegistryAbi } from "@0g-compute/contracts";
import { startLocalChain, type LocalChain, type LocalWallet } from "@0g-compute/contracts/testing";
import {
  createPaidFetch,
  escrowDomain,
  MemoryLaneStore,
  NoProviderError,
  ProviderError,
  ReceiptError,
  AutoTopUp,
  BudgetExceededError,
  resolveNetwork,
  startGateway,
  ZeroGClient,
  type PaidFetch,
} from "../src/index.js";
import { startPeer, type Peer } from "./peer.js";

describe("createPaidFetch against protocol peers on a local chain", () => {
  let chain: LocalChain;
  let client: ZeroGClient;
  let cheap: Peer;
  let dear: Peer;
  let paid: PaidFetch | undefined;
  const BASE = "http://0g.invalid/v1";

  async function listService(wallet: LocalWallet, endpoint: string, inputPrice: bigint, outputPrice: bigint) {
    const registry = getContract({
      address: chain.deployment.registry,
      abi: serviceRegistryAbi,
      client: { public: chain.publicClient, wallet },
    });
    await chain.publicClient.waitForTransactionReceipt({
      hash: await registry.write.stake({ value: chain.deployment.params.providerStake }),
    });
    await chain.publicClient.waitForTransactionReceipt({
      hash: await registry.write.addService([
        {
          name: "chat",
          model: "peer-model",
          modelHash: keccak256(toHex("m")),
          quantization: "F32",
          endpoint,
          inputPrice,
          outputPrice,
          signer: wallet.account.address,
          metadata: "{}",
        },
      ]),
    });
    return (await registry.read.getProviderServices([wallet.account.address]))[0]!;
  }

  beforeAll(async () => {
    chain = await startLocalChain();
    const network = resolveNetwork("devnet", {
      rpcUrl: chain.rpcUrl,
      escrow: chain.deployment.escrow,
      registry: chain.deployment.registry,
    });
    client = new ZeroGClient({ network, account: chain.wallet(1).account as LocalAccount, pollingIntervalMs: 20 });
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    const mk = async (index: number, inputPrice: bigint, outputPrice: bigint) => {
      const wallet = chain.wallet(index);
      let terms = { serviceId: `0x${"0".repeat(64)}` as `0x${string}`, versions: [{ version: 1, inputPrice, outputPrice }] };
      const peer = await startPeer({
        domain,
        provider: wallet.account.address,
        signer: wallet.account as LocalAccount,
        terms: () => terms,
      });
      const service = await listService(wallet, peer.url, inputPrice, outputPrice);
      terms = { serviceId: service.id, versions: [{ version: service.version, inputPrice, outputPrice }] };
      return peer;
    };
    cheap = await mk(2, 10n, 20n);
    dear = await mk(3, 30n, 60n);
  });
  afterAll(async () => {
    await paid?.close();
    await cheap?.close();
    await dear?.close();
    await chain?.stop();
  });
  beforeEach(() => {
    cheap.mode = "honest";
    dear.mode = "honest";
  });
  // One writer per lane: every test's fetch is closed (acks flushed) before the next one starts.
  const closeAll: PaidFetch[] = [];
  afterEach(async () => {
    for (const p of closeAll.splice(0)) await p.close().catch(() => undefined);
  });

  const make = (over: Partial<Parameters<typeof createPaidFetch>[0]> = {}) => {
    const p = createPaidFetch({
      client,
      store: new MemoryLaneStore(),
      ackDelayMs: 50,
      ...over,
    });
    closeAll.push(p);
    return p;
  };

  it("works as the fetch of the openai client: pays the cheapest provider, verifies, acknowledges in the next ticket and on close", async () => {
    paid = make();
    const openai = new OpenAI({ baseURL: BASE, apiKey: "unused", fetch: paid, maxRetries: 0 });
    const first = await openai.chat.completions.create({
      model: "peer-model",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 16,
    });
    expect(first.choices[0]?.message.content).toBe("Hello from the peer");
    expect(paid.receipts).toHaveLength(1);
    expect(paid.receipts[0]).toMatchObject({ provider: chain.wallet(2).account.address, fee: 10n * 10n + 5n * 20n, cumulative: 200n });
    await openai.chat.completions.create({ model: "peer-model", messages: [{ role: "user", content: "again" }], max_tokens: 16 });
    // The second ticket carried the first receipt's fee.
    expect(cheap.acked.get(client.address.toLowerCase())).toBe(200n);
    await paid.close();
    expect(cheap.acked.get(client.address.toLowerCase())).toBe(400n);
    expect(cheap.acks).toBeGreaterThanOrEqual(1);
    const models = await openai.models.list();
    expect(models.data.map((m) => m.owned_by)).toEqual([chain.wallet(2).account.address, chain.wallet(3).account.address]);
  });

  it("forwards the caller's headers to the provider, never its credentials or another hop's framing", async () => {
    const paid = make();
    const res = await paid(`${BASE}/chat/completions`, {
      method: "POST",
      headers: {
        authorization: "Bearer sk-not-for-providers",
        cookie: "session=not-for-providers",
        "x-api-key": "not-for-providers",
        "proxy-authorization": "Basic c2VjcmV0",
        connection: "upgrade",
        upgrade: "websocket",
        "content-length": "1",
        "x-request-id": "trace-7",
      },
      body: JSON.stringify({ model: "peer-model", messages: [{ role: "user", content: "hi" }], max_tokens: 16 }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const seen = cheap.lastHeaders;
    expect(seen["x-request-id"]).toBe("trace-7");
    expect(seen.authorization).toBeUndefined();
    expect(seen.cookie).toBeUndefined();
    expect(seen["x-api-key"]).toBeUndefined();
    expect(seen["proxy-authorization"]).toBeUndefined();
    expect(seen.upgrade).toBeUndefined();
    expect(seen["content-type"]).toBe("application/json");
    expect(Number(seen["content-length"])).toBeGreaterThan(1);
  });

  it("streams through the openai client and verifies the receipt in the last event", async () => {
    paid = make();
    const openai = new OpenAI({ baseURL: BASE, apiKey: "unused", fetch: paid, maxRetries: 0 });
    const stream = await openai.chat.completions.create({
      model: "peer-model",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 16,
      stream: true,
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text).toBe("Hello from the peer");
    expect(paid.receipts).toHaveLength(1);
    expect(paid.receipts[0]?.fee).toBe(200n);
    await paid.close();
  });

  it("a lying provider's receipt is rejected and never acknowledged", async () => {
    for (const mode of ["inflate", "wrong-hash"] as const) {
      cheap.mode = mode;
      paid = make();
      const res = paid(`${BASE}/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "peer-model", messages: [], max_tokens: 8 }),
      });
      await expect(res).rejects.toBeInstanceOf(ReceiptError);
      expect(paid.receipts).toHaveLength(0);
      await paid.close();
    }
    cheap.mode = "no-receipt";
    paid = make();
    await expect(
      paid(`${BASE}/chat/completions`, { method: "POST", body: JSON.stringify({ model: "peer-model", messages: [], max_tokens: 8 }) }),
    ).rejects.toBeInstanceOf(ReceiptError);
  });

  it("fails over to the next provider when the best one errors, and reports every failure when all do", async () => {
    cheap.mode = "error-500";
    paid = make();
    const res = await paid(`${BASE}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "peer-model", messages: [], max_tokens: 8 }),
    });
    expect(res.status).toBe(200);
    await res.text();
    expect(paid.receipts[0]?.provider).toBe(chain.wallet(3).account.address);
    dear.mode = "error-500";
    paid = make();
    const err = await paid(`${BASE}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ model: "peer-model", messages: [], max_tokens: 8 }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoProviderError);
    expect((err as NoProviderError).failures).toHaveLength(2);
  });

  it("respects the selection and the per-request cost ceiling", async () => {
    paid = make({ select: { model: "no-such-model" } });
    await expect(paid(`${BASE}/chat/completions`, { method: "POST", body: "{}" })).rejects.toBeInstanceOf(NoProviderError);
    paid = make({ maxCostPerRequest: 1n });
    await expect(paid(`${BASE}/chat/completions`, { method: "POST", body: JSON.stringify({ messages: [] }) })).rejects.toMatchObject({
      code: "NO_PROVIDER",
    });
    paid = make();
    await expect(paid(`${BASE}/chat/completions`, { method: "POST", body: "not json" })).rejects.toMatchObject({
      code: "REQUEST_NOT_JSON",
    });
  });

  it("resyncs after a client state wipe: nonce above the provider's, cumulative from its own signed ticket", async () => {
    paid = make();
    await (await paid(`${BASE}/chat/completions`, { method: "POST", body: JSON.stringify({ messages: [], max_tokens: 8 }) })).text();
    await paid.close();
    const providerHolds = cheap.acked.get(client.address.toLowerCase());
    expect(providerHolds).toBeGreaterThan(0n);
    const served = cheap.requests;
    // A new process with no memory of the lane: its first ticket reuses nonce 1 and is refused, then it resyncs.
    paid = make({ store: new MemoryLaneStore() });
    await (await paid(`${BASE}/chat/completions`, { method: "POST", body: JSON.stringify({ messages: [], max_tokens: 8 }) })).text();
    expect(cheap.requests).toBe(served + 1);
    expect(paid.receipts[0]!.ticket.cumulative).toBe(providerHolds);
  });

  it("deadlines are on the provider's clock: a client an hour behind adopts it from ticket_expired and is served", async () => {
    try {
      dear.mode = "error-500"; // only the cheap peer serves
      cheap.clockOffset = 3600;
      paid = make();
      const body = JSON.stringify({ messages: [], max_tokens: 8 });
      const served = cheap.requests;
      const res = await paid(`${BASE}/chat/completions`, { method: "POST", body });
      expect(res.status).toBe(200);
      await res.text();
      expect(cheap.requests).toBe(served + 1);
      const deadline = paid.receipts.at(-1)!.ticket.terms.deadline;
      const peerNow = BigInt(Math.floor(Date.now() / 1000) + 3600);
      expect(deadline > peerNow && deadline <= peerNow + 61n).toBe(true); // set on the provider's clock
      // A provider whose clock is behind takes the client's deadlines as they are.
      cheap.clockOffset = -3600;
      await (await paid(`${BASE}/chat/completions`, { method: "POST", body })).text();
      expect(cheap.requests).toBe(served + 2);
    } finally {
      cheap.clockOffset = 0;
    }
  });

  it("a provider's refusal it cannot fix surfaces as a typed ProviderError with the numbers", async () => {
    cheap.mode = "refuse-402";
    dear.mode = "refuse-402";
    paid = make();
    const err = await paid(`${BASE}/chat/completions`, { method: "POST", body: JSON.stringify({ messages: [], max_tokens: 4 }) }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({
      status: 402,
      providerCode: "insufficient_balance",
      code: "PROVIDER_INSUFFICIENT_BALANCE",
      details: { free: "0", needed: "1" },
    });
  });

  it("the local gateway serves any OpenAI client on 127.0.0.1 behind a bearer token", async () => {
    paid = make();
    const gw = await startGateway({ paidFetch: paid, token: "secret-token" });
    try {
      expect(gw.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const openai = new OpenAI({ baseURL: gw.url, apiKey: "secret-token", maxRetries: 0 });
      const reply = await openai.chat.completions.create({
        model: "peer-model",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 8,
      });
      expect(reply.choices[0]?.message.content).toBe("Hello from the peer");
      const stream = await openai.chat.completions.create({
        model: "peer-model",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 8,
        stream: true,
      });
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      expect(text).toBe("Hello from the peer");
      expect(paid.receipts).toHaveLength(2);
      expect((await openai.models.list()).data.length).toBe(2);

      const wrong = new OpenAI({ baseURL: gw.url, apiKey: "nope", maxRetries: 0 });
      await expect(wrong.models.list()).rejects.toMatchObject({ status: 401 });
      // fetch cannot forge a Host header; a raw HTTP request can, as a rebinding page would.
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const req = request(
          { host: "127.0.0.1", port: gw.port, path: "/v1/models", headers: { host: "evil.example", authorization: "Bearer secret-token" } },
          (res) => {
            res.resume();
            resolve(res.statusCode);
          },
        );
        req.once("error", reject);
        req.end();
      });
      expect(status).toBe(403);
      // A web page of another origin is refused even with the token; a loopback origin is not.
      const withOrigin = (origin: string) => fetch(`${gw.url}/models`, { headers: { authorization: "Bearer secret-token", origin } });
      expect((await withOrigin("https://evil.example")).status).toBe(403);
      expect((await withOrigin("http://evil.example")).status).toBe(403);
      expect((await withOrigin(`http://127.0.0.1:${gw.port}`)).status).toBe(200);
      expect((await withOrigin(`http://localhost:${gw.port}`)).status).toBe(200);
      // A token of another length is refused like any wrong token.
      expect((await fetch(`${gw.url}/models`, { headers: { authorization: "Bearer secret-token-and-more" } })).status).toBe(401);
      cheap.mode = "inflate";
      dear.mode = "inflate";
      await expect(openai.chat.completions.create({ model: "peer-model", messages: [], max_tokens: 8 })).rejects.toMatchObject({
        status: 502,
      });
    } finally {
      await gw.close();
    }
  });

  it("auto top-up funds the channel within the spending cap and never beyond it", async () => {
    const wallet = chain.wallet(6);
    const own = new ZeroGClient({ network: client.network, account: wallet.account as LocalAccount, pollingIntervalMs: 20 });
    const topUp = new AutoTopUp({ client: own, spendingCap: 15n * 10n ** 14n, topUpAmount: 10n ** 15n });
    paid = make({ user: own.address, signer: own.account, beforeRequest: (s, maxCost, lane) => topUp.ensure(s, maxCost, lane) });
    const ask = async () =>
      (await paid!(`${BASE}/chat/completions`, { method: "POST", body: JSON.stringify({ messages: [], max_tokens: 8 }) })).text();
    await ask();
    expect(topUp.spent).toBe(10n ** 15n);
    expect((await own.channel(chain.wallet(2).account.address)).balance).toBe(10n ** 15n);
    await ask(); // covered: no second top-up
    expect(topUp.spent).toBe(10n ** 15n);

    const tight = new AutoTopUp({ client: own, spendingCap: 5n * 10n ** 14n, topUpAmount: 10n ** 15n });
    const nonce = await chain.publicClient.getTransactionCount({ address: own.address });
    await expect(
      tight.ensure({ ...(await paid.candidates())[1]!, provider: chain.wallet(3).account.address }, 1000n, {
        nextNonce: 1n,
        acked: 0n,
        sentCumulative: 0n,
      }),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(await chain.publicClient.getTransactionCount({ address: own.address })).toBe(nonce);
  });
});
