// End-to-end on a whole local network: anvil, the contracts, two provider nodes serving the same model
// (one runs the generated GGUF through node-llama-cpp, one a deterministic upstream), and users paying
// through the SDK. Each test is one story a user or a provider lives through.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { parseEther, type Address, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  encodeHeader,
  escrowDomain,
  NoProviderError,
  requestHash,
  signTicket,
  TICKET_HEADER,
  ticketToWire,
  type PaidFetch,
  type Terms,
} from "@0g-compute/core";
import { startLocalNetwork, type LocalNetwork, type LocalUser } from "@0g-compute/provider/testing";

const MODEL = "shared-chat";
const CREDIT_LIMIT = 2_000_000_000_000n; // wei of unacknowledged or in-flight fees per channel
let net: LocalNetwork;
const fetches: PaidFetch[] = [];

beforeAll(async () => {
  net = await startLocalNetwork({
    providers: [
      { kind: "llama", model: "scripted", modelId: MODEL },
      { kind: "upstream", modelId: MODEL, fake: { slowMs: 30 } },
    ],
    node: {
      log: (e: string, f?: Record<string, unknown>) => {
        if (process.env.E2E_LOG) process.stderr.write(`${e} ${JSON.stringify(f, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}\n`);
      },
      creditLimit: CREDIT_LIMIT,
      baseCreditShare: 1,
      settlement: { intervalMs: 200, minValueWei: 0n, marginSeconds: 300n },
      pollMs: 100,
      cacheMs: 0,
    },
  });
});

afterAll(async () => {
  for (const f of fetches) await f.close().catch(() => undefined);
  await net?.stop();
});

function paidFetchFor(user: LocalUser, select: { provider?: Address } = {}): PaidFetch {
  const f = user.paidFetch({ select: { model: MODEL, ...select }, ackDelayMs: 10, catalogueTtlSeconds: 0 });
  fetches.push(f);
  return f;
}

async function chat(f: PaidFetch, opts: { stream?: boolean; maxTokens?: number } = {}): Promise<string> {
  const res = await f("http://0g.invalid/v1/chat/completions", {
    method: "POST",
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: opts.maxTokens ?? 16,
      temperature: 0,
      stream: opts.stream ?? false,
    }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${text}`);
  return text;
}

/** Sum of verified fees per provider. */
function feesByProvider(f: PaidFetch): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const r of f.receipts) m.set(r.provider.toLowerCase(), (m.get(r.provider.toLowerCase()) ?? 0n) + r.fee);
  return m;
}

async function rawTicket(
  signer: LocalAccount,
  provider: number,
  body: string,
  over: { user?: Address; nonce: bigint; cumulative?: bigint },
): Promise<string> {
  const p = net.providers[provider]!;
  const terms: Terms = {
    serviceId: p.serviceId,
    serviceVersion: p.serviceVersion,
    inputPrice: 1_000_000_000n,
    outputPrice: 2_000_000_000n,
    maxCost: 600_000_000_000n, // covers the input bound (bytes + template allowance) and max_tokens
    requestHash: requestHash("/v1/chat/completions", body),
    deadline: (await net.chain.now()) + 600n,
  };
  const t = await signTicket(signer, escrowDomain(net.chain.chain.id, net.network.escrow), {
    user: over.user ?? signer.address,
    provider: p.address,
    nonce: over.nonce,
    cumulative: over.cumulative ?? 0n,
    terms,
  });
  return encodeHeader(ticketToWire(t));
}

function post(provider: number, body: string, ticket?: string): Promise<Response> {
  return fetch(`${net.providers[provider]!.node.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(ticket ? { [TICKET_HEADER]: ticket } : {}) },
    body,
  });
}

describe("two providers of one model", () => {
  it("fails over to the other provider when the chosen one dies, and pays only the one that answered", async () => {
    const user = await net.newUser();
    const f = paidFetchFor(user);
    await chat(f);
    const first = f.receipts.at(-1)!.provider;
    const dying = net.providers.find((p) => p.address === first)!;
    const other = net.providers.find((p) => p.address !== first)!;
    await dying.kill();
    try {
      await chat(f);
      expect(f.receipts.at(-1)!.provider).toBe(other.address);
      expect(f.receipts).toHaveLength(2);
    } finally {
      await dying.restart();
    }
    // Both lanes are consistent with what the providers recorded.
    for (const p of net.providers) {
      const fees = feesByProvider(f).get(p.address.toLowerCase()) ?? 0n;
      const lane = p.node.store.lane(user.account.address, user.account.address);
      expect(lane.billed).toBe(fees);
    }
  });

  it("refuses with a typed error when every provider of the model is down", async () => {
    const user = await net.newUser({ fund: parseEther("0.01") });
    const f = paidFetchFor(user);
    for (const p of net.providers) await p.kill();
    try {
      await expect(chat(f)).rejects.toBeInstanceOf(NoProviderError);
    } finally {
      for (const p of net.providers) await p.restart();
    }
    await chat(f); // and works again once they are back
    expect(f.receipts).toHaveLength(1);
  });
});

describe("a provider restarted in the middle of a session", () => {
  it("loses nothing and bills nothing twice: settlement pays exactly what the user acknowledged", async () => {
    const user = await net.newUser();
    const p = net.providers[0]!;
    const f = paidFetchFor(user, { provider: p.address });
    for (let i = 0; i < 3; i++) await chat(f, { stream: i % 2 === 1 });
    await p.restart();
    for (let i = 0; i < 3; i++) await chat(f, { stream: i % 2 === 0 });
    await f.close(); // sends the acknowledgement of the last receipt
    const fees = feesByProvider(f).get(p.address.toLowerCase())!;
    expect(f.receipts).toHaveLength(6);
    const lane = p.node.store.lane(user.account.address, user.account.address);
    expect(lane.billed).toBe(fees);
    expect(lane.acked).toBe(fees);
    const run = await p.node.settle();
    expect(run.txHash).toBeDefined();
    expect(run.skipped).toEqual([]);
    const channel = await user.client.channel(p.address);
    expect(channel.ownerSettled).toBe(fees);
    expect(channel.balance).toBe(parseEther("0.1") - fees);
  });
});

describe("a withdrawal requested while requests are in flight", () => {
  it("is settled by the provider before it unlocks, and the user gets back the rest", async () => {
    const user = await net.newUser();
    const p = net.providers[1]!; // the upstream answers slowly (30 ms a word): requests overlap the request
    const f = paidFetchFor(user, { provider: p.address });
    await chat(f); // the catalogue is loaded
    const inFlight = Promise.all([chat(f, { stream: true }), chat(f), chat(f, { stream: true })]);
    await new Promise((r) => setTimeout(r, 60)); // admitted and generating
    const { unlockAt } = await user.client.requestWithdraw(p.address, parseEther("0.05"));
    await inFlight;
    await f.close();
    const fees = feesByProvider(f).get(p.address.toLowerCase())!;
    expect(fees).toBeGreaterThan(0n);
    // The lock is 600 s and the provider settles within 300 s of the unlock: move to 200 s before it.
    const now = await net.chain.now();
    await net.chain.increaseTime(unlockAt - now - 200n);
    const deadline = Date.now() + 20_000;
    while ((await user.client.channel(p.address)).ownerSettled < fees && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const settled = await user.client.channel(p.address);
    expect(settled.ownerSettled).toBe(fees);
    expect(await net.chain.now()).toBeLessThan(unlockAt);
    await net.chain.increaseTime(300);
    const before = (await user.client.balances()).ledger;
    const done = await user.client.completeWithdraw(p.address, { toWallet: false });
    expect(done.amount).toBe(parseEther("0.05"));
    expect((await user.client.channel(p.address)).balance).toBe(parseEther("0.05") - fees);
    expect((await user.client.balances()).ledger).toBe(before + done.amount);
  });
});

describe("a user who stops acknowledging receipts", () => {
  it("is served until the credit limit, then refused with ack_required", async () => {
    const user = await net.newUser();
    const statuses: number[] = [];
    let code = "";
    for (let nonce = 1n; nonce <= 300n && code === ""; nonce++) {
      const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `question ${nonce}` }], max_tokens: 8 });
      // Every ticket keeps cumulative at 0: the user never acknowledges a fee.
      const res = await post(1, body, await rawTicket(user.account, 1, body, { nonce }));
      statuses.push(res.status);
      if (!res.ok) code = ((await res.json()) as { error: { code: string } }).error.code;
      else await res.text();
    }
    expect(code).toBe("ack_required");
    const served = statuses.filter((s) => s === 200).length;
    expect(served).toBeGreaterThan(0);
    const lane = net.providers[1]!.node.store.lane(user.account.address, user.account.address);
    expect(lane.billed).toBeLessThanOrEqual(CREDIT_LIMIT);
    expect(lane.acked).toBe(0n);
  });
});

describe("bad requests at the network's edge", () => {
  const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hello" }], max_tokens: 8 });

  it("refuses a ticket forged for another user's channel", async () => {
    const victim = await net.newUser();
    const forger = privateKeyToAccount(generatePrivateKey());
    const res = await post(1, body, await rawTicket(forger, 1, body, { user: victim.account.address, nonce: 1n }));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("key_not_authorized");
    expect(net.providers[1]!.node.store.lane(victim.account.address, forger.address).billed).toBe(0n);
  });

  it("refuses a replayed ticket and returns the receipt already issued", async () => {
    const user = await net.newUser();
    const ticket = await rawTicket(user.account, 1, body, { nonce: 7n });
    const first = await post(1, body, ticket);
    expect(first.status).toBe(200);
    await first.text();
    const served = net.providers[1]!.upstream!.requests;
    const replay = await post(1, body, ticket);
    expect(replay.status).toBe(409);
    const err = ((await replay.json()) as { error: { code: string; details: { receipt?: unknown } } }).error;
    expect(err.code).toBe("nonce_used");
    expect(err.details.receipt).toBeDefined();
    expect(net.providers[1]!.upstream!.requests).toBe(served); // never executed a second time
  });

  it("refuses an underfunded channel before any work is done", async () => {
    const user = await net.newUser({ fund: 0n });
    const before = net.providers[1]!.upstream!.requests;
    const res = await post(1, body, await rawTicket(user.account, 1, body, { nonce: 1n }));
    expect(res.status).toBe(402);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("insufficient_balance");
    expect(net.providers[1]!.upstream!.requests).toBe(before);
  });
});
