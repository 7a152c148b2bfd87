// ZK-compressed settlement on anvil with the CI circuit (K = 2 vouchers, Q = 1 queue entry, depth 4):
// real Groth16 proofs, real verifier, the whole flow from opening a channel to exiting without the provider.
// Tests run in order and build on each other's chain state.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { parseEventLogs, type LocalAccount } from "viem";
import { deriveZkKey, signZkVoucher, syncZkState, type ZkBatch, type ZkKey } from "@0g-compute/core/zk";
import { zkEscrowAbi } from "../ts/index.js";
import type { LocalWallet } from "../ts/testing.js";
import { LOCK, openAndDeposit, setupZk, type ZkFixture } from "./zk-helpers.js";

describe("ZK settlement on-chain", () => {
  let f: ZkFixture;
  let provider: LocalWallet;
  let u1: LocalWallet;
  let u2: LocalWallet;
  let u3: LocalWallet;
  let k1: ZkKey;
  let k2: ZkKey;
  let leaf1: number;
  let leaf2: number;
  const P = () => provider.account.address;
  const zkProvider = async () => {
    const [root, consumed, length, leaves, zkEarnings, frozen] = await f.escrowAs(provider).read.getZkProvider([P()]);
    return { root, consumed, length, leaves, zkEarnings, frozen };
  };
  const voucher = (key: ZkKey, leafIndex: number, cumulative: bigint) => signZkVoucher(key, { ...f.scope(P()), leafIndex }, cumulative);

  beforeAll(async () => {
    f = await setupZk();
    provider = f.chain.wallet(5);
    u1 = f.chain.wallet(1);
    u2 = f.chain.wallet(2);
    u3 = f.chain.wallet(3);
    k1 = await deriveZkKey(u1.account as LocalAccount, f.chain.chain.id, f.zk.escrow);
    k2 = await deriveZkKey(u2.account as LocalAccount, f.chain.chain.id, f.zk.escrow);
  }, 600_000);
  afterAll(async () => {
    await f?.stop();
  });

  it("a channel is in one mode: ZK needs an empty voucher channel, and refuses voucher-mode funding", async () => {
    const k3 = await deriveZkKey(u3.account as LocalAccount, f.chain.chain.id, f.zk.escrow);
    await f.mined(f.escrowAs(u3).write.depositAndFund([P()], { value: 100n }));
    await expect(f.escrowAs(u3).write.openZkChannel([P(), k3.publicKey[0], k3.publicKey[1]])).rejects.toThrow(/ChannelNotEmpty/);

    leaf1 = await openAndDeposit(f, u1, k1, P(), 1000n);
    leaf2 = await openAndDeposit(f, u2, k2, P(), 500n);
    expect([leaf1, leaf2]).toEqual([0, 1]);
    await expect(f.escrowAs(u1).write.depositAndFund([P()], { value: 1n })).rejects.toThrow(/ChannelInZkMode/);
    // One unconsumed deposit per channel.
    await expect(f.escrowAs(u1).write.zkDeposit([P()], { value: 1n })).rejects.toThrow(/DepositPending/);
    expect(await zkProvider()).toMatchObject({ consumed: 0n, length: 2n, leaves: 2, frozen: false });
  });

  it("one proof settles many users with O(1) storage; never more than signed or deposited; no replay, no other provider", async () => {
    // Proof A: consumes u1's deposit (Q = 1), then pays u1's voucher of 300.
    const a = await f.batch(P(), [voucher(k1, leaf1, 300n)]);
    expect(a.nQueue).toBe(1);
    const receiptA = await f.settle(provider, a, await f.prove(a));
    const settled = parseEventLogs({ abi: zkEscrowAbi, logs: receiptA.logs, eventName: "ZkSettled" });
    expect(settled[0]?.args.amount).toBe(300n);
    // O(1) storage: the root and one counter slot change, whatever the number of users.
    expect((await zkProvider()).root).toBe(a.call.newRoot);

    // Proof B: consumes u2's deposit; u1 moves to 700 (+400), u2 signed 900 but deposited 500 (+500).
    const b = await f.batch(P(), [voucher(k1, leaf1, 700n), voucher(k2, leaf2, 900n)]);
    expect(b.applied.map((x) => x.delta)).toEqual([400n, 500n]);
    const proofB = await f.prove(b);
    const tampered = (over: Partial<ZkBatch["call"]>): ZkBatch => ({ ...b, call: { ...b.call, ...over } });
    await expect(f.settle(provider, tampered({ amount: b.call.amount + 1n }), proofB)).rejects.toThrow(/InvalidProof/);
    await expect(f.settle(provider, tampered({ data: `${b.call.data.slice(0, -2)}ff` as `0x${string}` }), proofB)).rejects.toThrow(
      /InvalidProof/,
    );
    // The same proof for another provider (its tree, queue and domain differ).
    await expect(f.settle(provider, b, proofB, u3.account.address)).rejects.toThrow(/InvalidProof/);
    await f.settle(provider, b, proofB);
    // Replay: the root moved on.
    await expect(f.settle(provider, b, proofB)).rejects.toThrow(/InvalidProof/);

    const state = await syncZkState(f.chain.publicClient, f.zk.escrow, P(), f.art.config.depth);
    expect(state.tree.get(leaf1)).toMatchObject({ funded: 1000n, paid: 700n });
    expect(state.tree.get(leaf2)).toMatchObject({ funded: 500n, paid: 500n });
    expect((await zkProvider()).zkEarnings).toBe(1200n);
    await f.mined(f.escrowAs(provider).write.claimZkEarnings());
    expect(await f.escrowAs(provider).read.earnings([P()])).toBe(1200n);
  });

  it("exit after the lock from the last proven root, from chain data alone; a proof in flight cannot spend the same funds", async () => {
    await f.mined(f.escrowAs(u1).write.zkRequestWithdraw([P(), 10_000n]));
    // The provider proves u1's newest voucher (1000: +300) but has not submitted it when u1 exits.
    const inFlight = await f.batch(P(), [voucher(k1, leaf1, 1000n)]);
    const proof = await f.prove(inFlight);
    await f.chain.increaseTime(LOCK);

    const state = await syncZkState(f.chain.publicClient, f.zk.escrow, P(), f.art.config.depth);
    const { leaf, siblings } = state.tree.proof(leaf1);
    const ledgerBefore = await f.escrowAs(u1).read.ledger([u1.account.address]);
    await f.mined(f.escrowAs(u1).write.zkExecuteWithdraw([P(), leaf.funded, leaf.paid, siblings]));
    expect((await f.escrowAs(u1).read.ledger([u1.account.address])) - ledgerBefore).toBe(300n);
    await expect(f.settle(provider, inFlight, proof)).rejects.toThrow(/InvalidProof/);

    // Emptied with nothing queued: the channel is back in voucher mode, where its funding works again.
    expect((await f.escrowAs(u1).read.getZkChannel([u1.account.address, P()])).active).toBe(false);
    await f.mined(f.escrowAs(u1).write.depositAndFund([P()], { value: 10n }));
    // And the indexer still reproduces the root after the contract rewrote it.
    const after = await syncZkState(f.chain.publicClient, f.zk.escrow, P(), f.art.config.depth);
    expect(after.tree.root).toBe((await zkProvider()).root);
    expect(after.tree.get(leaf1)).toMatchObject({ funded: 700n, paid: 700n });
  });

  it("deposits are honoured: a proof that skips a queued deposit is rejected", async () => {
    await f.mined(f.escrowAs(u2).write.zkDeposit([P()], { value: 200n }));
    const skipping = await f.batch(P(), [], { pendingQueue: [] });
    expect(skipping.nQueue).toBe(0);
    await expect(f.settle(provider, skipping, await f.prove(skipping))).rejects.toThrow(/InvalidProof/);
  });

  it("a provider that leaves a deposit unconsumed for the lock is frozen for good; the deposit comes back", async () => {
    await f.chain.increaseTime(LOCK);
    expect((await zkProvider()).frozen).toBe(true);
    const honest = await f.batch(P(), []);
    await expect(f.settle(provider, honest, await f.prove(honest))).rejects.toThrow(/ZkFrozen/);
    const before = await f.escrowAs(u2).read.ledger([u2.account.address]);
    await f.mined(f.escrowAs(u2).write.zkReclaimDeposit([P()]));
    expect((await f.escrowAs(u2).read.ledger([u2.account.address])) - before).toBe(200n);
    await expect(f.escrowAs(u2).write.zkReclaimDeposit([P()])).rejects.toThrow(/NothingToReclaim/);
    await expect(f.escrowAs(u2).write.zkDeposit([P()], { value: 1n })).rejects.toThrow(/ZkFrozen/);
  });
});
