/**
 * One proving run, in its own process so that its peak memory (maxRSS, worker threads included) is the
 * prover's alone. Builds a full batch for the circuit in `<artifacts dir>`: Q deposits, then K users'
 * EdDSA-signed vouchers over a tree of K funded channels, computes the witness, then proves it (each
 * timed). Prints one JSON line.
 *
 * With a timing-only key (contracts/zk/timing-key.ts) the proof is timed the same way and then checked
 * NOT to verify: the key has no setup behind it, and the run says so.
 *
 * Usage: tsx --conditions=@0g-compute/source contracts/bench/zk-prove.ts <artifacts dir>
 *        tsx --conditions=@0g-compute/source contracts/bench/zk-prove.ts --timing-only <config.json> <wasm> <zkey>
 */
import { readFileSync } from "node:fs";
import * as snarkjs from "snarkjs";
import { buildZkBatch, signZkVoucher, zkKeyFromSecret, ZkChannelTree } from "@0g-compute/core/zk";
import { loadZkArtifacts, type ZkArtifacts, type ZkCircuitConfig } from "../zk/build.js";
import { isTimingOnlyZkey } from "../zk/timing-key.js";

async function main(): Promise<void> {
  const timingOnly = process.argv[2] === "--timing-only";
  const art: Pick<ZkArtifacts, "config" | "wasm" | "zkey"> & { vkey?: unknown } = timingOnly
    ? { config: JSON.parse(readFileSync(process.argv[3]!, "utf8")) as ZkCircuitConfig, wasm: process.argv[4]!, zkey: process.argv[5]! }
    : loadZkArtifacts(process.argv[2]!);
  if (timingOnly !== isTimingOnlyZkey(art.zkey)) throw new Error(`${art.zkey}: the key's kind does not match the run's`);
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
  const witness = { type: "mem" } as { type: "mem" };
  await snarkjs.wtns.calculate(batch.input, art.wasm, witness);
  const witnessMs = Date.now() - t0;
  const t1 = Date.now();
  const { proof, publicSignals } = await snarkjs.groth16.prove(art.zkey, witness);
  const proveMs = Date.now() - t1;
  const vkey = art.vkey ?? (await snarkjs.zKey.exportVerificationKey(art.zkey));
  const ok = await snarkjs.groth16.verify(vkey, publicSignals, proof);
  await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
  const usage = process.resourceUsage();
  process.stdout.write(
    JSON.stringify({
      K,
      Q,
      D,
      witnessMs,
      proveMs,
      timingOnly,
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
