// The escrow's bounds one by one: the lock's range at deployment, amounts wider than their storage,
// payouts to the zero address, zero amounts, the exact second a withdrawal unlocks, and a session key's
// voucher capped by the channel balance.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { toFunctionSelector, type LocalAccount } from "viem";
import { escrowAbi, escrowBytecode } from "../ts/index.js";
import type { LocalWallet } from "../ts/testing.js";
import { randomAccount, setup, settlementOutcome, voucher, type Fixture } from "./helpers.js";

const ZERO = "0x0000000000000000000000000000000000000000" as const;
const TWO_128 = 2n ** 128n;

describe("Escrow bounds", () => {
  let f: Fixture;
  let user: LocalWallet;
  let provider: LocalWallet;
  let LOCK: bigint;
  const P = () => provider.account.address;

  beforeAll(async () => {
    f = await setup({ params: { minFund: 100n, lockSeconds: 600n } });
    user = f.chain.wallet(1);
    provider = f.chain.wallet(2);
    LOCK = f.chain.deployment.params.lockSeconds;
    await f.checkpoint();
  });
  afterAll(async () => {
    await f?.chain.stop();
  });
  beforeEach(() => f.rewind());

  it("the lock is within [MIN_LOCK, MAX_LOCK] at deployment", async () => {
    const deploy = async (lock: bigint) => {
      const hash = await f.chain.wallet(0).deployContract({ abi: escrowAbi, bytecode: escrowBytecode, args: [lock, 0n] });
      return (await f.chain.publicClient.waitForTransactionReceipt({ hash })).status;
    };
    const outOfRange = new RegExp(toFunctionSelector("LockOutOfRange(uint64)"));
    const c = f.escrowAs(user);
    const [min, max] = [await c.read.MIN_LOCK(), await c.read.MAX_LOCK()];
    await expect(deploy(min - 1n)).rejects.toThrow(outOfRange);
    await expect(deploy(max + 1n)).rejects.toThrow(outOfRange);
    expect(await deploy(min)).toBe("success");
    expect(await deploy(max)).toBe("success");
  });

  it("a channel never holds 2^128 or more, even funded on top from a larger ledger", async () => {
    // anvil refuses to send 2^128 or more in one transaction (so does any real chain's supply); the
    // ledger is 256 bits wide, so three deposits of 2^127 make it larger than a channel can hold.
    await f.chain.testClient.setBalance({ address: user.account.address, value: 4n * TWO_128 });
    const c = f.escrowAs(user);
    for (let i = 0; i < 3; i++) await f.mined(c.write.deposit({ value: TWO_128 / 2n }));
    await f.mined(c.write.fund([P(), TWO_128 - 1n]));
    await expect(c.write.fund([P(), 1n])).rejects.toThrow(/AmountTooLarge/);
    expect((await c.read.getChannel([user.account.address, P()]))[0]).toBe(TWO_128 - 1n);
    expect(await c.read.ledger([user.account.address])).toBe(TWO_128 / 2n + 1n);
  });

  it("ledger and earnings are never sent to the zero address", async () => {
    const c = f.escrowAs(user);
    await f.mined(c.write.depositAndFund([P()], { value: 1000n }));
    await f.mined(c.write.deposit({ value: 1000n }));
    await expect(c.write.withdrawLedger([1n, ZERO])).rejects.toThrow(/ZeroAddress/);
    const v = await voucher(f.domain, user.account as LocalAccount, { provider: P(), cumulative: 100n });
    await f.mined(f.escrowAs(provider).write.settle([P(), [v]]));
    await expect(f.escrowAs(provider).write.withdrawEarnings([ZERO])).rejects.toThrow(/ZeroAddress/);
    expect(await c.read.earnings([P()])).toBe(100n);
  });

  it("zero amounts are refused: funding (even a funded channel) and withdrawal requests", async () => {
    const c = f.escrowAs(user);
    await f.mined(c.write.depositAndFund([P()], { value: 1000n }));
    await f.mined(c.write.deposit({ value: 1000n }));
    await expect(c.write.fund([P(), 0n])).rejects.toThrow(/ZeroAmount/);
    await expect(c.write.requestWithdraw([P(), 0n])).rejects.toThrow(/ZeroAmount/);
    expect((await c.read.getChannel([user.account.address, P()]))[2]).toBe(0n);
  });

  it("a withdrawal executes at its unlock time, not a second before", async () => {
    const c = f.escrowAs(user);
    await f.mined(c.write.depositAndFund([P()], { value: 1000n }));
    await f.mined(c.write.requestWithdraw([P(), 400n]));
    const unlockAt = (await c.read.getChannel([user.account.address, P()]))[3];
    const executeAt = async (timestamp: bigint) => {
      await f.chain.testClient.setNextBlockTimestamp({ timestamp });
      const hash = await c.write.executeWithdraw([P()], { gas: 200_000n });
      return (await f.chain.publicClient.waitForTransactionReceipt({ hash })).status;
    };
    expect(await executeAt(unlockAt - 1n)).toBe("reverted");
    expect(await c.read.ledger([user.account.address])).toBe(0n);
    expect(await executeAt(unlockAt)).toBe("success");
    expect(await c.read.ledger([user.account.address])).toBe(400n);
    expect(unlockAt - LOCK).toBeGreaterThan(0n);
  });

  it("a session key's voucher pays at most the channel balance; the rest stays claimable", async () => {
    const key = randomAccount();
    const c = f.escrowAs(user);
    await f.mined(c.write.depositAndFund([P()], { value: 1000n }));
    await f.mined(c.write.authorizeKey([P(), key.address, 5000n, (await f.chain.now()) + 3600n]));
    const v = await voucher(f.domain, key, { user: user.account.address, provider: P(), cumulative: 1500n });
    const first = settlementOutcome(await f.mined(f.escrowAs(provider).write.settle([P(), [v]])));
    expect(first.settled.map((s) => s.paid)).toEqual([1000n]);
    await f.mined(c.write.depositAndFund([P()], { value: 2000n }));
    const rest = settlementOutcome(await f.mined(f.escrowAs(provider).write.settle([P(), [v]])));
    expect(rest.settled.map((s) => s.paid)).toEqual([500n]);
    expect(await c.read.getKeyLane([user.account.address, P(), key.address])).toEqual([1500n, 5000n, expect.any(BigInt)]);
  });
});
