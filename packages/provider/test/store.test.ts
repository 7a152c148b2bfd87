// The store's write-through: lane state changes in memory at once, the writes of one turn share one
// commit, and a commit that fails leaves memory as the disk has it.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { escrowDomain, signReceipt, signTicket, ticketDigest, type SignedTicket } from "@0g-compute/core";
import { ProviderStore } from "../src/index.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "0g-store-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const provider = privateKeyToAccount(generatePrivateKey()).address;
const responseKey = privateKeyToAccount(generatePrivateKey());
const user = privateKeyToAccount(generatePrivateKey());
const funds = { balance: 10n ** 18n, pendingWithdraw: 0n, settledByLane: new Map<string, bigint>() };
const policy = { creditLimit: 10n ** 18n };

const ticket = (nonce: bigint, cumulative: bigint): Promise<SignedTicket> =>
  signTicket(user, domain, {
    user: user.address,
    provider,
    nonce,
    cumulative,
    terms: {
      serviceId: keccak256(toHex("svc")),
      serviceVersion: 1,
      inputPrice: 1n,
      outputPrice: 1n,
      maxCost: 100n,
      requestHash: keccak256(toHex(`request ${nonce}`)),
      deadline: 2_000_000_000n,
    },
  });
const admit = (store: ProviderStore, t: SignedTicket) =>
  store.admit({ ticket: t, signer: user.address, digest: ticketDigest(domain, t), funds, policy, now: Number(t.nonce) });
const receiptFor = (t: SignedTicket, fee: bigint) =>
  signReceipt(responseKey, domain, {
    ticketDigest: ticketDigest(domain, t),
    responseHash: keccak256(toHex(`response ${t.nonce}`)),
    inputTokens: 1,
    outputTokens: 1,
    fee,
  });
/** Bill `t`'s request; the promise settles when the receipt is on disk. */
const bill = (store: ProviderStore, t: SignedTicket, receipt: Awaited<ReturnType<typeof receiptFor>>) =>
  store.bill({ user: user.address, signer: user.address, nonce: t.nonce }, receipt);

describe("ProviderStore write-through", () => {
  it("changes memory at once and the disk at the end of the turn, every write of the turn in one commit", async () => {
    const path = join(dir, "turn.db");
    const store = new ProviderStore(path);
    const [t1, t2, t3] = await Promise.all([ticket(1n, 0n), ticket(2n, 0n), ticket(3n, 0n)]);
    const r1 = await receiptFor(t1, 40n);
    // Signed beforehand, so every write below happens in one synchronous run.
    admit(store, t1);
    admit(store, t2);
    const billed = bill(store, t1, r1);
    const commit = store.durable();
    expect(billed).toBe(commit);
    admit(store, t3);
    expect(store.durable()).toBe(commit); // the same turn's writes join the same commit
    // Memory is current before the commit; another connection sees nothing yet.
    expect(store.lane(user.address, user.address)).toMatchObject({ highestNonce: 3n, billed: 40n });
    expect(store.totals().reserved).toBe(200n);
    const reader = new ProviderStore(path);
    expect(reader.lane(user.address, user.address).highestNonce).toBe(0n);
    reader.close();
    await commit;
    const after = new ProviderStore(path);
    expect(after.lane(user.address, user.address)).toMatchObject({ highestNonce: 3n, billed: 40n });
    expect(after.requestByNonce(user.address, user.address, 1n)).toMatchObject({ status: "billed", fee: 40n });
    // Reservations are never written: a process that restarts has none.
    expect(after.totals().reserved).toBe(0n);
    after.close();
    expect(store.durable()).not.toBe(commit); // nothing queued: settled at once
    await store.durable();
    store.close();
  });

  it("a commit that fails rejects its writers and leaves memory as committed; earlier reservations stay", async () => {
    const store = new ProviderStore(join(dir, "fail.db"));
    const [t1, t2, t3] = await Promise.all([ticket(1n, 0n), ticket(2n, 0n), ticket(3n, 0n)]);
    admit(store, t1);
    admit(store, t2);
    await store.durable();
    // The disk refuses the next receipt (as a full disk would).
    store.db.exec("CREATE TRIGGER refuse BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    const r1 = await receiptFor(t1, 40n);
    const admitted = admit(store, t3);
    const billed = bill(store, t1, r1);
    await expect(billed).rejects.toMatchObject({ code: "STORE_COMMIT_FAILED", message: "the database refused a commit: disk full" });
    await expect(admitted.committed).rejects.toMatchObject({ code: "STORE_COMMIT_FAILED" });
    // Neither the receipt nor the third admission happened: its nonce is free again, nothing was billed.
    expect(store.lane(user.address, user.address)).toMatchObject({ highestNonce: 2n, billed: 0n });
    expect(store.requestByNonce(user.address, user.address, 3n)).toBeUndefined();
    // The second request, admitted in a commit that succeeded, is still in flight and can be billed.
    expect(store.requestByNonce(user.address, user.address, 2n)).toMatchObject({ status: "reserved" });
    expect(store.totals().reserved).toBe(100n);
    store.db.exec("DROP TRIGGER refuse");
    await bill(store, t2, await receiptFor(t2, 7n));
    admit(store, t3);
    await store.durable();
    expect(store.lane(user.address, user.address)).toMatchObject({ highestNonce: 3n, billed: 7n });
    expect(store.totals().reserved).toBe(100n);
    store.close();
  });
});

describe("ProviderStore WAL checkpoints", () => {
  it("run in a worker thread: the store's own connection never checkpoints in a commit, and the WAL is still checkpointed", async () => {
    const path = join(dir, "checkpoint.db");
    const store = new ProviderStore(path);
    // Automatic checkpoints (a sync of the database file inside some commit) are off on this connection.
    expect(store.db.pragma("wal_autocheckpoint", { simple: true })).toBe(0);
    for (let n = 1n; n <= 40n; n++) {
      admit(store, await ticket(n, 0n));
      await store.durable();
    }
    // The worker's passive checkpoint copies the WAL into the database within its interval.
    let checkpointed = false;
    for (let i = 0; i < 40 && !checkpointed; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const [row] = store.db.pragma("wal_checkpoint(NOOP)") as { busy: number; log: number; checkpointed: number }[];
      checkpointed = row!.log > 0 && row!.checkpointed === row!.log;
    }
    expect(checkpointed).toBe(true);
    store.close();
    // The worker's connection is closed before the store's, so the store's close removes the WAL and
    // shared-memory files: nothing is left to be written next to the database after close returns.
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(existsSync(`${path}-shm`)).toBe(false);
    // After close the database holds everything, WAL or not.
    const reopened = new ProviderStore(path);
    expect(reopened.lane(user.address, user.address).highestNonce).toBe(40n);
    reopened.close();
  });
});
