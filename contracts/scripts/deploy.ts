/**
 * Deploy the escrow and the registry to any EVM network and print the deployment as JSON.
 *
 * Usage:
 *   DEPLOYER_PRIVATE_KEY=0x... tsx contracts/scripts/deploy.ts --rpc-url https://... \
 *     --lock 86400 --min-fund 1000000000000000 --stake 1000000000000000000 [--out deployment.json]
 *
 * Durations in seconds, amounts in wei. The key is read from the environment only, never a flag.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createPublicClient, createWalletClient, defineChain, http, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { deployContracts } from "../ts/deploy.js";

const { values } = parseArgs({
  options: {
    "rpc-url": { type: "string" },
    lock: { type: "string", default: "86400" },
    "min-fund": { type: "string", default: "1000000000000000" },
    stake: { type: "string", default: "1000000000000000000" },
    "unbond-delay": { type: "string" },
    "terms-delay": { type: "string" },
    out: { type: "string" },
  },
});

async function main(): Promise<void> {
  const rpcUrl = values["rpc-url"];
  const key = process.env.DEPLOYER_PRIVATE_KEY as Hex | undefined;
  if (!rpcUrl) throw new Error("--rpc-url is required");
  if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key)) throw new Error("set DEPLOYER_PRIVATE_KEY to a 32-byte hex key");
  const probe = createPublicClient({ transport: http(rpcUrl) });
  const chainId = await probe.getChainId();
  const chain = defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: "0G", symbol: "0G", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const client = createPublicClient({ chain, transport: http(rpcUrl) });
  const wallet = createWalletClient({ account: privateKeyToAccount(key), chain, transport: http(rpcUrl) });
  const deployment = await deployContracts(wallet, client, {
    lockSeconds: BigInt(values.lock),
    minFund: BigInt(values["min-fund"]),
    providerStake: BigInt(values.stake),
    ...(values["unbond-delay"] ? { unbondDelaySeconds: BigInt(values["unbond-delay"]) } : {}),
    ...(values["terms-delay"] ? { termsDelaySeconds: BigInt(values["terms-delay"]) } : {}),
  });
  const json = JSON.stringify(deployment, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
  if (values.out) writeFileSync(values.out, json + "\n");
  console.log(json);
}

main().catch((err: unknown) => {
  const e = err as { shortMessage?: string; message?: string };
  console.error(e.shortMessage ?? e.message ?? String(err));
  process.exit(1);
});
