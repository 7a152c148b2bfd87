// ProviderStore on its own (no chain, no HTTP): each check of admission and acknowledgement pinned at
// its boundary, and the bookkeeping around it (billing once, releases, settlement records, ZK vouchers).
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256, toHex, type Address, type Hex, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  AdmissionError,
  escrowDomain,
  receiptToWire,
  signReceipt,
  signTicket,
  ticketDigest,
  ticketToWire,
  ZERO_HASH,
  type SignedReceipt,
  type SignedTicket,
} from "@0g-compute/core";
import { creditFor, ProviderStore, type ChannelFunds, type CreditPolicy } from "../src/index.js";

const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const provider = privateKeyToAccount(generatePrivateKey()).address;
const responseKey = privateKeyToAccount(generatePrivateKey());
const LOTS = 10n ** 18n;

let dir: string;
let count = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "0g-store-admission-"));
});
const stores: ProviderStore[] = [];
function open(path = join(dir, `store-${++count}.db`), durability?: "process" | "power"): ProviderStore {
  const store = new ProviderStore(path, durability);
  stores.push(store);
  return store;
}
// One hook, in this order: every store (and its checkpoint worker) closed before the folder is removed.
afterAll(async () => {
  for (const s of stores) if (s.db.open) s.close();
  await rm(dir, { recursive: true, force: true });
});

interface Lane {
  user: LocalAccount;
  key: LocalAccount;
}
/** A channel's owner lane (key = user) or a session-key lane. */
const ownerLane = (): Lane => {
  const user = privateKeyToAccount(generatePrivateKey());
  return { user, key: user };
};
const keyLane = (owner: Lane): Lane => ({ user: owner.user, key: privateKeyToAccount(generatePrivateKey()) });

function ticket(lane: Lane, nonce: bigint, cumulative: bigint, maxCost: bigint): Promise<SignedTicket> {
  return signTicket(lane.key, domain, {
    user: lane.user.address,
    provider,
    nonce,
    cumulative,
    terms: {
      serviceId: keccak256(toHex("svc")),
      serviceVersion: 1,
      inputPrice: 1n,
      outputPrice: 1n,
      maxCost,
      requestHash: maxCost === 0n ? ZERO_HASH : keccak256(toHex(`request ${nonce}`)),
      deadline: 2_000_000_000n,
    },
  });
}

const funds = (balance = LOTS, over: Partial<ChannelFunds> = {}): ChannelFunds => ({
  balance,
  pendingWithdraw: 0n,
  settledByLane: new Map(),
  ...over,
});
const roomy: CreditPolicy = { creditLimit: LOTS };

interface AdmitOptions {
  funds?: ChannelFunds;
  policy?: CreditPolicy;
  now?: number;
  dryRun?: boolean;
}
const admit = (store: ProviderStore, lane: Lane, t: SignedTicket, o: AdmitOptions = {}) =>
  store.admit(
    {
      ticket: t,
      signer: lane.key.address,
      digest: ticketDigest(domain, t),
      funds: o.funds ?? funds(),
      policy: o.policy ?? roomy,
      now: o.now ?? 1000,
    },
    { dryRun: o.dryRun ?? false },
  );
const acknowledge = (store: ProviderStore, lane: Lane, t: SignedTicket, now = 1000) =>
  store.acknowledge({ ticket: t, signer: lane.key.address, digest: ticketDigest(domain, t), now });
const receipt = (t: SignedTicket, fee: bigint): Promise<SignedReceipt> =>
  signReceipt(responseKey, domain, {
    ticketDigest: ticketDigest(domain, t),
    responseHash: keccak256(toHex(`response ${t.nonce}`)),
    inputTokens: 1,
    outputTokens: 1,
    fee,
  });
const keyOf = (lane: Lane, nonce: bigint) => ({ user: lane.user.address, signer: lane.key.address, nonce });

/** Admit and bill one request of `fee` on a lane. */
async function serve(
  store: ProviderStore,
  lane: Lane,
  nonce: bigint,
  cumulative: bigint,
  fee: bigint,
  o: AdmitOptions = {},
): Promise<SignedReceipt> {
  const t = await ticket(lane, nonce, cumulative, fee > 0n ? fee : 1n);
  admit(store, lane, t, o);
  const r = await receipt(t, fee);
  store.bill(keyOf(lane, nonce), r);
  await store.durable();
  return r;
}

/** The refusal of `fn` as `code` and details, or "admitted". */
function refusal(fn: () => unknown): { code: string; details: Record<string, unknown> | undefined } | "admitted" {
  try {
    fn();
    return "admitted";
  } catch (e) {
    if (!(e instanceof AdmissionError)) throw e;
    return { code: e.protocolCode, details: e.details };
  }
}
const codeOf = (fn: () => unknown) => {
  const r = refusal(fn);
  return r === "admitted" ? r : r.code;
};
const lower = (a: Address) => a.toLowerCase();

describe("ProviderStore admission", () => {
  it("marks nonces durably per lane; a replay is refused with the lane's state and the stored receipt", async () => {
    const path = join(dir, "replay.db");
    const store = open(path);
    const lane = ownerLane();
    const first = await ticket(lane, 1n, 0n, 100n);
    admit(store, lane, first);
    const r = await receipt(first, 60n);
    store.bill(keyOf(lane, 1n), r);
    await store.durable(); // a receipt is sent once committed; a replay finds it from then on
    const replay = refusal(() => admit(store, lane, first));
    expect(replay).toEqual({
      code: "nonce_used",
      details: { highestNonce: "1", acked: "0", ticket: ticketToWire(first), receipt: receiptToWire(r) },
    });
    // A nonce seen but never answered: no receipt in the details.
    const second = await ticket(lane, 2n, 0n, 100n);
    admit(store, lane, second);
    expect(refusal(() => admit(store, lane, second))).toEqual({
      code: "nonce_used",
      details: { highestNonce: "2", acked: "0", ticket: ticketToWire(first) },
    });
    store.close();
    // After a restart the marks are still there; the nonce window survives in full.
    const reopened = open(path);
    expect(codeOf(() => admit(reopened, lane, first))).toBe("nonce_used");
    expect(codeOf(() => admit(reopened, lane, second))).toBe("nonce_used");
    expect(reopened.lane(lane.user.address, lane.key.address)).toMatchObject({ highestNonce: 2n, billed: 60n });
    // A session key's lane on the same channel has its own window.
    const agent = keyLane(lane);
    expect(codeOf(() => admit(reopened, agent, first))).toBe("admitted");
  });

  it("a window older than the nonce is refused too, with the lane's state", async () => {
    const store = open();
    const lane = ownerLane();
    admit(store, lane, await ticket(lane, 300n, 0n, 1n));
    const old = await ticket(lane, 44n, 0n, 1n);
    expect(refusal(() => admit(store, lane, old))).toMatchObject({ code: "nonce_too_old", details: { highestNonce: "300" } });
  });

  it("a lane's acknowledged cumulative never goes down for a newer nonce; an older ticket arriving late is still served", async () => {
    const store = open();
    const lane = ownerLane();
    await serve(store, lane, 1n, 0n, 100n);
    const acking = await ticket(lane, 3n, 100n, 10n);
    admit(store, lane, acking);
    expect(store.lane(lane.user.address, lane.key.address)).toMatchObject({ acked: 100n, highestNonce: 3n });
    expect(store.lane(lane.user.address, lane.key.address).bestTicket?.nonce).toBe(3n);
    // A newer nonce with less: refused, and nothing is written (nonce 4 stays usable).
    const lower4 = await ticket(lane, 4n, 99n, 10n);
    expect(refusal(() => admit(store, lane, lower4))).toEqual({
      code: "cumulative_regressed",
      details: { highestNonce: "3", acked: "100", ticket: ticketToWire(acking) },
    });
    expect(store.lane(lane.user.address, lane.key.address).highestNonce).toBe(3n);
    // The same cumulative again is no regression, and keeps the first voucher that reached it.
    admit(store, lane, await ticket(lane, 4n, 100n, 10n));
    expect(store.lane(lane.user.address, lane.key.address).bestTicket?.nonce).toBe(3n);
    // Nonce 2 was signed before the acknowledgement (parallel requests): it is served, the voucher stays.
    admit(store, lane, await ticket(lane, 2n, 0n, 10n));
    const after = store.lane(lane.user.address, lane.key.address);
    expect(after).toMatchObject({ acked: 100n, highestNonce: 4n });
    expect(after.bestTicket?.nonce).toBe(3n);
  });

  it("the first ticket of a lane is its voucher even at cumulative 0", async () => {
    const store = open();
    const lane = ownerLane();
    const t = await ticket(lane, 1n, 0n, 5n);
    const admitted = admit(store, lane, t);
    expect(admitted.lane.bestTicket).toEqual(t);
    expect(store.lane(lane.user.address, lane.key.address).bestTicket).toEqual(t);
    expect(admitted.free).toBe(LOTS);
  });

  it("a dry run checks everything and writes nothing", async () => {
    const store = open();
    const lane = ownerLane();
    const t = await ticket(lane, 1n, 0n, 100n);
    expect(admit(store, lane, t, { dryRun: true })).toMatchObject({ free: LOTS });
    expect(store.lanesOf(lane.user.address)).toEqual([]);
    expect(store.requestByNonce(lane.user.address, lane.key.address, 1n)).toBeUndefined();
    expect(codeOf(() => admit(store, lane, t, { dryRun: true, funds: funds(99n) }))).toBe("insufficient_balance");
    // The real admission of the same ticket then goes through.
    admit(store, lane, t);
    expect(store.requestByNonce(lane.user.address, lane.key.address, 1n)).toMatchObject({ status: "reserved", maxCost: 100n, nonce: 1n });
  });

  it("an ack-only ticket pays for nothing, and an acknowledgement carries nothing else", async () => {
    const store = open();
    const lane = ownerLane();
    const ack = await ticket(lane, 1n, 0n, 0n);
    expect(codeOf(() => admit(store, lane, ack))).toBe("bad_ticket");
    expect(store.lanesOf(lane.user.address)).toEqual([]);
    const paid = await ticket(lane, 1n, 0n, 1n);
    expect(codeOf(() => acknowledge(store, lane, paid))).toBe("bad_ticket");
    expect(store.lanesOf(lane.user.address)).toEqual([]);
  });

  it("an acknowledgement is kept up to what was billed on its lane, never above", async () => {
    const store = open();
    const lane = ownerLane();
    await serve(store, lane, 1n, 0n, 70n);
    const above = await ticket(lane, 2n, 71n, 0n);
    expect(refusal(() => acknowledge(store, lane, above))).toEqual({
      code: "ack_exceeds_billed",
      details: { billed: "70", cumulative: "71" },
    });
    expect(store.lane(lane.user.address, lane.key.address).acked).toBe(0n);
    const exact = await ticket(lane, 3n, 70n, 0n);
    expect(acknowledge(store, lane, exact)).toMatchObject({ free: 0n, lane: { acked: 70n } });
    const stored = store.lane(lane.user.address, lane.key.address);
    expect(stored).toMatchObject({ acked: 70n, highestNonce: 3n, billed: 70n });
    expect(stored.bestTicket).toEqual(exact);
    // Another lane of the channel billed nothing: its key cannot acknowledge anything.
    const agent = keyLane(lane);
    expect(codeOf(() => acknowledge(store, agent, above))).toBe("ack_exceeds_billed");
    // Acknowledgements use the nonce window too.
    expect(codeOf(() => acknowledge(store, lane, exact))).toBe("nonce_used");
  });
});

describe("ProviderStore money checks", () => {
  it("the free balance: balance minus pending withdrawal, unsettled debt and reservations, exactly", async () => {
    const store = open();
    const lane = ownerLane();
    const balance = 1000n;
    const f = funds(balance, { pendingWithdraw: 100n });
    admit(store, lane, await ticket(lane, 1n, 0n, 200n), { funds: f }); // reserved: 200
    // 1000 - 100 - 200 = 700 free.
    expect(admit(store, lane, await ticket(lane, 2n, 0n, 700n), { funds: f, dryRun: true }).free).toBe(700n);
    const t = await ticket(lane, 2n, 0n, 701n);
    expect(refusal(() => admit(store, lane, t, { funds: f }))).toEqual({
      code: "insufficient_balance",
      details: { free: "700", reserved: "200", needed: "701", creditLimit: LOTS.toString(), unacknowledged: "0" },
    });
    // Billing turns the reservation into unsettled debt of the fee only.
    store.bill(keyOf(lane, 1n), await receipt(await ticket(lane, 1n, 0n, 200n), 150n));
    expect(admit(store, lane, await ticket(lane, 3n, 150n, 750n), { funds: f, dryRun: true }).free).toBe(750n);
    // What the chain settled is no longer owed: from the funds read, or from the store when the read has no entry.
    const settled = funds(balance, { pendingWithdraw: 100n, settledByLane: new Map([[lower(lane.key.address), 150n]]) });
    expect(admit(store, lane, await ticket(lane, 3n, 150n, 900n), { funds: settled, dryRun: true }).free).toBe(900n);
    store.setSettled(lane.user.address, lane.key.address, 150n);
    expect(admit(store, lane, await ticket(lane, 3n, 150n, 900n), { funds: f, dryRun: true }).free).toBe(900n);
    // The chain's figure wins over the store's.
    const less = funds(balance, { pendingWithdraw: 100n, settledByLane: new Map([[lower(lane.key.address), 50n]]) });
    expect(admit(store, lane, await ticket(lane, 3n, 150n, 800n), { funds: less, dryRun: true }).free).toBe(800n);
  });

  it("debt is the larger of billed and acknowledged; a chain that settled more leaves no negative debt", async () => {
    const store = open();
    const lane = ownerLane();
    // The user acknowledged 300 on a ticket although nothing was billed yet (a voucher it chose to sign).
    admit(store, lane, await ticket(lane, 1n, 300n, 1n));
    expect(admit(store, lane, await ticket(lane, 2n, 300n, 1n), { funds: funds(1000n), dryRun: true }).free).toBe(1000n - 300n - 1n);
    // Settled above what is owed: the balance is all free (minus reservations), not more.
    const generous = funds(1000n, { settledByLane: new Map([[lower(lane.key.address), 900n]]) });
    expect(admit(store, lane, await ticket(lane, 2n, 300n, 1n), { funds: generous, dryRun: true }).free).toBe(999n);
    // A channel owing more than its balance has nothing free.
    const t = await ticket(lane, 2n, 300n, 1n);
    expect(refusal(() => admit(store, lane, t, { funds: funds(200n) }))).toMatchObject({
      code: "insufficient_balance",
      details: { free: "0", reserved: "1" },
    });
  });

  it("reservations and debt of every lane of the channel count, not those of other channels", async () => {
    const store = open();
    const lane = ownerLane();
    const agent = keyLane(lane);
    const stranger = ownerLane();
    admit(store, lane, await ticket(lane, 1n, 0n, 100n));
    await serve(store, agent, 1n, 0n, 50n);
    admit(store, stranger, await ticket(stranger, 1n, 0n, 500n));
    expect(admit(store, agent, await ticket(agent, 2n, 0n, 1n), { funds: funds(1000n), dryRun: true }).free).toBe(850n);
  });

  it("credit ramps from the base credit with acknowledged history, up to the limit; the bound is exact", async () => {
    expect(creditFor({ creditLimit: 100n, baseCredit: 10n }, 0n)).toBe(10n);
    expect(creditFor({ creditLimit: 100n, baseCredit: 10n }, 89n)).toBe(99n);
    expect(creditFor({ creditLimit: 100n, baseCredit: 10n }, 91n)).toBe(100n);
    expect(creditFor({ creditLimit: 100n }, 0n)).toBe(100n);
    const store = open();
    const lane = ownerLane();
    const policy: CreditPolicy = { creditLimit: 1000n, baseCredit: 100n };
    const t1 = await ticket(lane, 1n, 0n, 101n);
    expect(refusal(() => admit(store, lane, t1, { policy }))).toEqual({
      code: "credit_limit",
      details: { free: LOTS.toString(), reserved: "0", needed: "101", creditLimit: "100", unacknowledged: "0" },
    });
    await serve(store, lane, 2n, 0n, 100n, { policy });
    // 100 billed, unacknowledged: no more credit, and the refusal asks for the acknowledgement.
    const t3 = await ticket(lane, 3n, 0n, 1n);
    expect(refusal(() => admit(store, lane, t3, { policy }))).toMatchObject({
      code: "ack_required",
      details: { unacknowledged: "100", creditLimit: "100" },
    });
    // Acknowledged (this ticket carries it): 100 more credit; reservations count against it.
    admit(store, lane, await ticket(lane, 4n, 100n, 150n), { policy });
    const t5 = await ticket(lane, 5n, 100n, 51n);
    expect(codeOf(() => admit(store, lane, t5, { policy }))).toBe("credit_limit");
    admit(store, lane, await ticket(lane, 5n, 100n, 50n), { policy });
  });

  it("settled history earns credit like acknowledged history", async () => {
    const store = open();
    const lane = ownerLane();
    const policy: CreditPolicy = { creditLimit: 1000n, baseCredit: 100n };
    const settled = funds(LOTS, { settledByLane: new Map([[lower(lane.key.address), 400n]]) });
    admit(store, lane, await ticket(lane, 1n, 0n, 500n), { policy, funds: settled });
    const t = await ticket(lane, 2n, 0n, 1n);
    expect(refusal(() => admit(store, lane, t, { policy, funds: settled }))).toMatchObject({
      code: "credit_limit",
      details: { creditLimit: "500", reserved: "500" },
    });
  });

  it("a fee unacknowledged longer than the deadline stops credit; the age is that of the oldest unacknowledged fee", async () => {
    const store = open();
    const lane = ownerLane();
    const policy: CreditPolicy = { creditLimit: LOTS, ackTimeoutMs: 10_000 };
    await serve(store, lane, 1n, 0n, 100n, { policy, now: 1_000 });
    await serve(store, lane, 2n, 0n, 100n, { policy, now: 5_000 });
    // Nonce 3 acknowledges the first fee: the second (billed at 5 000) is the oldest unacknowledged.
    admit(store, lane, await ticket(lane, 3n, 100n, 1n), { policy, now: 15_000 });
    const late = await ticket(lane, 4n, 100n, 1n);
    const refused = refusal(() => admit(store, lane, late, { policy, now: 15_001 }));
    expect(refused).toMatchObject({
      code: "ack_required",
      details: { unacknowledgedSince: new Date(5_000).toISOString(), unacknowledged: "100" },
    });
    // Acknowledging everything lifts it; without a deadline there is no age limit.
    await serve(store, lane, 4n, 200n, 10n, { policy, now: 100_000 });
    const unbounded = await ticket(lane, 5n, 200n, 1n);
    expect(codeOf(() => admit(store, lane, unbounded, { policy, now: 10 ** 9, dryRun: true }))).toBe("ack_required");
    admit(store, lane, unbounded, { policy: { creditLimit: LOTS }, now: 10 ** 9 });
  });

  it("the age of unacknowledged fees is taken over every lane of the channel", async () => {
    const store = open();
    const lane = ownerLane();
    const agent = keyLane(lane);
    const policy: CreditPolicy = { creditLimit: LOTS, ackTimeoutMs: 10_000 };
    await serve(store, agent, 1n, 0n, 10n, { policy, now: 2_000 });
    await serve(store, lane, 1n, 0n, 10n, { policy, now: 8_000 });
    const t = await ticket(lane, 2n, 0n, 1n);
    expect(refusal(() => admit(store, lane, t, { policy, now: 12_001 }))).toMatchObject({
      code: "ack_required",
      details: { unacknowledgedSince: new Date(2_000).toISOString() },
    });
    admit(store, lane, t, { policy, now: 12_000 });
  });

  it("a session key's lane is held to its cap: its own debt and reservations, not the owner's", async () => {
    const store = open();
    const lane = ownerLane();
    const agent = keyLane(lane);
    const capped: CreditPolicy = { creditLimit: LOTS, laneCap: 300n };
    admit(store, lane, await ticket(lane, 1n, 0n, 10_000n)); // the owner's reservation does not count
    await serve(store, agent, 1n, 0n, 100n, { policy: capped });
    admit(store, agent, await ticket(agent, 2n, 0n, 150n), { policy: capped });
    const t = await ticket(agent, 3n, 0n, 51n);
    expect(refusal(() => admit(store, agent, t, { policy: capped }))).toMatchObject({ code: "session_cap", details: { cap: "300" } });
    admit(store, agent, await ticket(agent, 3n, 0n, 50n), { policy: capped });
    // Debt is the larger of billed, acknowledged and settled on the lane.
    const other = keyLane(lane);
    const settled = funds(LOTS, { settledByLane: new Map([[lower(other.key.address), 250n]]) });
    const t1 = await ticket(other, 1n, 0n, 51n);
    expect(codeOf(() => admit(store, other, t1, { policy: capped, funds: settled }))).toBe("session_cap");
    admit(store, other, await ticket(other, 1n, 0n, 50n), { policy: capped, funds: settled });
    const third = keyLane(lane);
    admit(store, third, await ticket(third, 1n, 280n, 10n), { policy: { creditLimit: LOTS } });
    const t2 = await ticket(third, 2n, 280n, 11n);
    expect(codeOf(() => admit(store, third, t2, { policy: capped }))).toBe("session_cap");
  });
});

describe("ProviderStore bookkeeping", () => {
  it("bills a reserved request once; a released or unknown request cannot be billed", async () => {
    const store = open();
    const lane = ownerLane();
    const t = await ticket(lane, 1n, 0n, 100n);
    admit(store, lane, t);
    const r = await receipt(t, 40n);
    store.bill(keyOf(lane, 1n), r);
    expect(() => store.bill(keyOf(lane, 1n), r)).toThrow(/billed already/);
    await store.durable();
    expect(store.lane(lane.user.address, lane.key.address).billed).toBe(40n);
    expect(store.requestByNonce(lane.user.address, lane.key.address, 1n)).toMatchObject({ status: "billed", fee: 40n, receipt: r });
    await serve(store, lane, 2n, 0n, 2n);
    expect(store.lane(lane.user.address, lane.key.address).billed).toBe(42n);
    // Released stays released: a late receipt is an error, not a fee.
    const t3 = await ticket(lane, 3n, 0n, 100n);
    admit(store, lane, t3);
    store.release(keyOf(lane, 3n));
    expect(() => store.bill(keyOf(lane, 3n), r)).toThrow(/no request .* in flight/);
    expect(() => store.bill(keyOf(lane, 9n), r)).toThrow(/no request .* in flight/);
    expect(store.lane(lane.user.address, lane.key.address).billed).toBe(42n);
    // Releasing a billed request changes nothing.
    store.release(keyOf(lane, 1n));
    expect(store.requestByNonce(lane.user.address, lane.key.address, 1n)?.status).toBe("billed");
  });

  it("a restart ends every reservation, which frees their money; billed fees and vouchers stay", async () => {
    const path = join(dir, "restart.db");
    const store = open(path);
    const lane = ownerLane();
    const inFlight = await ticket(lane, 1n, 0n, 400n);
    admit(store, lane, inFlight);
    admit(store, lane, await ticket(lane, 2n, 0n, 400n));
    await serve(store, lane, 3n, 0n, 5n);
    expect(store.totals()).toEqual({
      lanes: 1,
      billed: 5n,
      acked: 0n,
      settled: 0n,
      reserved: 800n,
      unacknowledged: 5n,
      unacknowledgedLanes: 1,
    });
    expect(admit(store, lane, await ticket(lane, 4n, 0n, 1n), { funds: funds(1000n), dryRun: true }).free).toBe(195n);
    store.close();
    const reopened = open(path);
    expect(reopened.releasedAtOpen).toBe(0);
    expect(reopened.requestByNonce(lane.user.address, lane.key.address, 3n)?.status).toBe("billed");
    expect(reopened.requestByNonce(lane.user.address, lane.key.address, 1n)).toBeUndefined();
    expect(reopened.totals()).toMatchObject({ reserved: 0n, billed: 5n, unacknowledged: 5n });
    expect(admit(reopened, lane, await ticket(lane, 4n, 0n, 1n), { funds: funds(1000n), dryRun: true }).free).toBe(995n);
    // The nonces of the requests that were in flight stay used: they are never run again.
    expect(codeOf(() => admit(reopened, lane, inFlight))).toBe("nonce_used");
  });

  it("finds requests by digest (and signing key), by nonce, and a lane's receipts after a nonce", async () => {
    const store = open();
    const lane = ownerLane();
    const agent = keyLane(lane);
    // The owner and a session key sign the same ticket: two requests on two lanes, one digest.
    const t = await ticket(lane, 1n, 0n, 100n);
    const same = { ...t, signature: (await signTicket(agent.key, domain, t)).signature };
    const digest = ticketDigest(domain, t);
    store.admit({ ticket: t, signer: lane.key.address, digest, funds: funds(), policy: roomy, now: 1 });
    store.admit({ ticket: same, signer: agent.key.address, digest, funds: funds(), policy: roomy, now: 2 });
    // In flight, found by lane and nonce; by digest once billed.
    expect(store.requestByNonce(lane.user.address, agent.key.address, 1n)).toMatchObject({ status: "reserved", digest });
    expect(store.request(digest)).toBeUndefined();
    store.bill(keyOf(agent, 1n), await receipt(t, 6n));
    store.bill(keyOf(lane, 1n), await receipt(t, 7n));
    await store.durable();
    expect(store.request(digest)?.signer).toBe(lower(agent.key.address));
    expect(store.request(digest, lane.key.address)?.signer).toBe(lower(lane.key.address));
    expect(store.request(digest.toUpperCase().replace("0X", "0x") as Hex, agent.key.address)?.createdAt).toBe(2);
    expect(store.request(keccak256(toHex("nothing")))).toBeUndefined();
    await serve(store, lane, 2n, 0n, 8n);
    await serve(store, lane, 3n, 0n, 9n);
    admit(store, lane, await ticket(lane, 4n, 0n, 1n)); // reserved, no receipt
    expect(
      store
        .receiptsAfter(lane.user.address, lane.key.address, 1n)
        .map((r) => r.nonce)
        .sort(),
    ).toEqual([2n, 3n]);
    expect(
      store
        .receiptsAfter(lane.user.address, lane.key.address, 0n)
        .map((r) => r.fee)
        .sort(),
    ).toEqual([7n, 8n, 9n]);
    expect(store.receiptsAfter(agent.user.address, agent.key.address, 0n).map((r) => r.fee)).toEqual([6n]);
    expect(store.receiptsAfter(agent.user.address, agent.key.address, 1n)).toEqual([]);
    expect(store.signersOf(lane.user.address).sort()).toEqual([lower(agent.key.address), lower(lane.key.address)].sort());
    expect(store.lanesOf(lane.user.address)).toHaveLength(2);
  });

  it("lists lanes whose voucher is worth more than the chain settled", async () => {
    const store = open();
    const a = ownerLane();
    const b = ownerLane();
    await serve(store, a, 1n, 0n, 50n);
    admit(store, a, await ticket(a, 2n, 50n, 1n));
    await serve(store, b, 1n, 0n, 50n); // billed, never acknowledged: nothing to settle yet
    expect(store.unsettledLanes().map((l) => l.user)).toEqual([lower(a.user.address)]);
    expect(store.unsettledLanes()[0]?.bestTicket.cumulative).toBe(50n);
    store.setSettled(a.user.address, a.key.address, 49n);
    expect(store.unsettledLanes()).toHaveLength(1);
    store.setSettled(a.user.address, a.key.address, 50n);
    expect(store.unsettledLanes()).toEqual([]);
    expect(store.lane(a.user.address, a.key.address).settled).toBe(50n);
  });

  it("records settlement transactions and updates them in place", async () => {
    const store = open();
    const tx = (i: number) => `0x${i.toString(16).padStart(64, "0")}` as Hex;
    store.recordSettlement(tx(1), "sent", 3, 0n, 0n);
    await new Promise((r) => setTimeout(r, 5));
    store.recordSettlement(tx(2), "sent", 1, 0n, 0n);
    expect(store.settlementsWithStatus("sent")).toEqual([
      { txHash: tx(1), items: 3 },
      { txHash: tx(2), items: 1 },
    ]);
    store.recordSettlement(tx(1), "mined", 3, 70n, 21_000n);
    expect(store.settlementsWithStatus("sent")).toEqual([{ txHash: tx(2), items: 1 }]);
    expect(store.settlements()).toMatchObject([
      { txHash: tx(2), status: "sent" },
      { txHash: tx(1), status: "mined", items: 3, paid: 70n, gasUsed: 21_000n },
    ]);
    expect(store.settlements(1)).toHaveLength(1);
  });

  it("keeps each ZK leaf's newest voucher only", () => {
    const store = open();
    expect(store.putZkVoucher(2, 10n, '{"v":10}')).toBe(10n);
    expect(store.putZkVoucher(2, 10n, '{"v":"again"}')).toBe(10n);
    expect(store.putZkVoucher(2, 9n, '{"v":9}')).toBe(10n);
    expect(store.putZkVoucher(1, 5n, '{"v":5}')).toBe(5n);
    expect(store.putZkVoucher(2, 11n, '{"v":11}')).toBe(11n);
    expect(store.zkVoucherJson()).toEqual(['{"v":5}', '{"v":11}']);
  });

  it("totals and metadata", async () => {
    const store = open();
    const lane = ownerLane();
    await serve(store, lane, 1n, 0n, 30n);
    admit(store, lane, await ticket(lane, 2n, 30n, 12n));
    store.setSettled(lane.user.address, lane.key.address, 20n);
    expect(store.totals()).toEqual({
      lanes: 1,
      billed: 30n,
      acked: 30n,
      settled: 20n,
      reserved: 12n,
      unacknowledged: 0n,
      unacknowledgedLanes: 0,
    });
    expect(store.getMeta("k")).toBeUndefined();
    store.setMeta("k", "1");
    store.setMeta("k", "2");
    expect(store.getMeta("k")).toBe("2");
  });

  it("durability: WAL always; one fsync per commit only when asked for power-loss safety", () => {
    const normal = open();
    const power = open(join(dir, `power-${++count}.db`), "power");
    expect(normal.db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(normal.db.pragma("synchronous", { simple: true })).toBe(1);
    expect(power.db.pragma("synchronous", { simple: true })).toBe(2);
    expect(normal.db.pragma("foreign_keys", { simple: true })).toBe(1);
  });
});
