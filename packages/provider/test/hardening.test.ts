// Attacks a key with no deposit can try on a public provider, and the checks that stop them.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { request as httpRequest } from "node:http";
import type { Address, Hex, LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  decodeHeader,
  encodeHeader,
  escrowDomain,
  receiptFromWire,
  RECEIPT_HEADER,
  signTicket,
  TICKET_HEADER,
  ticketFromWire,
  ticketToWire,
  ZERO_HASH,
} from "@0g-compute/core";
import { UpstreamBackend } from "../src/index.js";
import { startFakeUpstream, type FakeUpstream } from "../src/testing/fake-upstream.js";
import { post, startProviderFixture, type ProviderFixture } from "./helpers.js";

const MODEL = "fake-model";
const ask = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 8, ...extra });
const errorCode = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code });
const stranger = () => privateKeyToAccount(generatePrivateKey());

/** An upstream backend that counts how often the server asked it to tokenize a prompt. */
class CountingBackend extends UpstreamBackend {
  counted = 0;
  override async countInputTokens(): Promise<number | undefined> {
    this.counted += 1;
    return super.countInputTokens();
  }
}

/**
 * POST with a body that keeps streaming until the response arrives (or `ms` passes): resolves with the
 * status, and how many body bytes had been sent when the answer came.
 */
function postStreaming(
  url: string,
  headers: Record<string, string>,
  ms = 5000,
): Promise<{ status: number; sentBytes: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(`${url}/v1/chat/completions`);
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "content-type": "application/json", ...headers } },
      (res) => {
        clearInterval(timer);
        const atAnswer = sent;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, sentBytes: atAnswer, body });
        });
      },
    );
    req.on("error", (err) => {
      clearInterval(timer);
      reject(err);
    });
    const chunk = Buffer.alloc(16 * 1024, "a");
    req.write('{"model":"fake-model","messages":[{"role":"user","content":"');
    timer = setInterval(() => {
      req.write(chunk);
      sent += chunk.length;
    }, 10);
    setTimeout(() => {
      clearInterval(timer);
      req.destroy(new Error(`no answer within ${ms} ms (${sent} bytes sent)`));
    }, ms).unref();
  });
}

describe("a key without a deposit cannot make the node work, store or settle for free", () => {
  let f: ProviderFixture;
  let upstream: FakeUpstream;
  let backend: CountingBackend;
  let provider: Address;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    f = await startProviderFixture(
      () => (backend = new CountingBackend({ baseUrl: upstream.url, models: [{ id: MODEL, contextLength: 2048 }] })),
      MODEL,
      {
        creditLimit: 10n ** 12n,
        baseCreditShare: 1,
        maxBodyBytes: 256 * 1024,
      },
    );
    provider = (await f.node.status()).provider as Address;
  });
  afterAll(async () => {
    await f?.stop();
    await upstream?.close();
  });

  /** An ack-only ticket's header. */
  const ackTicket = (signer: LocalAccount, nonce: bigint, cumulative: bigint, user?: Hex) =>
    f.rawTicket(signer, "", { nonce, cumulative, ...(user ? { user } : {}), terms: { maxCost: 0n, requestHash: ZERO_HASH } });
  const ack = async (header: string) => fetch(`${f.node.url}/v1/ack`, { method: "POST", headers: { [TICKET_HEADER]: header } });

  it("an incoming integer wider than its on-chain type is a 400 wire error, never stored (2^128 would make every batch unencodable)", async () => {
    const key = stranger();
    const header = await ackTicket(key, 1n, 1n);
    const wire = ticketToWire(ticketFromWire(decodeHeader("ticket", header)));
    const wide = encodeHeader({ ...wire, cumulative: (2n ** 128n).toString() });
    expect(await errorCode(await ack(wide))).toEqual({ status: 400, code: "bad_ticket" });
    const huge = encodeHeader({ ...wire, cumulative: "9".repeat(78) });
    expect(await errorCode(await ack(huge))).toEqual({ status: 400, code: "bad_ticket" });
    // The same on the paid path.
    const body = ask("wide");
    const paidWire = ticketToWire(ticketFromWire(decodeHeader("ticket", await f.rawTicket(key, body))));
    expect(
      await errorCode(
        await post(f.node.url, body, encodeHeader({ ...paidWire, terms: { ...paidWire.terms, maxCost: (2n ** 200n).toString() } })),
      ),
    ).toEqual({ status: 400, code: "bad_ticket" });
    expect(f.node.store.lanesOf(key.address)).toEqual([]);
  });

  it("an acknowledgement from a lane the node never billed is refused and leaves nothing to settle", async () => {
    const key = stranger();
    const res = await ack(await ackTicket(key, 1n, 2n ** 128n - 1n));
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { code: string; details: { billed: string } } }).error).toMatchObject({
      code: "ack_exceeds_billed",
      details: { billed: "0" },
    });
    expect(f.node.store.lanesOf(key.address)).toEqual([]);
    expect(f.node.store.unsettledLanes().filter((l) => l.user.toLowerCase() === key.address.toLowerCase())).toEqual([]);
  });

  it("an acknowledgement is never above what the node billed on that lane", async () => {
    const user = await f.user(5, 10n ** 16n);
    const account = user.account as LocalAccount;
    const body = ask("bill me");
    const served = await post(f.node.url, body, await f.rawTicket(account, body, { nonce: 1n }));
    expect(served.status).toBe(200);
    const fee = receiptFromWire(decodeHeader("receipt", served.headers.get(RECEIPT_HEADER)!)).fee;
    await served.text();
    expect(fee).toBeGreaterThan(0n);
    expect(await errorCode(await ack(await ackTicket(account, 2n, fee + 1n)))).toEqual({ status: 409, code: "ack_exceeds_billed" });
    expect(f.node.store.lane(account.address, account.address).acked).toBe(0n);
    const ok = await ack(await ackTicket(account, 3n, fee));
    expect(ok.status).toBe(200);
    expect(f.node.store.lane(account.address, account.address).acked).toBe(fee);
  });

  it("a request without a ticket is refused before its body is read", async () => {
    const res = await postStreaming(f.node.url, {});
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: "ticket_missing" } });
    expect(res.sentBytes).toBeLessThan(256 * 1024); // answered while the body was still arriving
  });

  it("an unfunded key with a valid ticket is refused before its body is read or its prompt tokenized", async () => {
    const key = stranger();
    const body = ask("x".repeat(200 * 1024)); // below the body limit
    const before = backend.counted;
    const refused = await post(f.node.url, body, await f.rawTicket(key, body));
    expect(await errorCode(refused)).toEqual({ status: 402, code: "insufficient_balance" });
    expect(backend.counted).toBe(before);
    // And it does not wait for the body either: the refusal comes while the body is still streaming.
    const streaming = await postStreaming(f.node.url, { [TICKET_HEADER]: await f.rawTicket(key, "never hashed", { nonce: 2n }) });
    expect(streaming.status).toBe(402);
    expect(streaming.sentBytes).toBeLessThan(256 * 1024);
    expect(f.node.store.lanesOf(key.address)).toEqual([]);
  });

  it("a body above the limit is refused: from its declared length, and while it is read when none is declared", async () => {
    const user = await f.user(6, 10n ** 16n);
    const account = user.account as LocalAccount;
    const big = ask("y".repeat(300 * 1024));
    const declared = await post(f.node.url, big, await f.rawTicket(account, big, { nonce: 1n }));
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { error: { code: string; details: { maxBytes: number } } }).error).toMatchObject({
      code: "request_too_large",
      details: { maxBytes: 256 * 1024 },
    });
    // A declared length above the limit is refused before anything else is looked at.
    expect(await errorCode(await post(f.node.url, big))).toEqual({ status: 413, code: "request_too_large" });
    // Chunked, no length: read up to the limit, then refused (the ticket is valid and funded).
    const chunked = await postStreaming(f.node.url, { [TICKET_HEADER]: await f.rawTicket(account, "whatever", { nonce: 2n }) });
    expect(chunked.status).toBe(413);
    expect(chunked.sentBytes).toBeGreaterThan(200 * 1024);
    expect(chunked.sentBytes).toBeLessThan(2 * 1024 * 1024);
    // Still serving.
    const body = ask("small");
    expect((await post(f.node.url, body, await f.rawTicket(account, body, { nonce: 3n }))).status).toBe(200);
  });

  it("refusals are budgeted per address and per key (429 rate_limited); paid requests are not", async () => {
    await f.restart({
      limits: {
        refusalsPerAddress: { ratePerSecond: 0.01, burst: 4 },
        refusalsPerKey: { ratePerSecond: 0, burst: 0 },
        acksPerKey: { ratePerSecond: 0, burst: 0 },
      },
    });
    const body = ask("no ticket");
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(f.node.url, body)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    expect(await errorCode(await post(f.node.url, body))).toEqual({ status: 429, code: "rate_limited" });

    await f.restart({
      limits: {
        refusalsPerAddress: { ratePerSecond: 0, burst: 0 },
        refusalsPerKey: { ratePerSecond: 0.01, burst: 3 },
        acksPerKey: { ratePerSecond: 0.01, burst: 3 },
      },
    });
    const key = stranger();
    const unfunded: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const b = ask(`free ${i}`);
      unfunded.push((await post(f.node.url, b, await f.rawTicket(key, b, { nonce: BigInt(i) }))).status);
    }
    expect(unfunded).toEqual([402, 402, 402, 429, 429]);
    // Another key has its own budget.
    const other = stranger();
    const b = ask("other");
    expect((await post(f.node.url, b, await f.rawTicket(other, b))).status).toBe(402);
    // A funded user's paid requests never spend a budget.
    const user = await f.user(7, 10n ** 16n);
    const paid = f.paid(user);
    for (let i = 0; i < 8; i++)
      expect((await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body: ask(`paid ${i}`) })).status).toBe(200);
    await paid.close();
    // Acknowledgements are budgeted per key whatever their outcome.
    const acks: number[] = [];
    for (let i = 1; i <= 4; i++) acks.push((await ack(await ackTicket(key, 100n + BigInt(i), 0n))).status);
    expect(acks.slice(0, 3).every((s) => s !== 429)).toBe(true);
    expect(acks[3]).toBe(429);
    await f.restart();
  });

  it("settlement values a voucher by what its channel can pay: vouchers of empty channels never crowd out an honest lane", async () => {
    // Everything earlier tests left due is settled first, so that the honest lane below is the only value.
    await f.node.settle();
    const domain = escrowDomain(f.chain.chain.id, f.chain.deployment.escrow);
    // Vouchers from keys without channels, claiming the most a voucher can, as a store written before
    // acknowledgements were checked could hold them.
    for (let i = 0; i < 5; i++) {
      const key = stranger();
      const t = await signTicket(key, domain, {
        user: key.address,
        provider,
        nonce: 1n,
        cumulative: 2n ** 128n - 1n,
        terms: {
          serviceId: f.serviceId,
          serviceVersion: f.serviceVersion,
          inputPrice: 1n,
          outputPrice: 1n,
          maxCost: 0n,
          requestHash: ZERO_HASH,
          deadline: 1n,
        },
      });
      f.node.store.db
        .prepare("INSERT INTO lanes (user, signer, acked, best_ticket, updated_at) VALUES (?, ?, ?, ?, 0)")
        .run(key.address.toLowerCase(), key.address.toLowerCase(), t.cumulative.toString(), JSON.stringify(ticketToWire(t)));
    }
    // The node reads its lanes when it starts.
    await f.restart({ settlement: { maxBatch: 1 } });
    expect(f.node.store.unsettledLanes().length).toBeGreaterThanOrEqual(5);
    const honest = await f.user(8, 10n ** 16n);
    const paid = f.paid(honest);
    await (await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body: ask("honest") })).text();
    await paid.close();
    const owed = paid.receipts[0]!.fee;
    const run = await f.node.settle();
    expect(run.items).toBe(1);
    expect(run.paid).toBe(owed);
    expect((await honest.channel(provider)).ownerSettled).toBe(owed);
    // Nothing the chain would pay is left: the loop finds nothing due rather than paying zero forever.
    expect((await f.node.settle()).reason).toBe("nothing-due");
  });

  it("a stored voucher that cannot be encoded is set aside; the rest of the batch settles", async () => {
    await f.restart();
    const serve = async (index: number) => {
      const user = await f.user(index, 10n ** 16n);
      const paid = f.paid(user);
      await (await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body: ask(`user ${index}`) })).text();
      await paid.close();
      return user;
    };
    const good = await serve(3);
    const bad = await serve(4);
    // Corrupt the second user's voucher: its signature's v byte is no valid parity.
    const lane = f.node.store.lane(bad.address, bad.address);
    const broken = { ...ticketToWire(lane.bestTicket!), signature: `${lane.bestTicket!.signature.slice(0, 130)}05` };
    f.node.store.db
      .prepare("UPDATE lanes SET best_ticket = ? WHERE user = ? AND signer = ?")
      .run(JSON.stringify(broken), bad.address.toLowerCase(), bad.address.toLowerCase());
    await f.restart(); // the node reads its lanes when it starts
    const owed = f.node.store.lane(good.address, good.address).acked;
    const run = await f.node.settle();
    expect(run.txHash).toBeDefined();
    expect(run.items).toBe(1);
    expect(run.paid).toBe(owed);
    expect((await bad.channel(provider)).ownerSettled).toBe(0n);
  });
});
