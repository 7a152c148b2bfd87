// A ZK channel's only exit is a withdrawal request followed by the full lock, and every request restarts
// the lock (a late re-request never inherits an earlier request's unlock time).
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { LocalAccount } from "viem";
import { deriveZkKey, syncZkState } from "@0g-compute/core/zk";
import type { LocalWallet } from "../ts/testing.js";
import { LOCK, openAndDeposit, setupZk, type ZkFixture } from "./zk-helpers.js";

describe("ZK exits and the lock", () => {
  let f: ZkFixture;
  let provider: LocalWallet;
  let user: LocalWallet;

  beforeAll(async () => {
    f = await setupZk();
    provider = f.chain.wallet(4);
    user = f.chain.wallet(6);
    const key = await deriveZkKey(user.account as LocalAccount, f.chain.chain.id, f.zk.escrow);
    await openAndDeposit(f, user, key, provider.account.address, 1000n);
    // The deposit reaches the tree.
    const batch = await f.batch(provider.account.address, []);
    await f.settle(provider, batch, await f.prove(batch));
  }, 600_000);
  afterAll(async () => {
    await f?.stop();
  });

  it("exits only after a full lock from the latest request", async () => {
    const P = provider.account.address;
    const c = f.escrowAs(user);
    const exit = async () => {
      const state = await syncZkState(f.chain.publicClient, f.zk.escrow, P, f.art.config.depth);
      const leafIndex = (await c.read.getZkChannel([user.account.address, P])).leafIndex;
      const { leaf, siblings } = state.tree.proof(leafIndex);
      return c.write.zkExecuteWithdraw([P, leaf.funded, leaf.paid, siblings]);
    };
    await f.mined(c.write.zkRequestWithdraw([P, 400n]));
    await expect(exit()).rejects.toThrow(/WithdrawLocked/);
    // Shortly before that request unlocks, a new request: the clock starts again.
    await f.chain.increaseTime(LOCK - 100n);
    await f.mined(c.write.zkRequestWithdraw([P, 500n]));
    await f.chain.increaseTime(200n); // past the first request's unlock, not the second's
    await expect(exit()).rejects.toThrow(/WithdrawLocked/);
    await f.chain.increaseTime(LOCK);
    const before = await c.read.ledger([user.account.address]);
    await f.mined(exit());
    expect((await c.read.ledger([user.account.address])) - before).toBe(500n);
  });
});
