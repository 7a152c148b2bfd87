/**
 * One proving run, in its own process so that its peak memory (maxRSS, worker threads included) is the
 * prover's alone. Builds a full batch for the circuit in `<artifacts dir>`: Q deposits, then K users'
 * EdDSA-signed vouchers over a tree of K funded channels, and proves it. Prints one JSON line.
 *
 * Usage: tsx --conditions=@0g-compute/source contracts/bench/zk-prove.ts <artifacts.json>
 */
import { readFileSync } from "node:fs";
import * as snarkjs from "snarkjs";
import { buildZkBatch, signZkVoucher, zkKeyFromSecret, ZkChannelTree } from "@0g-compute/core/zk";
import type { ZkArtifacts } from "../zk/build.js";

async function main(): Promise<void> {
  const art = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as ZkArtifacts;
  const { batchSize: K, queueSlots: Q, depth: D } = art.config;
  const scope = {
    chainId: 31337,
    escrow: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    provider: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  } as const;
  const tree = new ZkChannelTree(D);
  const keys = Array.from({ length: K + Q }, (_, i) => zkKeyFromSecret(new Uint8Array(32).fill(i + 1)));
  for (let i = 0; i < K; i++) tree.set(i, { keyHash: keys[i]!.keyHash, funded: 10n ** 18n, paid: 0n });
  const pendingQueue = Array.from({ length: Q }, (_, j) => ({ leafIndex: K + j, keyHash: keys[K + j]!.keyHash, amount: 10n ** 17n }));
  const vouchers = Array.from({ length: K }, (_, i) => signZkVoucher(keys[i]!, { ...scope, leafIndex: i }, 123_456_789_000n + BigInt(i)));
  const batch = buildZkBatch({ shape: art.config, scope, tree, oldQueueHash: 0n, pendingQueue, vouchers });
  if (batch.applied.length !== K || batch.nQueue !== Q) throw new Error("bench batch is not full");
  const t0 = Date.now();
  const { proof, publicSignals } = await snarkjs.groth16.fullProve(batch.input, art.wasm, art.zkey);
  const proveMs = Date.now() - t0;
  const ok = await snarkjs.groth16.verify(art.vkey, publicSignals, proof);
  await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
  const usage = process.resourceUsage();
  process.stdout.write(
    JSON.stringify({
      K,
      Q,
      D,
      proveMs,
      verified: ok,
      maxRssMiB: Math.round(usage.maxRSS / 1024),
      cpuMs: Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000),
    }) + "\n",
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
