import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { encodeFunctionData, parseAbi, parseSignature, toFunctionSelector, type Hex, type LocalAccount } from "viem";
import { compactSignature, escrowDomain, hashTerms, signReceipt, TICKET_TYPES, type Voucher } from "@0g-compute/core";
import type { LocalWallet } from "../ts/testing.js";
import { SkipReason, setup, settlementOutcome, terms, voucher, type Fixture } from "./helpers.js";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

describe("Escrow settlement", () => {
  let f: Fixture;
  let user: LocalWallet;
  let provider: LocalWallet;
  let other: LocalWallet;

  const userAccount = (): LocalAccount => user.account as LocalAccount;
  const escrow = () => f.escrowAs(provider);
  const channel = async (u = user.account.address, p = provider.account.address) => {
    const [balance, ownerSettled, pendingWithdraw, unlockAt] = await escrow().read.getChannel([u, p]);
    return { balance, ownerSettled, pendingWithdraw, unlockAt };
  };
  const settle = async (vs: Voucher[], p = provider.account.address, as = provider) =>
    settlementOutcome(await f.mined(f.escrowAs(as).write.settle([p, vs])));

  beforeAll(async () => {
    f = await setup({ params: { minFund: 0n } });
    user = f.chain.wallet(1);
    provider = f.chain.wallet(2);
    other = f.chain.wallet(3);
    await f.mined(f.escrowAs(user).write.depositAndFund([provider.account.address], { value: 1000n }));
    await f.checkpoint();
  });
  afterAll(async () => {
    await f?.chain.stop();
  });
  beforeEach(() => f.rewind());

  it("pays cumulative minus settled, and only the difference on a newer voucher", async () => {
    const r1 = await settle([await voucher(f.domain, userAccount(), { provider: provider.account.address, nonce: 1n, cumulative: 100n })]);
    expect(r1.settled).toHaveLength(1);
    expect(r1.settled[0]?.paid).toBe(100n);
    const r2 = await settle([await voucher(f.domain, userAccount(), { provider: provider.account.address, nonce: 2n, cumulative: 250n })]);
    expect(r2.settled[0]?.paid).toBe(150n);
    expect(await channel()).toMatchObject({ balance: 750n, ownerSettled: 250n });
    expect(await escrow().read.earnings([provider.account.address])).toBe(250n);
  });

  it("C1: highest cumulative wins whatever the nonce or order; a stale or lower voucher pays nothing", async () => {
    const high = await voucher(f.domain, userAccount(), { provider: provider.account.address, nonce: 41n, cumulative: 100n });
    const rollback = await voucher(f.domain, userAccount(), { provider: provider.account.address, nonce: 2n ** 63n, cumulative: 10n });
    const first = await settle([high]);
    expect(first.settled[0]?.paid).toBe(100n);
    const second = await settle([rollback]);
    expect(second.settled).toHaveLength(0);
    expect(second.skipped[0]?.reason).toBe(SkipReason.NothingNew);
    expect((await channel()).ownerSettled).toBe(100n);

    // Opposite order: total paid is still 100.
    await f.rewind();
    const a = await settle([rollback]);
    expect(a.settled[0]?.paid).toBe(10n);
    const b = await settle([high]);
    expect(b.settled[0]?.paid).toBe(90n);
    expect((await channel()).ownerSettled).toBe(100n);
  });

  it("replaying the same voucher, or a copied batch, pays once", async () => {
    const v = await voucher(f.domain, userAccount(), { provider: provider.account.address, cumulative: 300n });
    const r = await settle([v, v]);
    expect(r.settled).toHaveLength(1);
    expect(r.skipped.map((s) => s.reason)).toEqual([SkipReason.NothingNew]);
    // Anyone may submit (permissionless); the copy pays nothing more and money only goes to the provider.
    const copy = await settle([v], provider.account.address, other);
    expect(copy.skipped[0]?.reason).toBe(SkipReason.NothingNew);
    expect(await escrow().read.earnings([provider.account.address])).toBe(300n);
    expect(await escrow().read.earnings([other.account.address])).toBe(0n);
  });

  it("a voucher above the channel balance pays partly and the rest stays redeemable after a re-fund", async () => {
    const v = await voucher(f.domain, userAccount(), { provider: provider.account.address, cumulative: 1500n });
    const r = await settle([v]);
    expect(r.settled[0]?.paid).toBe(1000n);
    expect(await channel()).toMatchObject({ balance: 0n, ownerSettled: 1000n });
    const again = await settle([v]);
    expect(again.skipped[0]?.reason).toBe(SkipReason.NoFunds);
    await f.mined(f.escrowAs(user).write.depositAndFund([provider.account.address], { value: 2000n }));
    const rest = await settle([v]);
    expect(rest.settled[0]?.paid).toBe(500n);
    expect(await channel()).toMatchObject({ balance: 1500n, ownerSettled: 1500n });
  });

  it("C4: after the channel is emptied and re-funded, an old voucher pays nothing", async () => {
    const v = await voucher(f.domain, userAccount(), { provider: provider.account.address, cumulative: 100n });
    await settle([v]);
    await f.mined(f.escrowAs(user).write.requestWithdraw([provider.account.address, 900n]));
    await f.chain.increaseTime(f.chain.deployment.params.lockSeconds);
    await f.mined(f.escrowAs(user).write.executeWithdraw([provider.account.address]));
    expect((await channel()).balance).toBe(0n);
    await f.mined(f.escrowAs(user).write.fund([provider.account.address, 900n]));
    const replay = await settle([v]);
    expect(replay.skipped[0]?.reason).toBe(SkipReason.NothingNew);
    expect((await channel()).balance).toBe(900n);
  });

  it("a voucher signed for another provider does not pay this one", async () => {
    const forOther = await voucher(f.domain, userAccount(), { provider: other.account.address, cumulative: 100n });
    const r = await settle([forOther]);
    expect(r.settled).toHaveLength(0);
    expect(r.skipped[0]?.reason).toBe(SkipReason.NotDelegated);
    expect((await channel()).balance).toBe(1000n);
  });

  it("replay on another chain or another contract is skipped", async () => {
    const wrongChain = escrowDomain(1, f.chain.deployment.escrow);
    const wrongContract = escrowDomain(f.chain.chain.id, "0x000000000000000000000000000000000000dEaD");
    const r = await settle([
      await voucher(wrongChain, userAccount(), { provider: provider.account.address, cumulative: 100n }),
      await voucher(wrongContract, userAccount(), { provider: provider.account.address, cumulative: 100n }),
    ]);
    expect(r.settled).toHaveLength(0);
    expect(r.skipped).toHaveLength(2);
    expect((await channel()).balance).toBe(1000n);
  });

  it("a malleable (high-s) twin of a valid signature is rejected", async () => {
    const ticket = {
      user: user.account.address,
      provider: provider.account.address,
      nonce: 1n,
      cumulative: 100n,
      terms: terms(),
    };
    const sig = await userAccount().signTypedData({ domain: f.domain, types: TICKET_TYPES, primaryType: "Ticket", message: ticket });
    const { r, s, yParity } = parseSignature(sig);
    const highS = SECP256K1_N - BigInt(s);
    const flipped = yParity === 0 ? 1n : 0n;
    const vs = `0x${((flipped << 255n) | highS).toString(16).padStart(64, "0")}` as Hex;
    const twin: Voucher = { user: ticket.user, nonce: 1n, cumulative: 100n, termsHash: hashTerms(ticket.terms), r, vs };
    const res = await settle([twin]);
    expect(res.settled).toHaveLength(0);
    expect(res.skipped).toHaveLength(1);
    expect((await channel()).balance).toBe(1000n);
  });

  it("a receipt signature (another primary type in the same domain) never verifies as a voucher", async () => {
    const v = await voucher(f.domain, userAccount(), { provider: provider.account.address, cumulative: 100n });
    const receipt = await signReceipt(userAccount(), f.domain, {
      ticketDigest: v.termsHash,
      responseHash: v.termsHash,
      inputTokens: 1,
      outputTokens: 1,
      fee: 100n,
    });
    const res = await settle([{ ...v, ...compactSignature(receipt.signature) }]);
    expect(res.settled).toHaveLength(0);
    expect(res.skipped[0]?.reason).toBe(SkipReason.NotDelegated);
  });

  it("garbage signatures are BadSignature skips, never a zero-address match", async () => {
    const v = await voucher(f.domain, userAccount(), { provider: provider.account.address, cumulative: 100n });
    const zeroUser: Voucher = {
      ...v,
      user: "0x0000000000000000000000000000000000000000",
      r: `0x${"00".repeat(32)}`,
      vs: `0x${"00".repeat(32)}`,
    };
    const res = await settle([zeroUser]);
    expect(res.skipped[0]?.reason).toBe(SkipReason.BadSignature);
    expect(res.skipped[0]?.signer).toBe("0x0000000000000000000000000000000000000000");
  });

  it("an item with a field wider than its type is skipped, never decoded as something else or reverting the batch", async () => {
    // Hand-built calldata: the same `settle` selector with fields past their widths (a wallet cannot sign these).
    const good = await voucher(f.domain, userAccount(), { provider: provider.account.address, cumulative: 100n });
    const wide = parseAbi(["function settle(address, (uint256,uint256,uint256,bytes32,bytes32,bytes32)[])"]);
    const item = (o: Partial<Record<"user" | "nonce" | "cumulative", bigint>>) =>
      [o.user ?? BigInt(good.user), o.nonce ?? good.nonce, o.cumulative ?? good.cumulative, good.termsHash, good.r, good.vs] as const;
    const data = encodeFunctionData({
      abi: wide,
      functionName: "settle",
      args: [
        provider.account.address,
        [
          item({ user: BigInt(good.user) | (1n << 200n) }),
          item({ nonce: good.nonce + (1n << 64n) }),
          item({ cumulative: good.cumulative + (1n << 128n) }),
          item({}),
        ],
      ],
    });
    const selector = toFunctionSelector("settle(address,(address,uint64,uint128,bytes32,bytes32,bytes32)[])");
    const hash = await provider.sendTransaction({
      to: f.chain.deployment.escrow,
      data: `${selector}${data.slice(10)}` as Hex,
      gas: 1_000_000n,
    });
    const res = settlementOutcome(await f.mined(hash));
    expect(res.skipped.map((x) => x.reason)).toEqual([SkipReason.BadSignature, SkipReason.BadSignature, SkipReason.BadSignature]);
    expect(res.settled.map((x) => x.paid)).toEqual([100n]);
  });

  it("a mixed batch settles the good items and skips each bad one with its reason, without reverting", async () => {
    // Second user with a channel that will be emptied.
    await f.mined(f.escrowAs(other).write.depositAndFund([provider.account.address], { value: 50n }));
    await f.mined(f.escrowAs(other).write.requestWithdraw([provider.account.address, 50n]));
    await f.chain.increaseTime(f.chain.deployment.params.lockSeconds);
    await f.mined(f.escrowAs(other).write.executeWithdraw([provider.account.address]));

    const good = await voucher(f.domain, userAccount(), { provider: provider.account.address, nonce: 5n, cumulative: 400n });
    const forged: Voucher = { ...good, cumulative: 999n };
    const emptied = await voucher(f.domain, other.account as LocalAccount, { provider: provider.account.address, cumulative: 10n });
    const below = await voucher(f.domain, userAccount(), { provider: provider.account.address, nonce: 6n, cumulative: 100n });
    const res = await settle([good, forged, emptied, good, below]);
    expect(res.settled.map((s) => s.paid)).toEqual([400n]);
    expect(res.skipped.map((s) => s.reason)).toEqual([
      SkipReason.NotDelegated, // a forged amount recovers to a stranger, not the user
      SkipReason.NoFunds,
      SkipReason.NothingNew,
      SkipReason.NothingNew,
    ]);
    expect(res.batch).toMatchObject({ items: 5n, paid: 400n });
  });

  it("settlement during a withdrawal lock draws on the whole balance, pending amount included", async () => {
    await f.mined(f.escrowAs(user).write.requestWithdraw([provider.account.address, 1000n]));
    const res = await settle([await voucher(f.domain, userAccount(), { provider: provider.account.address, cumulative: 700n })]);
    expect(res.settled[0]?.paid).toBe(700n);
    await f.chain.increaseTime(f.chain.deployment.params.lockSeconds);
    await f.mined(f.escrowAs(user).write.executeWithdraw([provider.account.address]));
    expect(await channel()).toMatchObject({ balance: 0n, pendingWithdraw: 0n });
    expect(await f.escrowAs(user).read.ledger([user.account.address])).toBe(300n);
  });

  it("rejects an empty or oversized batch as a whole", async () => {
    await expect(escrow().write.settle([provider.account.address, []])).rejects.toThrow(/EmptyBatch/);
    const v = await voucher(f.domain, userAccount(), { provider: provider.account.address, cumulative: 1n });
    const max = await escrow().read.MAX_BATCH();
    await expect(escrow().simulate.settle([provider.account.address, Array(Number(max) + 1).fill(v)])).rejects.toThrow(/BatchTooLarge/);
  });

  it("the provider pulls its earnings; a second pull reverts", async () => {
    await settle([await voucher(f.domain, userAccount(), { provider: provider.account.address, cumulative: 10n ** 3n })]);
    const to = other.account.address;
    const before = await f.chain.publicClient.getBalance({ address: to });
    await f.mined(escrow().write.withdrawEarnings([to]));
    expect(await f.chain.publicClient.getBalance({ address: to })).toBe(before + 1000n);
    await expect(escrow().write.withdrawEarnings([to])).rejects.toThrow(/NothingToWithdraw/);
  });
});
