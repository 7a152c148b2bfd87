// The provider's cached view of the escrow: a read in flight when an invalidation happens is never
// kept or shared, and a channel with its session-key lanes is read at one block.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createPublicClient, custom, http, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { startLocalChain, type LocalChain } from "@0g-compute/contracts/testing";
import { resolveNetwork, ZeroGClient } from "@0g-compute/core";
import { ChainState } from "../src/index.js";

describe("ChainState", () => {
  let chain: LocalChain;
  let user: ZeroGClient;
  const calls: { method: string; params: unknown }[] = [];
  let delayAfterMs = 0;
  let state: ChainState;
  const provider = () => chain.wallet(2).account.address;

  beforeAll(async () => {
    chain = await startLocalChain({ params: { lockSeconds: 600n, minFund: 0n } });
    const network = resolveNetwork("devnet", {
      rpcUrl: chain.rpcUrl,
      escrow: chain.deployment.escrow,
      registry: chain.deployment.registry,
    });
    user = new ZeroGClient({ network, account: chain.wallet(1).account as LocalAccount, pollingIntervalMs: 20 });
    // A transport that logs every call and can hold an answer back after the node has replied (the read
    // happened, the caller just hears of it late).
    const inner = http(chain.rpcUrl)({ chain: chain.chain });
    const transport = custom({
      async request({ method, params }: { method: string; params?: unknown }) {
        calls.push({ method, params });
        const result = await inner.request({ method, params } as Parameters<typeof inner.request>[0]);
        if (delayAfterMs > 0 && method === "eth_call") await new Promise((r) => setTimeout(r, delayAfterMs));
        return result;
      },
    });
    const publicClient = createPublicClient({ chain: chain.chain, transport, cacheTime: 0 });
    state = new ChainState({ publicClient, escrow: chain.deployment.escrow, provider: provider(), confirmations: 0, ttlMs: 600_000 });
    await user.depositAndFund(provider(), 1000n, { allowUnlisted: true });
  });
  afterAll(async () => {
    await chain?.stop();
  });

  it("a read in flight when the user's state is invalidated is neither cached nor joined by later callers", async () => {
    expect((await state.channel(user.address)).balance).toBe(1000n);
    state.invalidate(user.address);
    delayAfterMs = 400;
    const early = state.channel(user.address); // reads the balance now, answers late
    await new Promise((r) => setTimeout(r, 100));
    await user.depositAndFund(provider(), 500n, { allowUnlisted: true }); // the read above saw the old balance
    state.invalidate(user.address); // as the event watcher or a settlement would
    const joined = state.channel(user.address); // must not share the read that started before
    delayAfterMs = 0;
    expect((await early).balance).toBe(1000n);
    expect((await joined).balance).toBe(1500n);
    // And the stale answer was not cached over the fresh one.
    expect((await state.channel(user.address)).balance).toBe(1500n);
  });

  it("reads the channel and its session-key lanes at one block", async () => {
    const keys = [privateKeyToAccount(generatePrivateKey()), privateKeyToAccount(generatePrivateKey())];
    for (const k of keys) await user.authorizeSessionKey(provider(), k.address, 100n, (await chain.now()) + 3600n);
    state.invalidate(user.address);
    calls.length = 0;
    const funds = await state.channelFunds(
      user.address,
      keys.map((k) => k.address),
    );
    expect(funds.balance).toBe(1500n);
    const reads = calls.filter((c) => c.method === "eth_call");
    expect(reads).toHaveLength(3);
    const blocks = reads.map((c) => (c.params as unknown[])[1]);
    expect(new Set(blocks).size).toBe(1);
    expect(blocks[0]).toMatch(/^0x[0-9a-f]+$/); // a block number, not "latest"
    expect([...funds.settledByLane.keys()].sort()).toEqual(
      [user.address, ...keys.map((k) => k.address)].map((a) => a.toLowerCase()).sort(),
    );
  });
});
