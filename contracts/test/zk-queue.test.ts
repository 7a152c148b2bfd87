// The ZK deposit queue cannot be flooded. Every entry costs at least MIN_FUND and needs its own channel
// (one unconsumed deposit per channel), and a provider's queue holds at most
// Q * (LOCK / ZK_PROOF_INTERVAL - 1) unconsumed entries: a provider that lands a proof every interval
// consumes each entry within the lock, so nobody can freeze its ZK mode by depositing faster than it
// proves. These tests settle with the accepting stand-in verifier: the queue rules need no real proof.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { toFunctionSelector, type Address } from "viem";
import { deployZkEscrow, acceptingVerifierAbi, acceptingVerifierBytecode, zkEscrowAbi } from "../ts/index.js";
import { startLocalChain, type LocalWallet } from "../ts/testing.js";
import { setupStandInZk, type StandInZk } from "./zk-helpers.js";

const LOCK = 3600n;
const INTERVAL = 1200n;
// A deeper tree than the CI circuit's: the flood below opens a channel (a leaf) per queued entry.
const SHAPE = { batchSize: 2, queueSlots: 2, depth: 8 };
const MIN_FUND = 1000n;

describe("ZK deposit queue", () => {
  let f: StandInZk;
  let provider: LocalWallet;
  let key = 1n;
  const P = (): Address => provider.account.address;
  const queue = async () => {
    const [, consumed, length, , , frozen] = await f.escrowAs(provider).read.getZkProvider([P()]);
    return { consumed, length, pending: length - consumed, frozen };
  };
  /** A new user with its own ZK channel to the provider (a flood needs a channel per queued entry). */
  const newChannel = async (): Promise<LocalWallet> => {
    const user = await f.freshWallet();
    await f.mined(f.escrowAs(user).write.openZkChannel([P(), key++, 7n]));
    return user;
  };
  const deposit = (user: LocalWallet) => f.escrowAs(user).write.zkDeposit([P()], { value: MIN_FUND });

  beforeAll(async () => {
    f = await setupStandInZk({ lockSeconds: LOCK, minFund: MIN_FUND, proofIntervalSeconds: INTERVAL, shape: SHAPE });
    provider = f.chain.wallet(1);
  });
  afterAll(async () => {
    await f?.stop();
  });

  it("holds at most Q * (LOCK / interval - 1) unconsumed deposits; each proof makes room for Q more", async () => {
    const max = await f.escrowAs(provider).read.ZK_QUEUE_MAX();
    expect(max).toBe(BigInt(SHAPE.queueSlots) * (LOCK / INTERVAL - 1n));
    expect(await f.escrowAs(provider).read.ZK_PROOF_INTERVAL()).toBe(INTERVAL);
    for (let i = 0n; i < max; i++) await f.mined(deposit(await newChannel()));
    const late = await newChannel();
    await expect(deposit(late)).rejects.toThrow(/ZkQueueFull/);
    // The other way of depositing is held to the same bound.
    await f.mined(f.escrowAs(late).write.deposit({ value: MIN_FUND }));
    await expect(f.escrowAs(late).write.zkFund([P(), MIN_FUND])).rejects.toThrow(/ZkQueueFull/);

    // One proof consumes Q entries: exactly Q more deposits fit.
    await f.settle(provider, P());
    expect(await queue()).toMatchObject({ pending: max - BigInt(SHAPE.queueSlots), frozen: false });
    await f.mined(f.escrowAs(late).write.zkFund([P(), MIN_FUND]));
    await f.mined(deposit(await newChannel()));
    await expect(deposit(await newChannel())).rejects.toThrow(/ZkQueueFull/);
    expect((await queue()).pending).toBe(max);
  });

  it("a flood cannot freeze a provider that lands a proof every interval", async () => {
    // Empty the queue first.
    while ((await queue()).pending > 0n) await f.settle(provider, P());
    // Each interval the flooder tries twice as many deposits as a proof consumes, for three locks; the
    // provider proves once per interval. Unbounded, the queue would grow by Q per interval and its oldest
    // entry would wait the lock within a few intervals.
    let accepted = 0;
    let refused = 0;
    for (let round = 0n; round < (3n * LOCK) / INTERVAL; round++) {
      for (let i = 0; i < 2 * SHAPE.queueSlots; i++) {
        const user = await newChannel();
        try {
          await f.mined(deposit(user));
          accepted++;
        } catch (err) {
          expect(String(err)).toMatch(/ZkQueueFull/);
          refused++;
        }
      }
      await f.chain.increaseTime(INTERVAL - 1n);
      expect((await queue()).frozen).toBe(false);
      await f.settle(provider, P());
    }
    expect(refused).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThan(0);
    // Everything that got in is consumed within the lock: the provider was never frozen, and it still
    // proves, and deposits still get in after its proof.
    expect((await queue()).frozen).toBe(false);
    await f.settle(provider, P());
    await f.mined(deposit(await newChannel()));
  });
});

describe("ZK deposit rules at deployment", () => {
  it("a deposit below MIN_FUND is refused, in both ways of depositing", async () => {
    const f = await setupStandInZk({ minFund: 100n });
    try {
      const user = f.chain.wallet(3);
      const provider = f.chain.wallet(1).account.address;
      const c = f.escrowAs(user);
      await f.mined(c.write.openZkChannel([provider, 1n, 2n]));
      await expect(c.write.zkDeposit([provider], { value: 99n })).rejects.toThrow(/BelowMinFund/);
      await f.mined(c.write.deposit({ value: 1000n }));
      await expect(c.write.zkFund([provider, 99n])).rejects.toThrow(/BelowMinFund/);
      expect((await f.mined(c.write.zkDeposit([provider], { value: 100n }))).status).toBe("success");
    } finally {
      await f.stop();
    }
  });

  it("the proof interval is positive and at most half the lock; the default is five minutes", async () => {
    const chain = await startLocalChain();
    try {
      const deploy = (lockSeconds: bigint, proofIntervalSeconds?: bigint) =>
        deployZkEscrow(chain.wallet(0), chain.publicClient, {
          lockSeconds,
          minFund: 0n,
          verifier: { abi: acceptingVerifierAbi as unknown as unknown[], bytecode: acceptingVerifierBytecode },
          ...SHAPE,
          ...(proofIntervalSeconds === undefined ? {} : { proofIntervalSeconds }),
        });
      // A constructor's revert surfaces as its selector.
      const badConfig = new RegExp(toFunctionSelector("BadZkConfig()"));
      await expect(deploy(LOCK, 0n)).rejects.toThrow(badConfig);
      await expect(deploy(LOCK, LOCK / 2n + 1n)).rejects.toThrow(badConfig);
      const half = await deploy(LOCK, LOCK / 2n);
      const read = (address: Address, functionName: "ZK_QUEUE_MAX" | "ZK_PROOF_INTERVAL") =>
        chain.publicClient.readContract({ address, abi: zkEscrowAbi, functionName });
      expect(await read(half.escrow, "ZK_QUEUE_MAX")).toBe(BigInt(SHAPE.queueSlots));
      const byDefault = await deploy(LOCK);
      expect(await read(byDefault.escrow, "ZK_PROOF_INTERVAL")).toBe(300n);
      expect(await read(byDefault.escrow, "ZK_QUEUE_MAX")).toBe(BigInt(SHAPE.queueSlots) * (LOCK / 300n - 1n));
      // A short lock gets half of it.
      expect(await read((await deploy(120n)).escrow, "ZK_PROOF_INTERVAL")).toBe(60n);
    } finally {
      await chain.stop();
    }
  });
});
