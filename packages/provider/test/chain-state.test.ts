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

  it("refreshes ahead: past half its life a snapshot is read again in the background, and never served past its TTL", async () => {
    const publicClient = createPublicClient({
      chain: chain.chain,
      transport: custom({
        async request({ method, params }: { method: string; params?: unknown }) {
          calls.push({ method, params });
          const result = await http(chain.rpcUrl)({ chain: chain.chain }).request({ method, params } as never);
          if (delayAfterMs > 0 && method === "eth_call") await new Promise((r) => setTimeout(r, delayAfterMs));
          return result;
        },
      }),
      cacheTime: 0,
    });
    const ahead = new ChainState({ publicClient, escrow: chain.deployment.escrow, provider: provider(), confirmations: 0, ttlMs: 1000 });
    const before = (await ahead.channel(user.address)).balance;
    await user.depositAndFund(provider(), 7n, { allowUnlisted: true });
    await new Promise((r) => setTimeout(r, 600)); // past half the TTL
    delayAfterMs = 300;
    calls.length = 0;
    const started = performance.now();
    expect((await ahead.channel(user.address)).balance).toBe(before); // the cached value, at once
    expect(performance.now() - started).toBeLessThan(250);
    await new Promise((r) => setTimeout(r, 500)); // the background read lands
    delayAfterMs = 0;
    expect(calls.some((c) => c.method === "eth_call")).toBe(true);
    calls.length = 0;
    expect((await ahead.channel(user.address)).balance).toBe(before + 7n); // refreshed, no read needed
    expect(calls).toEqual([]);
    // Past the TTL with no traffic, the caller waits for a fresh read.
    await new Promise((r) => setTimeout(r, 1100));
    await user.depositAndFund(provider(), 3n, { allowUnlisted: true });
    expect((await ahead.channel(user.address)).balance).toBe(before + 10n);
  });
});
