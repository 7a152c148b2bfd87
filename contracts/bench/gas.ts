/**
 * Gas benchmark for deployment and batched voucher settlement on a local anvil.
 *
 * For each batch size, N fresh users each fund a channel to one provider and sign one owner-lane
 * voucher; the provider settles all N in one transaction. "Gas per settled user" is the whole
 * transaction's gas (base cost included) divided by N. Also measures session-key lanes at batch 64.
 *
 * Usage: `npm run bench:gas [-- --json out.json]`. Target: gas per settled user at batch 64 <= 15000.
 */
import { writeFileSync } from "node:fs";
import { getContract, parseEventLogs, type Address, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { escrowDomain, signTicket, toVoucher, type Terms, type Voucher } from "@0g-compute/core";
import { escrowAbi } from "../ts/index.js";
import { startLocalChain, type LocalChain } from "../ts/testing.js";

const BATCHES = [1, 16, 64, 256] as const;
const TARGET_AT_64 = 15_000;

const terms: Terms = {
  serviceId: `0x${"ab".repeat(32)}`,
  serviceVersion: 1,
  inputPrice: 1_000_000_000n,
  outputPrice: 2_000_000_000n,
  maxCost: 10n ** 15n,
  requestHash: `0x${"cd".repeat(32)}`,
  deadline: 4_000_000_000n,
};

async function fundUsers(chain: LocalChain, provider: Address, users: LocalAccount[]): Promise<void> {
  const escrow = chain.deployment.escrow;
  for (let i = 0; i < users.length; i += 32) {
    const slice = users.slice(i, i + 32);
    await Promise.all(slice.map((u) => chain.testClient.setBalance({ address: u.address, value: 10n ** 18n })));
    const hashes = await Promise.all(
      slice.map(async (u) => {
        const { createWalletClient, http } = await import("viem");
        const w = createWalletClient({ account: u, chain: chain.chain, transport: http(chain.rpcUrl) });
        return w.writeContract({ address: escrow, abi: escrowAbi, functionName: "depositAndFund", args: [provider], value: 10n ** 16n });
      }),
    );
    for (const hash of hashes) {
      const r = await chain.publicClient.waitForTransactionReceipt({ hash });
      if (r.status !== "success") throw new Error("funding failed");
    }
  }
}

async function settleBatch(chain: LocalChain, providerIndex: number, vouchers: Voucher[]): Promise<bigint> {
  const provider = chain.wallet(providerIndex);
  const escrow = getContract({
    address: chain.deployment.escrow,
    abi: escrowAbi,
    client: { public: chain.publicClient, wallet: provider },
  });
  const hash = await escrow.write.settle([provider.account.address, vouchers], { gas: 30_000_000n });
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new Error("settlement reverted");
  const settled = parseEventLogs({ abi: escrowAbi, logs: receipt.logs, eventName: "Settled" });
  if (settled.length !== vouchers.length) throw new Error(`expected ${vouchers.length} settled items, got ${settled.length}`);
  return receipt.gasUsed;
}

async function main(): Promise<void> {
  const jsonIndex = process.argv.indexOf("--json");
  const jsonOut = jsonIndex > 0 ? process.argv[jsonIndex + 1] : undefined;
  const chain = await startLocalChain({ params: { minFund: 0n }, anvil: { accounts: 10 } });
  const results: Record<string, number> = {};
  try {
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    const { escrow, registry } = chain.deployment.gasUsed;
    console.log(`deploy gas: escrow ${escrow}, registry ${registry}, total ${escrow + registry}`);
    results["deploy gas escrow"] = Number(escrow);
    results["deploy gas registry"] = Number(registry);

    let providerIndex = 2;
    const perUser: Record<number, number> = {};
    for (const n of BATCHES) {
      const provider = chain.wallet(providerIndex++).account.address;
      const users = Array.from({ length: n }, () => privateKeyToAccount(generatePrivateKey()));
      await fundUsers(chain, provider, users);
      const vouchers = await Promise.all(
        users.map(async (u, i) =>
          toVoucher(await signTicket(u, domain, { user: u.address, provider, nonce: BigInt(i + 1), cumulative: 123_456_789_000n, terms })),
        ),
      );
      const gas = await settleBatch(chain, providerIndex - 1, vouchers);
      perUser[n] = Math.round(Number(gas) / n);
      results[`gas per settled user at batch ${n}`] = perUser[n];
      console.log(`batch ${n}: settlement gas ${gas}, gas per settled user ${perUser[n]}`);
    }

    // Session-key lanes at batch 64, for comparison (one key per user, authorized on-chain).
    {
      const n = 64;
      const providerWallet = chain.wallet(providerIndex);
      const provider = providerWallet.account.address;
      const users = Array.from({ length: n }, () => privateKeyToAccount(generatePrivateKey()));
      await fundUsers(chain, provider, users);
      const keys = users.map(() => privateKeyToAccount(generatePrivateKey()));
      const until = (await chain.now()) + 86_400n;
      const { createWalletClient, http } = await import("viem");
      const hashes = await Promise.all(
        users.map((u, i) =>
          createWalletClient({ account: u, chain: chain.chain, transport: http(chain.rpcUrl) }).writeContract({
            address: chain.deployment.escrow,
            abi: escrowAbi,
            functionName: "authorizeKey",
            args: [provider, keys[i]!.address, 10n ** 16n, until],
          }),
        ),
      );
      for (const hash of hashes) await chain.publicClient.waitForTransactionReceipt({ hash });
      const vouchers = await Promise.all(
        users.map(async (u, i) =>
          toVoucher(await signTicket(keys[i]!, domain, { user: u.address, provider, nonce: 1n, cumulative: 123_456_789_000n, terms })),
        ),
      );
      const gas = await settleBatch(chain, providerIndex, vouchers);
      results["gas per settled session-key lane at batch 64"] = Math.round(Number(gas) / n);
      console.log(`batch 64 (session-key lanes): settlement gas ${gas}, gas per settled user ${Math.round(Number(gas) / n)}`);
    }

    const at64 = perUser[64]!;
    console.log(`target: <= ${TARGET_AT_64} at batch 64 (${at64 <= TARGET_AT_64 ? "met" : "NOT met"})`);
    console.log(`gas per settled user at batch 64: ${at64}`);
    if (jsonOut)
      writeFileSync(
        jsonOut,
        JSON.stringify({ benchmark: "gas", results, targets: { "gas per settled user at batch 64": `<= ${TARGET_AT_64}` } }, null, 2),
      );
  } finally {
    await chain.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
