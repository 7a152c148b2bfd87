// The ZK deposit queue cannot be flooded: every entry costs at least MIN_FUND, and a provider's queue
// holds at most four proofs' worth of unconsumed deposits, so a provider always catches up with it well
// within the lock and nobody can freeze its ZK mode by depositing faster than it proves.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createWalletClient, http, type Address } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { deployZkEscrow, startLocalChain, zkEscrowAbi, type LocalWallet } from "../ts/index.js";
import { CI_CIRCUIT, ensureZkArtifacts } from "../zk/build.js";
import { LOCK, setupZk, type ZkFixture } from "./zk-helpers.js";

/** A fresh funded account (anvil has only ten). */
async function freshWallet(f: Pick<ZkFixture, "chain">): Promise<LocalWallet> {
  const account = privateKeyToAccount(generatePrivateKey());
  await f.chain.testClient.setBalance({ address: account.address, value: 10n ** 18n });
  return createWalletClient({ account, chain: f.chain.chain, transport: http(f.chain.rpcUrl) }) as unknown as LocalWallet;
}

describe("ZK deposit queue", () => {
  let f: ZkFixture;
  let provider: LocalWallet;
  const P = (): Address => provider.account.address;

  beforeAll(async () => {
    f = await setupZk();
    provider = f.chain.wallet(1);
  });
  afterAll(async () => {
    await f?.stop();
  });

  it("holds at most four proofs' worth of unconsumed deposits; a proof makes room again", async () => {
    const max = Number(await f.escrowAs(provider).read.ZK_QUEUE_PROOFS()) * f.art.config.queueSlots;
    expect(max).toBe(4 * f.art.config.queueSlots);
    // One pending deposit per channel: a flood needs a channel (and a key) per entry.
    for (let i = 0; i < max; i++) {
      const user = await freshWallet(f);
      const c = f.escrowAs(user);
      await f.mined(c.write.openZkChannel([P(), BigInt(i + 1), 7n]));
      await f.mined(c.write.zkDeposit([P()], { value: 1n }));
    }
    const late = await freshWallet(f);
    await f.mined(f.escrowAs(late).write.openZkChannel([P(), 10_000n, 7n]));
    await expect(f.escrowAs(late).write.zkDeposit([P()], { value: 1n })).rejects.toThrow(/ZkQueueFull/);
    // The provider proves once: Q entries are consumed, and the queue takes deposits again.
    const batch = await f.batch(P(), []);
    expect(batch.nQueue).toBe(f.art.config.queueSlots);
    await f.settle(provider, batch, await f.prove(batch));
    await f.mined(f.escrowAs(late).write.zkDeposit([P()], { value: 1n }));
    const [, consumed, length, , , frozen] = await f.escrowAs(provider).read.getZkProvider([P()]);
    expect(Number(length - consumed)).toBeLessThanOrEqual(max);
    expect(frozen).toBe(false);
    // Four proofs empty it, long before the oldest entry could wait the lock.
    expect(LOCK).toBeGreaterThan(0n);
  });
});

describe("ZK deposits and MIN_FUND", () => {
  it("a deposit below the deployment's minimum funding is refused, in both ways of depositing", async () => {
    const art = await ensureZkArtifacts(CI_CIRCUIT);
    const chain = await startLocalChain({ params: { minFund: 0n, lockSeconds: LOCK } });
    try {
      const zk = await deployZkEscrow(chain.wallet(0), chain.publicClient, { lockSeconds: LOCK, minFund: 100n, verifier: { abi: art.verifierAbi, bytecode: art.verifierBytecode }, ...art.config });
      const user = chain.wallet(3);
      const provider = chain.wallet(1).account.address;
      const mined = async (hash: Promise<`0x${string}`>) => chain.publicClient.waitForTransactionReceipt({ hash: await hash });
      // Simulated first, as every client does: a refusal surfaces as the contract's error.
      const write = async (fn: "openZkChannel" | "zkDeposit" | "deposit" | "zkFund", args: readonly unknown[], value?: bigint) => {
        const call = { address: zk.escrow, abi: zkEscrowAbi, functionName: fn, args, account: user.account, ...(value === undefined ? {} : { value }) } as Parameters<typeof chain.publicClient.simulateContract>[0];
        const { request } = await chain.publicClient.simulateContract(call);
        return user.writeContract(request as Parameters<typeof user.writeContract>[0]);
      };
      await mined(write("openZkChannel", [provider, 1n, 2n]));
      await expect(write("zkDeposit", [provider], 99n)).rejects.toThrow(/BelowMinFund/);
      await mined(write("deposit", [], 1000n));
      await expect(write("zkFund", [provider, 99n])).rejects.toThrow(/BelowMinFund/);
      expect((await mined(write("zkDeposit", [provider], 100n))).status).toBe("success");
    } finally {
      await chain.stop();
    }
  });
});
