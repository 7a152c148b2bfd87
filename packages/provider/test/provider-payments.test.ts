import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { Address, LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { inputTokenBound, ProviderError, ticketDigest, escrowDomain, ticketFromWire, decodeHeader } from "@0g-compute/core";
import { UpstreamBackend } from "../src/index.js";
import { startFakeUpstream, type FakeUpstream } from "../src/testing/fake-upstream.js";
import { INPUT_PRICE, OUTPUT_PRICE, post, startProviderFixture, type ProviderFixture } from "./helpers.js";

const BASE = "http://0g.invalid/v1";
const MODEL = "fake-model";
const ask = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 8, ...extra });

describe("provider payments: credit, session keys, cut streams, settlement", () => {
  let f: ProviderFixture;
  let upstream: FakeUpstream;
  let provider: Address;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    f = await startProviderFixture(
      () => new UpstreamBackend({ baseUrl: upstream.url, models: [{ id: MODEL, contextLength: 2048 }] }),
      MODEL,
      {
        creditLimit: 5n * 10n ** 8n,
        baseCreditShare: 1, // a flat limit here; the ramp has its own tests
        settlement: { minValueWei: 10n ** 30n, intervalMs: 60_000, marginSeconds: 60n },
      },
    );
    provider = (await f.node.status()).provider as Address;
  });
  afterAll(async () => {
    await f?.stop();
    await upstream?.close();
  });

  it("H2: a client that never acknowledges is stopped at the credit limit with 402 ack_required", async () => {
    const dave = await f.user(5, 10n ** 16n);
    const statuses: number[] = [];
    for (let i = 1; i <= 30; i++) {
      const body = ask(`q${i}`);
      // Always cumulative 0: it never acknowledges a receipt.
      const res = await post(
        f.node.url,
        body,
        await f.rawTicket(dave.account as LocalAccount, body, { nonce: BigInt(i), terms: { maxCost: 4n * 10n ** 8n } }),
      );
      statuses.push(res.status);
      const json = (await res.json()) as { error?: { code: string } };
      if (res.status === 402) {
        expect(json.error?.code).toBe("ack_required");
        break;
      }
    }
    expect(statuses.at(-1)).toBe(402);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    // An honest client with the same funds keeps going: it acknowledges in every ticket.
    const paid = f.paid(await f.user(6, 10n ** 16n));
    for (let i = 0; i < 12; i++) await (await paid(`${BASE}/chat/completions`, { method: "POST", body: ask(`h${i}`) })).text();
    expect(paid.receipts).toHaveLength(12);
    await paid.close();
  });

  it("session keys: an agent pays with a capped key, never the main key; the cap and the authorization are enforced", async () => {
    const erin = await f.user(7, 10n ** 16n);
    const key = privateKeyToAccount(generatePrivateKey());
    const unauthorized = f.paid(erin, { signer: key });
    const err = await unauthorized(`${BASE}/chat/completions`, { method: "POST", body: ask("hi") }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401, providerCode: "key_not_authorized" });

    // A cap that covers exactly one request's maximum cost.
    const hi = ask("hi");
    const cap = BigInt(inputTokenBound(JSON.parse(hi), hi.length)) * INPUT_PRICE + 8n * OUTPUT_PRICE + 1n;
    await erin.authorizeSessionKey(provider, key.address, cap, (await f.chain.now()) + 86_400n);
    const agent = f.paid(erin, { signer: key });
    const res = await agent(`${BASE}/chat/completions`, { method: "POST", body: ask("hi") });
    expect(res.status).toBe(200);
    await res.text();
    expect(agent.receipts[0]?.ticket.user).toBe(erin.address);
    // The lane belongs to the key; the next request would exceed its lifetime cap.
    const capped = await agent(`${BASE}/chat/completions`, { method: "POST", body: ask("again") }).catch((e: unknown) => e);
    expect(capped).toBeInstanceOf(ProviderError);
    expect(capped).toMatchObject({ status: 402, providerCode: "session_cap" });
    await agent.close();
    await unauthorized.close();
  });

  it("the same ticket signed by the owner and by a session key is two requests on two lanes", async () => {
    // A ticket digest does not name the signing key: both lanes may send identical tickets.
    const ivy = await f.user(4, 10n ** 16n);
    const key = privateKeyToAccount(generatePrivateKey());
    await ivy.authorizeSessionKey(provider, key.address, 10n ** 15n, (await f.chain.now()) + 86_400n);
    const body = ask("same ticket twice");
    const terms = { maxCost: 4n * 10n ** 8n, deadline: (await f.chain.now()) + 600n };
    const owner = await f.rawTicket(ivy.account as LocalAccount, body, { nonce: 1n, terms });
    const keyed = await f.rawTicket(key, body, { user: ivy.address, nonce: 1n, terms });
    for (const ticket of [owner, keyed]) {
      const res = await post(f.node.url, body, ticket);
      expect(res.status).toBe(200);
      await res.text();
    }
    expect(f.node.store.lane(ivy.address, ivy.address).billed).toBeGreaterThan(0n);
    expect(f.node.store.lane(ivy.address, key.address).billed).toBe(f.node.store.lane(ivy.address, ivy.address).billed);
    const d = ticketDigest(escrowDomain(f.chain.chain.id, f.chain.deployment.escrow), ticketFromWire(decodeHeader("ticket", keyed)));
    for (const signer of [ivy.address, key.address]) {
      const r = await fetch(`${f.node.url}/v1/receipts/${d}?signer=${signer}`);
      expect(r.status).toBe(200);
    }
  });

  it("M2: a client that disconnects mid-stream is billed only what was produced, and can fetch the receipt later", async () => {
    const frank = await f.user(8, 10n ** 16n);
    const body = ask("long answer please", { stream: true, max_tokens: 7 });
    const header = await f.rawTicket(frank.account as LocalAccount, body, { nonce: 1n, terms: { maxCost: 4n * 10n ** 8n } });
    upstream.mode = "slow";
    upstream.slowMs = 150;
    const controller = new AbortController();
    const res = await fetch(`${f.node.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-0g-ticket": header },
      body,
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read(); // the first chunk arrived
    controller.abort();
    await reader.cancel().catch(() => undefined);
    const digest = ticketDigest(escrowDomain(f.chain.chain.id, f.chain.deployment.escrow), ticketFromWire(decodeHeader("ticket", header)));
    let receipt: { outputTokens: number; fee: string } | undefined;
    for (let i = 0; i < 50 && !receipt; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await fetch(`${f.node.url}/v1/receipts/${digest}`);
      if (r.status === 200) receipt = ((await r.json()) as { receipt: { outputTokens: number; fee: string } }).receipt;
    }
    upstream.mode = "ok";
    upstream.slowMs = 50;
    expect(receipt).toBeDefined();
    expect(receipt!.outputTokens).toBeGreaterThanOrEqual(1);
    expect(receipt!.outputTokens).toBeLessThan(7);
    expect(f.node.store.request(digest)?.status).toBe("billed");
  });

  it("settles the newest vouchers in one batch; a withdrawal request makes a channel urgent; a second run finds nothing", async () => {
    const gina = await f.user(9, 10n ** 16n);
    const paid = f.paid(gina);
    for (let i = 0; i < 3; i++) await (await paid(`${BASE}/chat/completions`, { method: "POST", body: ask(`s${i}`) })).text();
    await paid.close();
    const owed = paid.receipts.reduce((s, r) => s + r.fee, 0n);
    expect(f.node.store.lane(gina.address, gina.address).acked).toBe(owed);

    // Below the value threshold and nothing urgent: the loop waits.
    const idle = await f.node.settler.run();
    expect(idle.reason).toBe("below-gas-cost");

    // A withdrawal request near unlock: the loop settles now, whatever the value.
    await gina.requestWithdraw(provider, "all");
    await f.node.chain.poll();
    const urgent = await f.node.settler.run();
    expect(urgent.txHash).toBeDefined();
    const channel = await gina.channel(provider);
    expect(channel.ownerSettled).toBe(owed);
    expect(f.node.store.lane(gina.address, gina.address).settled).toBe(owed);

    // Forced run: everything left, then nothing.
    const forced = await f.node.settle();
    expect(forced.items).toBeGreaterThanOrEqual(0);
    const again = await f.node.settle();
    expect(again.reason).toBe("nothing-due");
    const status = await f.node.status();
    expect(BigInt(status.earnings)).toBeGreaterThanOrEqual(owed);
    expect(status.settlements.length).toBeGreaterThanOrEqual(1);

    // The user's withdrawal after the lock pays the balance minus what was settled.
    await f.chain.increaseTime(600n);
    const done = await gina.completeWithdraw(provider);
    expect(done.amount).toBe(10n ** 16n - owed);
  });

  it("the admin API needs its token and reports status", async () => {
    const denied = await fetch(`${f.node.adminUrl}/admin/status`);
    expect(denied.status).toBe(401);
    // A token of another length, and one of the same length, are both refused.
    for (const wrong of ["x", "y".repeat(f.adminToken.length)]) {
      expect((await fetch(`${f.node.adminUrl}/admin/status`, { headers: { authorization: `Bearer ${wrong}` } })).status).toBe(401);
    }
    const auth = { authorization: `Bearer ${f.adminToken}` };
    // A web page of another origin cannot use the admin API even with the token.
    expect((await fetch(`${f.node.adminUrl}/admin/status`, { headers: { ...auth, origin: "https://evil.example" } })).status).toBe(403);
    const ok = await fetch(`${f.node.adminUrl}/admin/status`, { headers: auth });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ provider, backend: "upstream", models: [MODEL] });
    // Metrics are the operator's: on the admin listener, behind the token; not on the public one.
    expect((await fetch(`${f.node.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${f.node.adminUrl}/metrics`)).status).toBe(401);
    const metrics = await (await fetch(`${f.node.adminUrl}/metrics`, { headers: auth })).text();
    expect(metrics).toMatch(/zg_provider_requests_total\{outcome="ok"\} \d+/);
    expect(metrics).toMatch(/zg_provider_refusals_total\{code="ack_required"\} 1/);
  });

  it("a deposit made a moment ago counts: before refusing for lack of funds the node reads the chain again", async () => {
    // Cached channel state that neither expires nor hears events during the test.
    await f.restart({ cacheMs: 600_000, pollMs: 600_000 });
    const hana = await f.user(3);
    const first = ask("before the deposit");
    const refused = await post(
      f.node.url,
      first,
      await f.rawTicket(hana.account as LocalAccount, first, { nonce: 1n, terms: { maxCost: 4n * 10n ** 8n } }),
    );
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("insufficient_balance");
    await hana.depositAndFund(provider, 10n ** 16n);
    await new Promise((r) => setTimeout(r, 1100)); // one fresh read per user per second
    const second = ask("after the deposit");
    const served = await post(
      f.node.url,
      second,
      await f.rawTicket(hana.account as LocalAccount, second, { nonce: 2n, terms: { maxCost: 4n * 10n ** 8n } }),
    );
    expect(served.status).toBe(200);
    await served.text();
  });
});
