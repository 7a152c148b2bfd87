// PaymentSession's guards on what the client acknowledges: a provider cannot make it sign a
// cumulative of the provider's choosing, and no receipt's fee counts twice.
import { describe, expect, it } from "@jest/globals";
import type { Hex, LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  decodeHeader,
  escrowDomain,
  feeFor,
  MemoryLaneStore,
  PaymentSession,
  responseHash,
  signReceipt,
  signTicket,
  TICKET_HEADER,
  ticketDigest,
  ticketFromWire,
  ticketToWire,
  ZERO_HASH,
  type PaymentSessionOptions,
  type ServiceInfo,
  type SignedTicket,
} from "../src/index.js";

const user = privateKeyToAccount(generatePrivateKey());
const receiptKey = privateKeyToAccount(generatePrivateKey());
const providerAddress = privateKeyToAccount(generatePrivateKey()).address;
const domain = escrowDomain(31337, privateKeyToAccount(generatePrivateKey()).address);
const service: ServiceInfo = {
  id: `0x${"11".repeat(32)}` as Hex,
  provider: providerAddress,
  name: "chat",
  model: "m",
  modelHash: ZERO_HASH,
  quantization: "F32",
  endpoint: "http://127.0.0.1:9",
  inputPrice: 3n,
  outputPrice: 5n,
  version: 1,
  signer: receiptKey.address,
  previousSigner: "0x0000000000000000000000000000000000000000",
  rotatedAt: 0n,
  metadata: {},
  active: true,
};
const session = (extra: Partial<PaymentSessionOptions> = {}) =>
  new PaymentSession({ domain, user: user.address, signer: user, service, store: new MemoryLaneStore(), ackDelayMs: 60_000, ...extra });

/** A receipt for `ticket` over `body`, signed by `key`, billing the given tokens at the ticket's prices. */
async function receiptFor(ticket: SignedTicket, body: string, tokens = { input: 10, output: 20 }, key: LocalAccount = receiptKey) {
  return signReceipt(key, domain, {
    ticketDigest: ticketDigest(domain, ticket),
    responseHash: responseHash(body),
    inputTokens: tokens.input,
    outputTokens: tokens.output,
    fee: feeFor(ticket.terms, tokens.input, tokens.output),
  });
}

/** A stand-in for the provider's `/v1/ack` that records each ack-only ticket and answers `status`. */
function ackEndpoint(status = 200) {
  const seen: SignedTicket[] = [];
  const doFetch = (async (_url: string | URL | Request, init?: RequestInit) => {
    const header = new Headers(init?.headers).get(TICKET_HEADER);
    if (header) seen.push(ticketFromWire(decodeHeader("ticket", header)));
    const body = status === 200 ? "{}" : JSON.stringify({ error: { code: "ack_refused", message: "no" } });
    return new Response(body, { status, headers: { "content-type": "application/json" } });
  }) as typeof fetch;
  return { seen, fetch: doFetch };
}

describe("PaymentSession", () => {
  it("resync adopts a cumulative only from a ticket its own key signed on its own lane", async () => {
    const s = session();
    const terms = s.terms(ZERO_HASH, 0n);
    const base = { user: user.address, provider: providerAddress, nonce: 40n, cumulative: 10n ** 18n, terms };
    // A ticket the provider forged with another key, in the user's name: a huge cumulative.
    const forged = await signTicket(privateKeyToAccount(generatePrivateKey()), domain, base);
    expect(await s.resync({ highestNonce: "40", ticket: ticketToWire(forged) })).toBe(true); // the nonce moves...
    expect((await s.state()).acked).toBe(0n); // ...the cumulative does not
    expect((await s.state()).nextNonce).toBe(41n);
    // The user's own signature, but for another provider or another user: not this lane's either.
    const elsewhere = await signTicket(user, domain, { ...base, provider: privateKeyToAccount(generatePrivateKey()).address });
    await s.resync({ ticket: ticketToWire(elsewhere) });
    const otherUser = await signTicket(user, domain, { ...base, user: privateKeyToAccount(generatePrivateKey()).address });
    await s.resync({ ticket: ticketToWire(otherUser) });
    expect((await s.state()).acked).toBe(0n);
    // Its own ticket on this lane is adopted.
    const own = await signTicket(user, domain, { ...base, cumulative: 1234n });
    expect(await s.resync({ ticket: ticketToWire(own) })).toBe(true);
    expect((await s.state()).acked).toBe(1234n);
  });

  it("counts one receipt's fee once, however often it is presented", async () => {
    const s = session();
    const body = '{"choices":[]}';
    const ticket = await s.signTicket(`0x${"22".repeat(32)}`, 1000n);
    const receipt = await signReceipt(receiptKey, domain, {
      ticketDigest: ticketDigest(domain, ticket),
      responseHash: responseHash(body),
      inputTokens: 10,
      outputTokens: 20,
      fee: feeFor(ticket.terms, 10, 20),
    });
    const observed = { responseHash: responseHash(body) };
    const first = await s.acceptReceipt(ticket, receipt, observed);
    const again = await s.acceptReceipt(ticket, receipt, observed);
    expect(first.fee).toBe(130n);
    expect(first.cumulative).toBe(130n);
    expect(again.cumulative).toBe(130n);
    expect((await s.state()).acked).toBe(130n);
  });

  it("numbers tickets 1, 2, 3... and signs the acknowledged cumulative", async () => {
    const s = session();
    const first = await s.signTicket(ZERO_HASH, 1000n);
    const second = await s.signTicket(ZERO_HASH, 1000n);
    expect([first.nonce, second.nonce]).toEqual([1n, 2n]);
    expect(second.cumulative).toBe(0n);
    await s.acceptReceipt(second, await receiptFor(second, "x"), { responseHash: responseHash("x") });
    const third = await s.signTicket(ZERO_HASH, 1000n);
    expect(third.nonce).toBe(3n);
    expect(third.cumulative).toBe(130n);
  });

  it("sets deadlines on the provider's clock once it told its time", async () => {
    const s = session({ now: () => 1_000n, ticketLifetimeSeconds: 30 });
    expect(s.terms(ZERO_HASH, 0n).deadline).toBe(1_030n);
    expect(s.adoptProviderClock({ now: "1500" })).toBe(true);
    expect(s.terms(ZERO_HASH, 0n).deadline).toBe(1_530n);
    expect(s.adoptProviderClock({ now: "1500" })).toBe(false); // nothing new
    expect(s.adoptProviderClock({ now: "soon" })).toBe(false);
    expect(s.adoptProviderClock(undefined)).toBe(false);
    expect(s.adoptProviderClock({ now: 2000 })).toBe(false); // a decimal string, not a number
    expect(s.adoptProviderClock({ now: "9".repeat(20) })).toBe(false); // wider than a uint64
    expect(s.terms(ZERO_HASH, 0n).deadline).toBe(1_530n);
  });

  it("accepts receipts from the service's previous signer during a rotation, never from another key", async () => {
    const previous = privateKeyToAccount(generatePrivateKey());
    const stranger = privateKeyToAccount(generatePrivateKey());
    const rotated = new PaymentSession({
      domain,
      user: user.address,
      signer: user,
      service: { ...service, previousSigner: previous.address },
      store: new MemoryLaneStore(),
      ackDelayMs: 60_000,
    });
    const ticket = await rotated.signTicket(ZERO_HASH, 1000n);
    const observed = { responseHash: responseHash("x") };
    expect((await rotated.acceptReceipt(ticket, await receiptFor(ticket, "x", undefined, previous), observed)).fee).toBe(130n);
    const other = await rotated.signTicket(ZERO_HASH, 1000n);
    await expect(rotated.acceptReceipt(other, await receiptFor(other, "x", undefined, stranger), observed)).rejects.toMatchObject({
      code: "RECEIPT_INVALID",
    });
    // Without a rotation the previous key is nobody.
    const plain = session();
    const t = await plain.signTicket(ZERO_HASH, 1000n);
    await expect(plain.acceptReceipt(t, await receiptFor(t, "x", undefined, previous), observed)).rejects.toMatchObject({
      code: "RECEIPT_INVALID",
    });
  });

  it("refuses a receipt billing more tokens than the client observed, acknowledging nothing", async () => {
    const s = session();
    const body = "answer";
    const observed = { responseHash: responseHash(body), maxInputTokens: 10, maxOutputTokens: 20 };
    const overOutput = await s.signTicket(ZERO_HASH, 10_000n);
    await expect(
      s.acceptReceipt(overOutput, await receiptFor(overOutput, body, { input: 10, output: 21 }), observed),
    ).rejects.toMatchObject({
      code: "RECEIPT_INVALID",
    });
    const overInput = await s.signTicket(ZERO_HASH, 10_000n);
    await expect(s.acceptReceipt(overInput, await receiptFor(overInput, body, { input: 11, output: 20 }), observed)).rejects.toMatchObject({
      code: "RECEIPT_INVALID",
    });
    expect((await s.state()).acked).toBe(0n);
    const atBounds = await s.signTicket(ZERO_HASH, 10_000n);
    expect((await s.acceptReceipt(atBounds, await receiptFor(atBounds, body, { input: 10, output: 20 }), observed)).fee).toBe(130n);
  });

  it("resync ignores malformed or lower nonces and never lowers what it acknowledged", async () => {
    const s = session();
    const t = await s.signTicket(ZERO_HASH, 0n);
    expect(t.nonce).toBe(1n);
    for (const bad of ["abc", "12x", "x12", "-5", "", 7]) expect(await s.resync({ highestNonce: bad })).toBe(false);
    expect(await s.resync(undefined)).toBe(false);
    expect((await s.state()).nextNonce).toBe(2n);
    expect(await s.resync({ highestNonce: "1" })).toBe(false); // already above it
    expect(await s.resync({ highestNonce: "2" })).toBe(true);
    expect((await s.state()).nextNonce).toBe(3n);
    // A provider that reports a lower highest nonce never moves the next one down (that would reuse nonces).
    await s.signTicket(ZERO_HASH, 0n);
    await s.signTicket(ZERO_HASH, 0n);
    expect((await s.state()).nextNonce).toBe(5n);
    expect(await s.resync({ highestNonce: "1" })).toBe(false);
    expect((await s.state()).nextNonce).toBe(5n);
    const own = (cumulative: bigint) =>
      signTicket(user, domain, { user: user.address, provider: providerAddress, nonce: 1n, cumulative, terms: s.terms(ZERO_HASH, 0n) });
    expect(await s.resync({ ticket: ticketToWire(await own(500n)) })).toBe(true);
    expect(await s.resync({ ticket: ticketToWire(await own(200n)) })).toBe(false);
    expect((await s.state()).acked).toBe(500n);
    expect((await s.state()).sentCumulative).toBe(500n); // the provider holds it: no ack-only ticket owed
    expect(await s.resync({ ticket: "not a ticket" })).toBe(false);
  });

  it("sends an ack-only ticket only for fees the provider has not seen, and again after a refused one", async () => {
    const refusing = ackEndpoint(503);
    const s = session({ fetch: refusing.fetch });
    await s.flushAck(); // nothing verified: nothing to send
    expect(refusing.seen).toHaveLength(0);
    const ticket = await s.signTicket(ZERO_HASH, 1000n);
    await s.acceptReceipt(ticket, await receiptFor(ticket, "x"), { responseHash: responseHash("x") });
    await expect(s.flushAck()).rejects.toMatchObject({ code: "PROVIDER_ACK_REFUSED", status: 503 });
    expect(refusing.seen.map((t) => [t.cumulative, t.terms.maxCost])).toEqual([[130n, 0n]]);
    expect((await s.state()).sentCumulative).toBe(0n); // refused: still owed
  });

  it("gives up an acknowledgement the provider never answers, and owes it still", async () => {
    // A provider that holds /v1/ack open: only the session's own timeout ends the wait.
    const holding = (async (_url: string | URL | Request, init?: RequestInit) =>
      new Promise<Response>((_, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)))) as typeof fetch;
    const s = session({ fetch: holding, ackTimeoutMs: 50 });
    const ticket = await s.signTicket(ZERO_HASH, 1000n);
    await s.acceptReceipt(ticket, await receiptFor(ticket, "x"), { responseHash: responseHash("x") });
    await expect(s.flushAck()).rejects.toMatchObject({ name: "TimeoutError" });
    expect((await s.state()).sentCumulative).toBe(0n);
  });

  it("records what the provider accepted and never moves it back", async () => {
    const endpoint = ackEndpoint();
    const s = session({ fetch: endpoint.fetch });
    const ticket = await s.signTicket(ZERO_HASH, 1000n);
    await s.acceptReceipt(ticket, await receiptFor(ticket, "x"), { responseHash: responseHash("x") });
    await s.flushAck();
    expect(endpoint.seen.map((t) => t.cumulative)).toEqual([130n]);
    expect((await s.state()).sentCumulative).toBe(130n);
    await s.delivered(ticket); // an older ticket (cumulative 0) answered late
    expect((await s.state()).sentCumulative).toBe(130n);
    await s.flushAck(); // nothing new
    expect(endpoint.seen).toHaveLength(1);
  });
});
