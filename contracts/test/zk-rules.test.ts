// ZkEscrow's checks on opening, deposits, settlement inputs, withdrawals, exits and freezing, one by one.
// Settlement uses the accepting stand-in verifier (what the proof binds is tested with real proofs in
// zk-settlement.test.ts); the tests keep a copy of the channel tree and settle its root, so that exits
// prove real Merkle paths.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { toFunctionSelector, type Address, type Hash, type LocalAccount } from "viem";
import { escrowDomain } from "@0g-compute/core";
import { hash2, SNARK_FIELD, ZkChannelTree } from "@0g-compute/core/zk";
import { acceptingVerifierAbi, acceptingVerifierBytecode, deployZkEscrow, zkEscrowAbi } from "../ts/index.js";
import type { LocalWallet } from "../ts/testing.js";
import { voucher } from "./helpers.js";
import { setupStandInZk, type StandInZk } from "./zk-helpers.js";

const LOCK = 3600n;
const SHAPE = { batchSize: 2, queueSlots: 2, depth: 4 };
const NO_PROOF = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n] as const;
const TWO_96 = 2n ** 96n;

describe("ZkEscrow rules", () => {
  let f: StandInZk;
  let provider: LocalWallet;
  const P = (): Address => provider.account.address;
  let nextKey = 100n;
  /** The provider's tree as this test knows it, and the deposits not yet in it. */
  const trees = new Map<Address, { tree: ZkChannelTree; queued: { leafIndex: number; keyHash: bigint; amount: bigint }[] }>();
  const model = (p: Address) => {
    let m = trees.get(p);
    if (!m) {
      m = { tree: new ZkChannelTree(SHAPE.depth), queued: [] };
      trees.set(p, m);
    }
    return m;
  };
  const channel = (user: LocalWallet, p = P()) => f.escrowAs(user).read.getZkChannel([user.account.address, p]);

  /** Open a ZK channel for a fresh user with a fresh key. */
  const openFresh = async (p = P()) => {
    const user = await f.freshWallet();
    const key = [nextKey++, 7n] as const;
    await f.mined(f.escrowAs(user).write.openZkChannel([p, key[0], key[1]]));
    return { user, key, keyHash: hash2(key[0], key[1]), leafIndex: (await channel(user, p)).leafIndex };
  };
  const deposit = async (u: { user: LocalWallet; keyHash: bigint; leafIndex: number }, amount: bigint, p = P()) => {
    await f.mined(f.escrowAs(u.user).write.zkDeposit([p], { value: amount }));
    model(p).queued.push({ leafIndex: u.leafIndex, keyHash: u.keyHash, amount });
  };
  /** Settle the next min(pending, Q) deposits into the model, and post its root. */
  const settle = async (p = P(), amount = 0n) => {
    const m = model(p);
    for (const e of m.queued.splice(0, SHAPE.queueSlots)) {
      const leaf = m.tree.get(e.leafIndex);
      m.tree.set(e.leafIndex, { keyHash: e.keyHash, funded: leaf.funded + e.amount, paid: leaf.paid });
    }
    const as = p === P() ? provider : f.chain.wallet(0);
    return f.mined(f.escrowAs(as).write.settleZk([p, m.tree.root, amount, 0n, "0x", NO_PROOF]));
  };
  const exitArgs = (u: { leafIndex: number }, p = P(), over: Partial<{ funded: bigint; paid: bigint }> = {}) => {
    const { leaf, siblings } = model(p).tree.proof(u.leafIndex);
    return [p, over.funded ?? leaf.funded, over.paid ?? leaf.paid, siblings] as const;
  };
  /** After an exit the contract rewrote the leaf and the root: mirror it. */
  const exited = (u: { leafIndex: number }, amount: bigint, p = P()) => {
    const leaf = model(p).tree.get(u.leafIndex);
    model(p).tree.set(u.leafIndex, { ...leaf, funded: leaf.funded - amount });
  };
  /** Send with a fixed gas limit (no estimate) in the block at `timestamp`; returns the receipt's status. */
  const sendAt = async (timestamp: bigint, send: (gas: bigint) => Promise<Hash>) => {
    await f.chain.testClient.setNextBlockTimestamp({ timestamp });
    const receipt = await f.chain.publicClient.waitForTransactionReceipt({ hash: await send(5_000_000n) });
    return receipt.status;
  };

  beforeAll(async () => {
    f = await setupStandInZk({ lockSeconds: LOCK, minFund: 0n, shape: SHAPE });
    provider = f.chain.wallet(1);
  });
  afterAll(async () => {
    await f?.stop();
  });

  it("opening: a real provider, field-element keys, once while open, only from an empty voucher channel", async () => {
    const user = await f.freshWallet();
    const c = f.escrowAs(user);
    await expect(c.write.openZkChannel(["0x0000000000000000000000000000000000000000", 1n, 2n])).rejects.toThrow(/ZeroAddress/);
    await expect(c.write.openZkChannel([user.account.address, 1n, 2n])).rejects.toThrow(/SelfChannel/);
    await expect(c.write.openZkChannel([P(), SNARK_FIELD, 2n])).rejects.toThrow(/InvalidZkKey/);
    await expect(c.write.openZkChannel([P(), 1n, SNARK_FIELD])).rejects.toThrow(/InvalidZkKey/);
    // A voucher channel emptied by settlement but with a withdrawal pending is not empty yet.
    await f.mined(c.write.depositAndFund([P()], { value: 100n }));
    await f.mined(c.write.requestWithdraw([P(), 100n]));
    const v = await voucher(escrowDomain(f.chain.chain.id, f.zk.escrow), user.account as LocalAccount, { provider: P(), cumulative: 100n });
    await f.mined(f.escrowAs(provider).write.settle([P(), [v]]));
    expect((await c.read.getChannel([user.account.address, P()]))[0]).toBe(0n);
    await expect(c.write.openZkChannel([P(), 1n, 2n])).rejects.toThrow(/ChannelNotEmpty/);
    await f.mined(c.write.cancelWithdraw([P()]));
    await f.mined(c.write.openZkChannel([P(), 1n, 2n]));
    await expect(c.write.openZkChannel([P(), 1n, 2n])).rejects.toThrow(/ZkChannelOpen/);
  });

  it("a provider's tree holds at most 2^depth channels", async () => {
    const small = await deployZkEscrow(f.chain.wallet(0), f.chain.publicClient, {
      lockSeconds: LOCK,
      minFund: 0n,
      verifier: { abi: acceptingVerifierAbi as unknown as unknown[], bytecode: acceptingVerifierBytecode },
      batchSize: 2,
      queueSlots: 2,
      depth: 1,
    });
    const open = async (key: bigint) => {
      const user = await f.freshWallet();
      return user.writeContract({
        address: small.escrow,
        abi: zkEscrowAbi,
        functionName: "openZkChannel",
        args: [P(), key, 1n],
        chain: f.chain.chain,
      });
    };
    await f.mined(open(1n));
    await f.mined(open(2n));
    await expect(open(3n)).rejects.toThrow(/TreeFull/);
  });

  it("the circuit's shape is not empty and its depth at most 32", async () => {
    const deploy = (shape: { batchSize: number; queueSlots: number; depth: number }) =>
      deployZkEscrow(f.chain.wallet(0), f.chain.publicClient, {
        lockSeconds: LOCK,
        minFund: 0n,
        verifier: { abi: acceptingVerifierAbi as unknown as unknown[], bytecode: acceptingVerifierBytecode },
        ...shape,
      });
    const bad = new RegExp(toFunctionSelector("BadZkConfig()"));
    await expect(deploy({ batchSize: 0, queueSlots: 1, depth: 4 })).rejects.toThrow(bad);
    await expect(deploy({ batchSize: 1, queueSlots: 0, depth: 4 })).rejects.toThrow(bad);
    await expect(deploy({ batchSize: 1, queueSlots: 1, depth: 0 })).rejects.toThrow(bad);
    await expect(deploy({ batchSize: 1, queueSlots: 1, depth: 33 })).rejects.toThrow(bad);
  });

  it("deposits: never empty, only into an open channel, from the ledger only what it holds, below 2^96 each and in all", async () => {
    const u = await openFresh();
    const c = f.escrowAs(u.user);
    await expect(c.write.zkDeposit([P()], { value: 0n })).rejects.toThrow(/ZeroAmount/);
    const never = await f.freshWallet();
    await expect(f.escrowAs(never).write.zkDeposit([P()], { value: 10n })).rejects.toThrow(/ZkChannelNotActive/);
    await f.mined(c.write.deposit({ value: 100n }));
    await expect(c.write.zkFund([P(), 101n])).rejects.toThrow(/InsufficientLedger/);
    await f.mined(c.write.zkFund([P(), 60n]));
    model(P()).queued.push({ leafIndex: u.leafIndex, keyHash: u.keyHash, amount: 60n });
    expect(await c.read.ledger([u.user.account.address])).toBe(40n);
    expect((await channel(u.user)).lastDepositAmount).toBe(60n);
    await settle();

    // Wide amounts: funded must stay below 2^96 (the leaf packs it with paid).
    await f.chain.testClient.setBalance({ address: u.user.account.address, value: 4n * TWO_96 });
    await expect(c.write.zkDeposit([P()], { value: TWO_96 })).rejects.toThrow(/ZkAmountTooLarge/);
    await deposit(u, TWO_96 - 61n);
    await settle();
    expect((await channel(u.user)).deposited).toBe(TWO_96 - 1n);
    await expect(c.write.zkDeposit([P()], { value: 1n })).rejects.toThrow(/ZkAmountTooLarge/);
  });

  it("settlement inputs: field elements, whole data words, at most K of them; ZK earnings below 2^96, claimed once", async () => {
    const c = f.escrowAs(provider);
    expect(model(P()).queued).toEqual([]); // nothing to consume: the raw settlements below keep the model
    const root = model(P()).tree.root;
    await expect(c.write.settleZk([P(), SNARK_FIELD, 0n, 0n, "0x", NO_PROOF])).rejects.toThrow(/NotAFieldElement/);
    await expect(c.write.settleZk([P(), root, 0n, SNARK_FIELD, "0x", NO_PROOF])).rejects.toThrow(/NotAFieldElement/);
    await expect(c.write.settleZk([P(), root, 0n, 0n, `0x${"00".repeat(15)}`, NO_PROOF])).rejects.toThrow(/BadZkData/);
    await expect(c.write.settleZk([P(), root, 0n, 0n, `0x${"00".repeat(48)}`, NO_PROOF])).rejects.toThrow(/BadZkData/);
    await f.mined(c.write.settleZk([P(), root, 0n, 0n, `0x${"00".repeat(32)}`, NO_PROOF]));

    const other = f.chain.wallet(7);
    const o = f.escrowAs(other);
    const O = other.account.address;
    await expect(o.write.claimZkEarnings()).rejects.toThrow(/NothingToWithdraw/);
    await expect(o.write.settleZk([O, model(O).tree.root, TWO_96, 0n, "0x", NO_PROOF])).rejects.toThrow(/ZkAmountTooLarge/);
    await f.mined(o.write.settleZk([O, model(O).tree.root, TWO_96 - 1n, 0n, "0x", NO_PROOF]));
    await expect(o.write.settleZk([O, model(O).tree.root, 1n, 0n, "0x", NO_PROOF])).rejects.toThrow(/ZkAmountTooLarge/);
    await f.mined(o.write.claimZkEarnings());
    expect(await o.read.earnings([O])).toBe(TWO_96 - 1n);
    await expect(o.write.claimZkEarnings()).rejects.toThrow(/NothingToWithdraw/);
    expect(await o.read.earnings([O])).toBe(TWO_96 - 1n);
  });

  it("withdrawals: a request needs a channel and an amount; a cancelled one cannot be executed", async () => {
    const u = await openFresh();
    await deposit(u, 1000n);
    await settle();
    const c = f.escrowAs(u.user);
    await expect(c.write.zkRequestWithdraw([P(), 0n])).rejects.toThrow(/ZeroAmount/);
    await expect(f.escrowAs(await f.freshWallet()).write.zkRequestWithdraw([P(), 1n])).rejects.toThrow(/ZkChannelNotActive/);
    await expect(c.write.zkCancelWithdraw([P()])).rejects.toThrow(/NoPendingWithdraw/);
    await expect(c.write.zkExecuteWithdraw(exitArgs(u))).rejects.toThrow(/NoPendingWithdraw/);
    await f.mined(c.write.zkRequestWithdraw([P(), 400n]));
    await f.mined(c.write.zkCancelWithdraw([P()]));
    expect(await channel(u.user)).toMatchObject({ pendingWithdraw: 0n, unlockAt: 0n });
    await expect(c.write.zkCancelWithdraw([P()])).rejects.toThrow(/NoPendingWithdraw/);
    await f.chain.increaseTime(LOCK + 1n);
    await expect(c.write.zkExecuteWithdraw(exitArgs(u))).rejects.toThrow(/NoPendingWithdraw/);
  });

  it("exits: not a second before the unlock time, only from the real leaf, once per request; the mode follows the leaf and the queue", async () => {
    const u = await openFresh();
    await deposit(u, 1000n);
    await settle();
    const c = f.escrowAs(u.user);
    await f.mined(c.write.zkRequestWithdraw([P(), 400n]));
    const unlockAt = (await channel(u.user)).unlockAt;
    // One second early: the exit reverts and changes nothing.
    expect(await sendAt(unlockAt - 1n, (gas) => c.write.zkExecuteWithdraw(exitArgs(u), { gas }))).toBe("reverted");
    expect((await channel(u.user)).pendingWithdraw).toBe(400n);
    const before = await c.read.ledger([u.user.account.address]);
    expect(await sendAt(unlockAt, (gas) => c.write.zkExecuteWithdraw(exitArgs(u), { gas }))).toBe("success");
    exited(u, 400n);
    expect((await c.read.ledger([u.user.account.address])) - before).toBe(400n);
    // Left with funds: still in ZK mode. The request is used up.
    expect(await channel(u.user)).toMatchObject({ active: true, pendingWithdraw: 0n, unlockAt: 0n });
    await expect(c.write.zkExecuteWithdraw(exitArgs(u))).rejects.toThrow(/NoPendingWithdraw/);
    expect((await f.escrowAs(provider).read.getZkProvider([P()]))[0]).toBe(model(P()).tree.root);

    // Emptied while a deposit waits in the queue: still in ZK mode (the deposit is the user's).
    await f.mined(c.write.zkRequestWithdraw([P(), 600n]));
    await f.chain.increaseTime(LOCK);
    await deposit(u, 100n);
    // A leaf that is not the one in the tree (more funded than proven) does not exit.
    await expect(c.write.zkExecuteWithdraw(exitArgs(u, P(), { funded: 2000n }))).rejects.toThrow(/BadMerkleProof/);
    await f.mined(c.write.zkExecuteWithdraw(exitArgs(u)));
    exited(u, 600n);
    expect((await channel(u.user)).active).toBe(true);
    await expect(c.write.depositAndFund([P()], { value: 10n })).rejects.toThrow(/ChannelInZkMode/);
    // Once the deposit is in and taken out too, the channel leaves ZK mode; its key stays bound to it.
    await settle();
    await f.mined(c.write.zkRequestWithdraw([P(), 100n]));
    await f.chain.increaseTime(LOCK);
    await f.mined(c.write.zkExecuteWithdraw(exitArgs(u)));
    exited(u, 100n);
    expect((await channel(u.user)).active).toBe(false);
    await expect(c.write.openZkChannel([P(), u.key[0] + 1n, u.key[1]])).rejects.toThrow(/ZkKeyMismatch/);
    await f.mined(c.write.openZkChannel([P(), u.key[0], u.key[1]]));
    expect(await channel(u.user)).toMatchObject({ active: true, leafIndex: u.leafIndex });
  });

  it("a provider is frozen exactly when its oldest deposit has waited the lock; only then are deposits reclaimed", async () => {
    const other = f.chain.wallet(8);
    const O = other.account.address;
    const u = await openFresh(O);
    await deposit(u, 500n, O);
    const depositedAt = (await f.chain.publicClient.getBlock()).timestamp;
    const c = f.escrowAs(u.user);
    await expect(c.write.zkReclaimDeposit([O])).rejects.toThrow(/NotFrozen/);
    const frozenAt = async (timestamp: bigint) => {
      await f.chain.testClient.setNextBlockTimestamp({ timestamp });
      await f.chain.testClient.mine({ blocks: 1 });
      return (await c.read.getZkProvider([O]))[5];
    };
    expect(await frozenAt(depositedAt + LOCK - 1n)).toBe(false);
    expect(await frozenAt(depositedAt + LOCK)).toBe(true);
    await expect(f.escrowAs(other).write.settleZk([O, model(O).tree.root, 0n, 0n, "0x", NO_PROOF])).rejects.toThrow(/ZkFrozen/);
    const before = await c.read.ledger([u.user.account.address]);
    await f.mined(c.write.zkReclaimDeposit([O]));
    expect((await c.read.ledger([u.user.account.address])) - before).toBe(500n);
    expect((await channel(u.user, O)).deposited).toBe(0n);
  });
});
