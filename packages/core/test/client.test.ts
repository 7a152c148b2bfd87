import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from "@jest/globals";
import { getContract, keccak256, toHex, type Hex, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { escrowAbi, serviceRegistryAbi } from "@0g-compute/contracts";
import { startLocalChain, type LocalChain } from "@0g-compute/contracts/testing";
import {
  ContractRevertError,
  escrowDomain,
  InvalidArgumentError,
  parseAmount,
  formatAmount,
  resolveNetwork,
  RpcError,
  sendContractTransaction,
  signTicket,
  toVoucher,
  ZeroGClient,
  NetworkConfigError,
  type TxProgress,
} from "../src/index.js";

describe("ZeroGClient against a local chain", () => {
  let chain: LocalChain;
  let client: ZeroGClient;
  let provider: LocalAccount;
  let snapshot: Hex;
  const progress: TxProgress[] = [];

  beforeAll(async () => {
    chain = await startLocalChain({ params: { lockSeconds: 600n, minFund: 1000n } });
    const network = resolveNetwork("devnet", {
      rpcUrl: chain.rpcUrl,
      escrow: chain.deployment.escrow,
      registry: chain.deployment.registry,
    });
    client = new ZeroGClient({
      network,
      account: chain.wallet(1).account as LocalAccount,
      pollingIntervalMs: 20,
      onProgress: (p) => progress.push(p),
    });
    provider = chain.wallet(2).account as LocalAccount;
    const registry = getContract({
      address: chain.deployment.registry,
      abi: serviceRegistryAbi,
      client: { public: chain.publicClient, wallet: chain.wallet(2) },
    });
    await chain.publicClient.waitForTransactionReceipt({
      hash: await registry.write.stake({ value: chain.deployment.params.providerStake }),
    });
    await chain.publicClient.waitForTransactionReceipt({
      hash: await registry.write.addService([
        {
          name: "chat",
          model: "m",
          modelHash: keccak256(toHex("m")),
          quantization: "",
          endpoint: "http://127.0.0.1:1",
          inputPrice: 1n,
          outputPrice: 1n,
          signer: provider.address,
          metadata: "",
        },
      ]),
    });
    snapshot = await chain.testClient.snapshot();
  });
  afterAll(async () => {
    await chain?.stop();
  });
  beforeEach(async () => {
    await chain.testClient.revert({ id: snapshot });
    snapshot = await chain.testClient.snapshot();
    progress.length = 0;
  });

  it("verifies the deployment: chain id, escrow code and EIP-712 domain", async () => {
    await client.verifyDeployment();
    const wrongChain = new ZeroGClient({ network: { ...client.network, chainId: 1 }, account: client.account });
    await expect(wrongChain.verifyDeployment()).rejects.toMatchObject({ code: "WRONG_CHAIN" });
    const noContract = new ZeroGClient({ network: { ...client.network, escrow: provider.address }, account: client.account });
    await expect(noContract.verifyDeployment()).rejects.toMatchObject({ code: "CONTRACT_MISSING" });
  });

  it("deposit, fund, request, lock, complete: balances and unlock times at each step", async () => {
    const p = provider.address;
    await client.deposit(parseAmount("0.001"));
    await client.fund(p, 600_000_000_000_000n);
    await client.depositAndFund(p, 1000n);
    let b = await client.balances();
    expect(b.ledger).toBe(400_000_000_000_000n);
    expect(b.channels).toEqual([{ provider: p, balance: 600_000_000_001_000n, ownerSettled: 0n, pendingWithdraw: 0n, unlockAt: 0n }]);
    expect(progress.map((x) => x.stage)).toEqual([
      "simulating",
      "sent",
      "mined",
      "simulating",
      "sent",
      "mined",
      "simulating",
      "sent",
      "mined",
    ]);

    const req = await client.requestWithdraw(p, "all");
    expect(req.amount).toBe(600_000_000_001_000n);
    expect(req.unlockAt).toBe((await chain.now()) + 600n);
    await expect(client.completeWithdraw(p)).rejects.toMatchObject({ code: "WITHDRAW_LOCKED", errorName: "WithdrawLocked" });
    await chain.increaseTime(600n);
    const walletBefore = (await client.balances([])).wallet;
    const done = await client.completeWithdraw(p);
    expect(done.amount).toBe(600_000_000_001_000n);
    expect(done.transactions).toHaveLength(2);
    b = await client.balances();
    expect(b.channels[0]).toMatchObject({ balance: 0n, pendingWithdraw: 0n });
    expect(b.ledger).toBe(400_000_000_000_000n);
    const gas = done.transactions.reduce((s, t) => s + t.gasUsed * (t.receipt.effectiveGasPrice ?? 0n), 0n);
    expect(b.wallet).toBe(walletBefore + 600_000_000_001_000n - gas);
  });

  it('withdraw "all" reads the balance again when a settlement lands between its read and its transaction', async () => {
    const p = provider.address;
    await client.depositAndFund(p, 5000n);
    const read = client.channel.bind(client);
    let reads = 0;
    // The first read sees a balance the chain no longer holds, as when the provider settles right after it.
    const spy = jest.spyOn(client, "channel").mockImplementation(async (...args) => {
      const state = await read(...args);
      return reads++ === 0 ? { ...state, balance: state.balance + 1n } : state;
    });
    try {
      const req = await client.requestWithdraw(p, "all");
      expect(req.amount).toBe(5000n);
      expect(reads).toBe(2);
    } finally {
      spy.mockRestore();
    }
  });

  it('withdraw "all" asks again when a settlement is mined between its simulation and its own block', async () => {
    const p = provider.address;
    await client.depositAndFund(p, 5000n);
    // The provider holds a voucher for 100 of it.
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    const voucher = toVoucher(
      await signTicket(client.account, domain, {
        user: client.address,
        provider: p,
        nonce: 1n,
        cumulative: 100n,
        terms: {
          serviceId: `0x${"ab".repeat(32)}`,
          serviceVersion: 1,
          inputPrice: 1n,
          outputPrice: 1n,
          maxCost: 100n,
          requestHash: `0x${"cd".repeat(32)}`,
          deadline: 4_000_000_000n,
        },
      }),
    );
    // Blocks are mined by hand: the withdrawal (simulated against 5000) waits in the pool, the settlement
    // joins it with a higher tip, and one block mines the settlement first.
    await chain.testClient.setAutomine(false);
    const write = client.walletClient.writeContract.bind(client.walletClient);
    let sent!: () => void;
    const inPool = new Promise<void>((resolve) => (sent = resolve));
    const spy = jest.spyOn(client.walletClient, "writeContract").mockImplementation(async (args) => {
      const hash = await write(args);
      sent();
      return hash;
    });
    try {
      const pending = client.requestWithdraw(p, "all");
      await inPool;
      spy.mockRestore();
      const fees = await chain.publicClient.estimateFeesPerGas();
      await chain.wallet(2).writeContract({
        address: chain.deployment.escrow,
        abi: escrowAbi,
        functionName: "settle",
        args: [p, [voucher]],
        maxFeePerGas: fees.maxFeePerGas * 4n,
        maxPriorityFeePerGas: fees.maxFeePerGas * 2n,
      });
      await chain.testClient.mine({ blocks: 1 });
      await chain.testClient.setAutomine(true);
      const req = await pending;
      expect(req.amount).toBe(4900n);
      expect((await client.channel(p)).pendingWithdraw).toBe(4900n);
    } finally {
      spy.mockRestore();
      await chain.testClient.setAutomine(true);
    }
  });

  it("a revert while sending (the state changed after the simulation) is decoded to its typed code", async () => {
    await client.deposit(5000n);
    // Simulate funding the whole ledger, then empty the ledger before the transaction is sent: the gas
    // estimate reverts, and viem carries only the function's ABI in the simulated request.
    const err = await sendContractTransaction(client.walletClient, client.publicClient, "fund", async () => {
      const simulated = await client.escrow.simulate.fund([provider.address, 5000n], { account: client.account });
      await client.withdrawLedger(5000n);
      return simulated;
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContractRevertError);
    expect(err).toMatchObject({ code: "INSUFFICIENT_LEDGER", errorName: "InsufficientLedger", args: [0n, 5000n] });
  });

  it("refuses bad amounts before touching the chain, and typed contract errors spend nothing", async () => {
    expect(() => parseAmount("-1")).toThrow(InvalidArgumentError);
    expect(() => parseAmount("1e18")).toThrow(InvalidArgumentError);
    expect(() => parseAmount("0.0000000000000000001")).toThrow(InvalidArgumentError);
    expect(parseAmount("1500wei")).toBe(1500n);
    expect(parseAmount(".5")).toBe(500_000_000_000_000_000n);
    expect(formatAmount(1_500_000_000_000_000_000n)).toBe("1.5 0G");
    expect(() => client.deposit(0n)).toThrow(InvalidArgumentError);
    const nonceBefore = await chain.publicClient.getTransactionCount({ address: client.address });
    const err = await client.fund(provider.address, 10n ** 18n).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContractRevertError);
    expect(err).toMatchObject({ code: "INSUFFICIENT_LEDGER", errorName: "InsufficientLedger" });
    expect((err as ContractRevertError).hint).toMatch(/deposit/);
    await expect(client.depositAndFund(provider.address, 10n)).rejects.toMatchObject({ code: "BELOW_MIN_FUND" });
    await expect(client.depositAndFund(client.address, 10_000n, { allowUnlisted: true })).rejects.toMatchObject({ code: "SELF_CHANNEL" });
    // A provider that lists nothing: refused before any transaction (funds would be locked).
    const stranger = privateKeyToAccount(generatePrivateKey()).address;
    await expect(client.depositAndFund(stranger, 10_000n)).rejects.toMatchObject({ code: "UNKNOWN_PROVIDER" });
    expect(await chain.publicClient.getTransactionCount({ address: client.address })).toBe(nonceBefore);
  });

  it("session keys: authorize with a cap and expiry, read the lane, revoke", async () => {
    const key = privateKeyToAccount(generatePrivateKey()).address;
    const until = (await chain.now()) + 3600n;
    await client.authorizeSessionKey(provider.address, key, 5000n, until);
    expect(await client.sessionKeyLane(provider.address, key)).toEqual({ settled: 0n, cap: 5000n, validUntil: until });
    await expect(client.authorizeSessionKey(provider.address, key, 10n, until)).rejects.toMatchObject({ code: "CAP_DECREASE" });
    await client.revokeSessionKey(provider.address, key);
    expect((await client.sessionKeyLane(provider.address, key)).validUntil).toBe(await chain.now());
  });

  it("an unreachable RPC is a typed RpcError, with nothing sent", async () => {
    const dead = new ZeroGClient({ network: { ...client.network, rpcUrl: "http://127.0.0.1:9" }, account: client.account });
    await expect(dead.balances([provider.address])).rejects.toBeInstanceOf(RpcError);
    await expect(dead.deposit(1n)).rejects.toMatchObject({ code: "RPC_UNAVAILABLE" });
  });

  it("network presets resolve, and bad configuration is a typed error", () => {
    expect(resolveNetwork("galileo", { escrow: provider.address, registry: provider.address }).chainId).toBe(16602);
    expect(resolveNetwork("mainnet", { escrow: provider.address, registry: provider.address }).chainId).toBe(16661);
    expect(() => resolveNetwork("galileo")).toThrow(NetworkConfigError);
    expect(() =>
      resolveNetwork("custom", { rpcUrl: "http://127.0.0.1:1", escrow: "0x12", registry: provider.address, chainId: 5 }),
    ).toThrow(/malformed/);
  });

  it("a transaction dropped from the pool is a typed TX_TIMEOUT with its hash, not a hang", async () => {
    const quick = new ZeroGClient({ network: client.network, account: client.account, pollingIntervalMs: 20, receiptTimeoutMs: 600 });
    await chain.testClient.setAutomine(false);
    try {
      const pending = quick.deposit(1000n).catch((e: unknown) => e);
      // Wait until it is in the pool, then drop it.
      let hash: Hex | undefined;
      for (let i = 0; i < 50 && !hash; i++) {
        const block = await chain.publicClient.getBlock({ blockTag: "pending", includeTransactions: true });
        hash = block.transactions.map((t) => (typeof t === "string" ? t : t.hash))[0];
        if (!hash) await new Promise((r) => setTimeout(r, 20));
      }
      expect(hash).toBeDefined();
      await chain.testClient.dropTransaction({ hash: hash! });
      const err = await pending;
      expect(err).toMatchObject({ code: "TX_TIMEOUT", txHash: hash });
      expect(
        await chain.publicClient.readContract({
          address: chain.deployment.escrow,
          abi: (await import("@0g-compute/contracts")).escrowAbi,
          functionName: "ledger",
          args: [client.address],
        }),
      ).toBe(0n);
    } finally {
      await chain.testClient.setAutomine(true);
    }
  });
});
