import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import type { LocalAccount } from "viem";
import { compactSignature, signDelegation, type Delegation } from "@0g-compute/core";
import type { LocalWallet } from "../ts/testing.js";
import { randomAccount, setup, settlementOutcome, SkipReason, voucher, type Fixture } from "./helpers.js";

describe("Escrow session keys (delegated lanes)", () => {
  let f: Fixture;
  let user: LocalWallet;
  let provider: LocalWallet;
  let otherProvider: LocalWallet;
  let relayer: LocalWallet;
  let LOCK: bigint;
  const key = randomAccount();

  const userAccount = (): LocalAccount => user.account as LocalAccount;
  const lane = async (k = key.address, p = provider.account.address) => {
    const [settled, cap, validUntil] = await f.escrowAs(user).read.getKeyLane([user.account.address, p, k]);
    return { settled, cap, validUntil };
  };
  const settle = async (vs: Awaited<ReturnType<typeof voucher>>[], p = provider.account.address) =>
    settlementOutcome(await f.mined(f.escrowAs(provider).write.settle([p, vs])));
  const keyVoucher = (cumulative: bigint, p = provider.account.address, nonce = 1n) =>
    voucher(f.domain, key, { user: user.account.address, provider: p, cumulative, nonce });
  const authorize = async (cap: bigint, validFor = 3600n) => {
    const validUntil = (await f.chain.now()) + validFor;
    await f.mined(f.escrowAs(user).write.authorizeKey([provider.account.address, key.address, cap, validUntil]));
    return validUntil;
  };

  beforeAll(async () => {
    f = await setup({ params: { minFund: 0n, lockSeconds: 600n } });
    user = f.chain.wallet(1);
    provider = f.chain.wallet(2);
    otherProvider = f.chain.wallet(3);
    relayer = f.chain.wallet(4);
    LOCK = f.chain.deployment.params.lockSeconds;
    await f.mined(f.escrowAs(user).write.depositAndFund([provider.account.address], { value: 10_000n }));
    await f.mined(f.escrowAs(user).write.depositAndFund([otherProvider.account.address], { value: 10_000n }));
    await f.checkpoint();
  });
  afterAll(async () => {
    await f?.chain.stop();
  });
  beforeEach(() => f.rewind());

  it("an undelegated key's voucher is NotDelegated", async () => {
    const res = await settle([await keyVoucher(100n)]);
    expect(res.skipped[0]).toMatchObject({ reason: SkipReason.NotDelegated, signer: key.address });
  });

  it("C2: the lane's lifetime cap clamps what a key can move, across vouchers", async () => {
    await authorize(50n);
    const res = await settle([await keyVoucher(500n)]);
    expect(res.settled[0]).toMatchObject({ paid: 50n, user: user.account.address, provider: provider.account.address });
    const more = await settle([await keyVoucher(900n, provider.account.address, 2n)]);
    expect(more.skipped[0]?.reason).toBe(SkipReason.NothingNew);
    expect(await lane()).toMatchObject({ settled: 50n, cap: 50n });
    // Owner lane is separate and unaffected.
    const owner = await settle([await voucher(f.domain, userAccount(), { provider: provider.account.address, cumulative: 70n })]);
    expect(owner.settled[0]?.paid).toBe(70n);
  });

  it("C2: a key authorized for one channel cannot move funds on another", async () => {
    await authorize(1000n);
    const res = await settle([await keyVoucher(100n, otherProvider.account.address)], otherProvider.account.address);
    expect(res.skipped[0]?.reason).toBe(SkipReason.NotDelegated);
  });

  it("caps only rise; a key cannot be the user, the provider or zero; expiry must be in the future", async () => {
    await authorize(100n);
    const until = (await f.chain.now()) + 100n;
    await expect(f.escrowAs(user).write.authorizeKey([provider.account.address, key.address, 99n, until])).rejects.toThrow(/CapDecrease/);
    await expect(f.escrowAs(user).write.authorizeKey([provider.account.address, user.account.address, 1n, until])).rejects.toThrow(
      /InvalidKey/,
    );
    await expect(f.escrowAs(user).write.authorizeKey([provider.account.address, provider.account.address, 1n, until])).rejects.toThrow(
      /InvalidKey/,
    );
    await expect(
      f.escrowAs(user).write.authorizeKey([provider.account.address, "0x0000000000000000000000000000000000000000", 1n, until]),
    ).rejects.toThrow(/InvalidKey/);
    await expect(f.escrowAs(user).write.authorizeKey([provider.account.address, key.address, 200n, 1n])).rejects.toThrow(
      /ValidUntilInPast/,
    );
    // No lane with the zero provider (no one could ever settle it).
    await expect(
      f.escrowAs(user).write.authorizeKey(["0x0000000000000000000000000000000000000000", key.address, 1n, until]),
    ).rejects.toThrow(/ZeroAddress/);
    await f.mined(f.escrowAs(user).write.authorizeKey([provider.account.address, key.address, 200n, until]));
    expect(await lane()).toMatchObject({ cap: 200n, validUntil: until });
  });

  it("H5: an expired key's vouchers settle until validUntil + LOCK, then the lane is closed", async () => {
    const validUntil = await authorize(1000n, 100n);
    const v1 = await keyVoucher(100n);
    const v2 = await keyVoucher(200n, provider.account.address, 2n);
    // Jump to exactly validUntil + LOCK - 1 for the next block.
    await f.chain.testClient.setNextBlockTimestamp({ timestamp: validUntil + LOCK - 1n });
    const ok = await settle([v1]);
    expect(ok.settled[0]?.paid).toBe(100n);
    await f.chain.testClient.setNextBlockTimestamp({ timestamp: validUntil + LOCK + 1n });
    const closed = await settle([v2]);
    expect(closed.skipped[0]?.reason).toBe(SkipReason.LaneClosed);
  });

  it("H5: revocation stops new signing now but earlier vouchers still settle within LOCK", async () => {
    await authorize(1000n, 86_400n);
    const v = await keyVoucher(300n);
    const r = await f.mined(f.escrowAs(user).write.revokeKey([provider.account.address, key.address]));
    const block = await f.chain.publicClient.getBlock({ blockNumber: r.blockNumber });
    expect((await lane()).validUntil).toBe(block.timestamp);
    const res = await settle([v]);
    expect(res.settled[0]?.paid).toBe(300n);
    await f.chain.increaseTime(LOCK + 1n);
    const late = await settle([await keyVoucher(400n, provider.account.address, 2n)]);
    expect(late.skipped[0]?.reason).toBe(SkipReason.LaneClosed);
    await expect(f.escrowAs(user).write.revokeKey([provider.account.address, randomAccount().address])).rejects.toThrow(/KeyNotAuthorized/);
  });

  describe("signed delegations", () => {
    const delegation = async (overrides: Partial<Delegation> = {}): Promise<Delegation> => ({
      user: user.account.address,
      provider: provider.account.address,
      key: key.address,
      cap: 500n,
      validUntil: (await f.chain.now()) + 3600n,
      nonce: await f.escrowAs(user).read.delegationNonce([user.account.address]),
      ...overrides,
    });
    const submit = async (d: Delegation) => {
      const signed = await signDelegation(userAccount(), f.domain, d);
      const { r, vs } = compactSignature(signed.signature);
      const { signature: _sig, ...plain } = signed;
      return f.escrowAs(relayer).write.authorizeKeyWithSig([plain, r, vs]);
    };

    it("anyone can register a key from the user's signed delegation, once", async () => {
      const d = await delegation();
      await f.mined(submit(d));
      expect(await lane()).toMatchObject({ cap: 500n, validUntil: d.validUntil });
      await expect(submit(d)).rejects.toThrow(/BadDelegationNonce/);
      const res = await settle([await keyVoucher(800n)]);
      expect(res.settled[0]?.paid).toBe(500n);
    });

    it("rejects a delegation signed by someone else, for another contract, or with a stale nonce after a revoke", async () => {
      const d = await delegation();
      const signed = await signDelegation(relayer.account as LocalAccount, f.domain, { ...d, user: relayer.account.address });
      const { r, vs } = compactSignature(signed.signature);
      await expect(f.escrowAs(relayer).write.authorizeKeyWithSig([d, r, vs])).rejects.toThrow(/BadDelegationSignature/);

      const foreign = await signDelegation(
        userAccount(),
        { ...f.domain, verifyingContract: "0x000000000000000000000000000000000000dEaD" },
        d,
      );
      const c = compactSignature(foreign.signature);
      await expect(f.escrowAs(relayer).write.authorizeKeyWithSig([d, c.r, c.vs])).rejects.toThrow(/BadDelegationSignature/);

      // The user signs a delegation, then revokes the key before it is submitted: the old grant is dead.
      const pending = await delegation({ nonce: 0n });
      await authorize(10n);
      await f.mined(f.escrowAs(user).write.revokeKey([provider.account.address, key.address]));
      await expect(submit(pending)).rejects.toThrow(/BadDelegationNonce/);
    });
  });
});
