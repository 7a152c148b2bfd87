import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { getContract, toFunctionSelector, type LocalAccount } from "viem";
import { reentrantReceiverAbi, reentrantReceiverBytecode } from "../ts/index.js";
import type { LocalWallet } from "../ts/testing.js";
import { escrowEvents, setup, voucher, type Fixture } from "./helpers.js";

// The receiver's ABI does not know the escrow's errors, so match the bubbled-up selector.
const TRANSFER_FAILED = new RegExp(toFunctionSelector("TransferFailed()"));

describe("Escrow ledger, channels and withdrawals", () => {
  let f: Fixture;
  let user: LocalWallet;
  let provider: LocalWallet;
  let stranger: LocalWallet;
  const MIN_FUND = 100n;
  let LOCK: bigint;

  const channel = async (u = user.account.address, p = provider.account.address) => {
    const [balance, ownerSettled, pendingWithdraw, unlockAt] = await f.escrowAs(user).read.getChannel([u, p]);
    return { balance, ownerSettled, pendingWithdraw, unlockAt };
  };
  const ledger = (u = user.account.address) => f.escrowAs(user).read.ledger([u]);

  beforeAll(async () => {
    f = await setup({ params: { minFund: MIN_FUND, lockSeconds: 600n } });
    user = f.chain.wallet(1);
    provider = f.chain.wallet(2);
    stranger = f.chain.wallet(3);
    LOCK = f.chain.deployment.params.lockSeconds;
    await f.checkpoint();
  });
  afterAll(async () => {
    await f?.chain.stop();
  });
  beforeEach(() => f.rewind());

  it("has an immutable lock and no owner powers in its ABI", async () => {
    const { escrowAbi } = await import("../ts/index.js");
    const names = escrowAbi.filter((x) => x.type === "function").map((x) => x.name);
    expect(names.some((n) => /owner|setLock|upgrade|pause/i.test(n))).toBe(false);
    expect(await f.escrowAs(user).read.LOCK()).toBe(600n);
  });

  it("deposits and withdraws the free ledger balance at any time", async () => {
    const r = await f.mined(f.escrowAs(user).write.deposit({ value: 5000n }));
    expect(escrowEvents(r).find((e) => e.eventName === "Deposited")?.args).toMatchObject({ amount: 5000n, ledgerBalance: 5000n });
    const to = stranger.account.address;
    const before = await f.chain.publicClient.getBalance({ address: to });
    await f.mined(f.escrowAs(user).write.withdrawLedger([3000n, to]));
    expect(await ledger()).toBe(2000n);
    expect(await f.chain.publicClient.getBalance({ address: to })).toBe(before + 3000n);
    await expect(f.escrowAs(user).write.withdrawLedger([2001n, to])).rejects.toThrow(/InsufficientLedger/);
    await expect(f.escrowAs(user).write.withdrawLedger([0n, to])).rejects.toThrow(/ZeroAmount/);
    await expect(f.escrowAs(user).write.deposit({ value: 0n })).rejects.toThrow(/ZeroAmount/);
  });

  it("funds a channel from the ledger, or deposits and funds in one call, above the minimum", async () => {
    await f.mined(f.escrowAs(user).write.deposit({ value: 1000n }));
    await expect(f.escrowAs(user).write.fund([provider.account.address, 50n])).rejects.toThrow(/BelowMinFund/);
    // The minimum itself is the edge: one wei below is refused.
    await expect(f.escrowAs(user).write.fund([provider.account.address, MIN_FUND - 1n])).rejects.toThrow(/BelowMinFund/);
    await expect(f.escrowAs(user).write.fund([provider.account.address, 1001n])).rejects.toThrow(/InsufficientLedger/);
    await expect(f.escrowAs(user).write.fund([user.account.address, 500n])).rejects.toThrow(/SelfChannel/);
    await expect(f.escrowAs(user).write.fund(["0x0000000000000000000000000000000000000000", 500n])).rejects.toThrow(/ZeroAddress/);
    await f.mined(f.escrowAs(user).write.fund([provider.account.address, 400n]));
    await f.mined(f.escrowAs(user).write.fund([provider.account.address, 10n])); // above the floor once funded
    expect(await ledger()).toBe(590n);
    const r = await f.mined(f.escrowAs(user).write.depositAndFund([provider.account.address], { value: 90n }));
    expect(escrowEvents(r).find((e) => e.eventName === "ChannelFunded")?.args).toMatchObject({ amount: 90n, balance: 500n });
    expect(await channel()).toMatchObject({ balance: 500n, ownerSettled: 0n, pendingWithdraw: 0n, unlockAt: 0n });
    expect(await ledger()).toBe(590n);
  });

  it("withdraw before unlock reverts; after the lock it moves min(pending, balance) to the ledger", async () => {
    await f.mined(f.escrowAs(user).write.depositAndFund([provider.account.address], { value: 1000n }));
    await expect(f.escrowAs(user).write.requestWithdraw([provider.account.address, 1001n])).rejects.toThrow(/InsufficientChannel/);
    await expect(f.escrowAs(user).write.executeWithdraw([provider.account.address])).rejects.toThrow(/NoPendingWithdraw/);
    const r = await f.mined(f.escrowAs(user).write.requestWithdraw([provider.account.address, 600n]));
    const requested = escrowEvents(r).find((e) => e.eventName === "WithdrawRequested")?.args as { unlockAt: bigint };
    const block = await f.chain.publicClient.getBlock({ blockNumber: r.blockNumber });
    expect(requested.unlockAt).toBe(block.timestamp + LOCK);
    expect(await channel()).toMatchObject({ pendingWithdraw: 600n, unlockAt: requested.unlockAt });

    await f.chain.increaseTime(LOCK - 10n);
    await expect(f.escrowAs(user).write.executeWithdraw([provider.account.address])).rejects.toThrow(/WithdrawLocked/);

    // The provider settles 700 during the lock: only 300 is left, so execute pays 300.
    const v = await voucher(f.domain, user.account as LocalAccount, { provider: provider.account.address, cumulative: 700n });
    await f.mined(f.escrowAs(provider).write.settle([provider.account.address, [v]]));
    await f.chain.increaseTime(10n);
    await f.mined(f.escrowAs(user).write.executeWithdraw([provider.account.address]));
    expect(await channel()).toMatchObject({ balance: 0n, pendingWithdraw: 0n, unlockAt: 0n });
    expect(await ledger()).toBe(300n);
  });

  it("C3: every request restarts the lock, so a late amount bump cannot shorten the provider's window", async () => {
    await f.mined(f.escrowAs(user).write.depositAndFund([provider.account.address], { value: 1000n }));
    await f.mined(f.escrowAs(user).write.requestWithdraw([provider.account.address, 1n]));
    await f.chain.increaseTime(LOCK - 1n);
    const r = await f.mined(f.escrowAs(user).write.requestWithdraw([provider.account.address, 1000n]));
    const block = await f.chain.publicClient.getBlock({ blockNumber: r.blockNumber });
    expect((await channel()).unlockAt).toBe(block.timestamp + LOCK);
    await f.chain.increaseTime(2n);
    await expect(f.escrowAs(user).write.executeWithdraw([provider.account.address])).rejects.toThrow(/WithdrawLocked/);
    await f.chain.increaseTime(LOCK);
    await f.mined(f.escrowAs(user).write.executeWithdraw([provider.account.address]));
    expect(await ledger()).toBe(1000n);
  });

  it("C3: funding during the lock leaves the timer alone and the withdrawal pays exactly the requested amount", async () => {
    await f.mined(f.escrowAs(user).write.depositAndFund([provider.account.address], { value: 1000n }));
    await f.mined(f.escrowAs(user).write.requestWithdraw([provider.account.address, 400n]));
    const before = await channel();
    await f.mined(f.escrowAs(user).write.depositAndFund([provider.account.address], { value: 500n }));
    expect(await channel()).toMatchObject({ pendingWithdraw: 400n, unlockAt: before.unlockAt, balance: 1500n });
    // A stranger's funding goes to the stranger's own channel and cannot touch the user's timer.
    await f.mined(f.escrowAs(stranger).write.depositAndFund([provider.account.address], { value: 500n }));
    expect((await channel()).unlockAt).toBe(before.unlockAt);
    await f.chain.increaseTime(LOCK);
    await f.mined(f.escrowAs(user).write.executeWithdraw([provider.account.address]));
    expect(await channel()).toMatchObject({ balance: 1100n, pendingWithdraw: 0n });
    expect(await ledger()).toBe(400n);
  });

  it("a cancelled withdrawal cannot be executed", async () => {
    await f.mined(f.escrowAs(user).write.depositAndFund([provider.account.address], { value: 1000n }));
    await f.mined(f.escrowAs(user).write.requestWithdraw([provider.account.address, 400n]));
    await f.mined(f.escrowAs(user).write.cancelWithdraw([provider.account.address]));
    await f.chain.increaseTime(LOCK);
    await expect(f.escrowAs(user).write.executeWithdraw([provider.account.address])).rejects.toThrow(/NoPendingWithdraw/);
    await expect(f.escrowAs(user).write.cancelWithdraw([provider.account.address])).rejects.toThrow(/NoPendingWithdraw/);
  });

  describe("a reentrant receiver", () => {
    async function deployReceiver() {
      const hash = await user.deployContract({
        abi: reentrantReceiverAbi,
        bytecode: reentrantReceiverBytecode,
        args: [f.chain.deployment.escrow],
      });
      const receipt = await f.mined(hash);
      return getContract({
        address: receipt.contractAddress!,
        abi: reentrantReceiverAbi,
        client: { public: f.chain.publicClient, wallet: user },
      });
    }

    it("cannot re-enter withdrawLedger: the whole withdrawal reverts and the ledger is intact", async () => {
      const receiver = await deployReceiver();
      await f.mined(receiver.write.depositToEscrow({ value: 1000n }));
      await f.mined(receiver.write.setMode([1, 500n]));
      await expect(receiver.write.withdrawLedger([500n])).rejects.toThrow(TRANSFER_FAILED);
      expect(await ledger(receiver.address)).toBe(1000n);
      // A well-behaved receive works.
      await f.mined(receiver.write.setMode([0, 0n]));
      await f.mined(receiver.write.withdrawLedger([500n]));
      expect(await ledger(receiver.address)).toBe(500n);
      expect(await f.chain.publicClient.getBalance({ address: receiver.address })).toBe(500n);
    });

    it("cannot re-enter withdrawEarnings as a provider", async () => {
      const receiver = await deployReceiver();
      const account = user.account as LocalAccount;
      await f.mined(f.escrowAs(user).write.depositAndFund([receiver.address], { value: 1000n }));
      const v = await voucher(f.domain, account, { provider: receiver.address, cumulative: 800n });
      await f.mined(f.escrowAs(stranger).write.settle([receiver.address, [v]]));
      expect(await f.escrowAs(user).read.earnings([receiver.address])).toBe(800n);
      await f.mined(receiver.write.setMode([2, 0n]));
      await expect(receiver.write.withdrawEarnings()).rejects.toThrow(TRANSFER_FAILED);
      expect(await f.escrowAs(user).read.earnings([receiver.address])).toBe(800n);
      await f.mined(receiver.write.setMode([0, 0n]));
      await f.mined(receiver.write.withdrawEarnings());
      expect(await f.escrowAs(user).read.earnings([receiver.address])).toBe(0n);
      expect(await f.chain.publicClient.getBalance({ address: receiver.address })).toBe(800n);
    });
  });

  it("a receiver that refuses payment makes only its own withdrawal fail", async () => {
    const hash = await user.deployContract({
      abi: reentrantReceiverAbi,
      bytecode: reentrantReceiverBytecode,
      args: [f.chain.deployment.escrow],
    });
    const receipt = await f.mined(hash);
    const receiver = getContract({
      address: receipt.contractAddress!,
      abi: reentrantReceiverAbi,
      client: { public: f.chain.publicClient, wallet: user },
    });
    await f.mined(receiver.write.depositToEscrow({ value: 100n }));
    await f.mined(receiver.write.setMode([3, 0n]));
    await expect(receiver.write.withdrawLedger([100n])).rejects.toThrow(TRANSFER_FAILED);
    expect(await ledger(receiver.address)).toBe(100n);
  });
});
