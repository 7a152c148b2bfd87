/**
 * ZK settlement benchmark: constraints per user, proving time and peak memory, and on-chain gas per
 * settled user next to voucher mode's figure for the same batch size K.
 *
 * Gas: a settlement's cost is the verifier call (independent of K: one public input) plus the K-dependent
 * rest (calldata, the Horner loop, keccak). The bench measures the verifier's cost on a REAL proof of the
 * CI circuit (same transaction with the real verifier and with an accepting stand-in), then measures
 * settlements of every K with the stand-in, and adds the two. Every figure comes from a mined transaction.
 *
 * Proving: one child process per K whose keys exist (or are built with --build), so maxRSS is the prover's.
 *
 * Proving at scale, TIMING ONLY: a real key for 2^18-2^20 constraints takes hours to set up on two cores,
 * and the prover's time does not depend on the key's points. For each K of --timing the bench compiles the
 * circuit and writes a timing-only key (contracts/zk/timing-key.ts: the circuit's exact coefficients,
 * point sections of the right sizes with no setup behind them), then times witness and proof in a child
 * and reports its peak memory. Such a proof verifies against nothing (the child checks that it does not);
 * the key can never settle anything.
 *
 * Usage: npm run bench:zk [-- --ks 4,16,64 --depth 16 --prove 4 --build --timing 16,64 --json out.json]
 *   --prove K,...   which K to prove (default: every K in --ks whose keys are already built)
 *   --build         build missing keys for the --prove list (slow: minutes at K = 4, hours at K = 64)
 *   --timing K,...  K to time on timing-only keys (default 16,64; "none" skips; compiling K = 64 the
 *                   first time takes tens of minutes, then it is cached)
 *   --compile-max N compile circuits up to K = N to count constraints (default 16); larger K are extrapolated
 * Targets: gas per settled user <= 2,000 at a K whose proof takes <= 5 minutes and <= 8 GiB; the bench fits
 * the gas line and projects the per-user constraint budget that would need.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createWalletClient, getContract, http, parseEventLogs, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { escrowDomain, signTicket, toVoucher, type Terms } from "@0g-compute/core";
import { signZkVoucher, zkKeyFromSecret } from "@0g-compute/core/zk";
import { acceptingVerifierAbi, acceptingVerifierBytecode, deployZkEscrow, escrowAbi, zkEscrowAbi } from "../ts/index.js";
import { startLocalChain, type LocalChain } from "../ts/testing.js";
import {
  CI_CIRCUIT,
  ZK_BUILD_DIR,
  countZkConstraints,
  ensureZkArtifacts,
  loadZkArtifacts,
  type ZkArtifacts,
  type ZkCircuitConfig,
} from "../zk/build.js";
import { isTimingOnlyZkey, writeTimingOnlyZkey } from "../zk/timing-key.js";
import { LOCK, openAndDeposit, setupZk } from "../test/zk-helpers.js";

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const list = (v: string | undefined, fallback: number[]): number[] => (v ? v.split(",").map(Number) : fallback);
const KS = list(arg("ks"), [4, 16, 64]);
const DEPTH = Number(arg("depth") ?? 16);
const COMPILE_MAX = Number(arg("compile-max") ?? 16);
const queueSlotsFor = (k: number): number => Math.max(1, Math.floor(k / 4));
const configFor = (k: number): ZkCircuitConfig => ({ batchSize: k, queueSlots: queueSlotsFor(k), depth: DEPTH });

const terms: Terms = {
  serviceId: `0x${"ab".repeat(32)}`,
  serviceVersion: 1,
  inputPrice: 1_000_000_000n,
  outputPrice: 2_000_000_000n,
  maxCost: 10n ** 15n,
  requestHash: `0x${"cd".repeat(32)}`,
  deadline: 4_000_000_000n,
};

/** Voucher mode: K fresh users, one owner-lane voucher each, one settle; whole tx gas / K. */
async function voucherGasPerUser(chain: LocalChain, providerIndex: number, k: number): Promise<number> {
  const provider = chain.wallet(providerIndex);
  const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
  const users = Array.from({ length: k }, () => privateKeyToAccount(generatePrivateKey()));
  for (const u of users) {
    await chain.testClient.setBalance({ address: u.address, value: 10n ** 18n });
    const w = createWalletClient({ account: u, chain: chain.chain, transport: http(chain.rpcUrl) });
    const hash = await w.writeContract({
      address: chain.deployment.escrow,
      abi: escrowAbi,
      functionName: "depositAndFund",
      args: [provider.account.address],
      value: 10n ** 16n,
    });
    await chain.publicClient.waitForTransactionReceipt({ hash });
  }
  const vouchers = await Promise.all(
    users.map(async (u: LocalAccount, i) =>
      toVoucher(
        await signTicket(u, domain, {
          user: u.address,
          provider: provider.account.address,
          nonce: BigInt(i + 1),
          cumulative: 123_456_789_000n,
          terms,
        }),
      ),
    ),
  );
  const escrow = getContract({
    address: chain.deployment.escrow,
    abi: escrowAbi,
    client: { public: chain.publicClient, wallet: provider },
  });
  const receipt = await chain.publicClient.waitForTransactionReceipt({
    hash: await escrow.write.settle([provider.account.address, vouchers], { gas: 30_000_000n }),
  });
  if (parseEventLogs({ abi: escrowAbi, logs: receipt.logs, eventName: "Settled" }).length !== k)
    throw new Error("voucher batch did not settle every user");
  return Math.round(Number(receipt.gasUsed) / k);
}

/** Data words of a full batch of k users (leaf i, a realistic cumulative in wei). */
function batchData(k: number, round: bigint): `0x${string}` {
  let hex = "0x";
  for (let i = 0; i < k; i++) hex += (BigInt(i) + (10n ** 15n * round + BigInt(i) * 7919n) * 2n ** 32n).toString(16).padStart(32, "0");
  return hex as `0x${string}`;
}

/** Settlement gas with the accepting stand-in verifier, steady state (second settlement, nothing queued). */
async function standInSettleGas(chain: LocalChain, providerIndex: number, config: ZkCircuitConfig): Promise<bigint> {
  const deployer = chain.wallet(0);
  const zk = await deployZkEscrow(deployer, chain.publicClient, {
    lockSeconds: LOCK,
    minFund: 0n,
    verifier: { abi: acceptingVerifierAbi as unknown as unknown[], bytecode: acceptingVerifierBytecode },
    ...config,
  });
  // deployZkEscrow deploys the verifier from the given bytecode: here the stand-in.
  const provider = chain.wallet(providerIndex);
  const escrow = getContract({ address: zk.escrow, abi: zkEscrowAbi, client: { public: chain.publicClient, wallet: provider } });
  const proof = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n].map((x) => x * 10n ** 70n) as unknown as readonly [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  let gas = 0n;
  for (const round of [1n, 2n]) {
    const root = BigInt(`0x${"1f".repeat(31)}`) + round;
    const hash = await escrow.write.settleZk(
      [provider.account.address, root, 10n ** 15n * BigInt(config.batchSize), root + 7n, batchData(config.batchSize, round), proof],
      { gas: 5_000_000n },
    );
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error("stand-in settlement reverted");
    gas = receipt.gasUsed;
  }
  return gas;
}

/** The real verifier's cost: one real 2-user settlement (nothing queued) minus the same with the stand-in. */
async function realVerifierCost(): Promise<{ real: bigint; standIn: bigint; verifier: bigint }> {
  const f = await setupZk();
  try {
    const provider = f.chain.wallet(5);
    const P = provider.account.address;
    const keys = [zkKeyFromSecret(new Uint8Array(32).fill(11)), zkKeyFromSecret(new Uint8Array(32).fill(12))];
    const leaves = [
      await openAndDeposit(f, f.chain.wallet(1), keys[0]!, P, 10n ** 18n),
      await openAndDeposit(f, f.chain.wallet(2), keys[1]!, P, 10n ** 18n),
    ];
    const sign = (i: number, c: bigint) => signZkVoucher(keys[i]!, { ...f.scope(P), leafIndex: leaves[i]! }, c);
    for (const vouchers of [[sign(0, 10n ** 15n)], [sign(1, 10n ** 15n)]]) {
      const b = await f.batch(P, vouchers);
      await f.settle(provider, b, await f.prove(b));
    }
    const b = await f.batch(P, [sign(0, 2n * 10n ** 15n + 7919n), sign(1, 2n * 10n ** 15n + 1n)]);
    if (b.nQueue !== 0 || b.applied.length !== 2) throw new Error("unexpected batch");
    const real = (await f.settle(provider, b, await f.prove(b))).gasUsed;
    const standIn = await standInSettleGas(f.chain, 6, f.art.config);
    return { real, standIn, verifier: real - standIn };
  } finally {
    await f.stop();
  }
}

/** Keys already built for this K and depth (any queue size: the row reports the one used). */
function builtArtifacts(config: ZkCircuitConfig): ZkArtifacts | undefined {
  if (!existsSync(ZK_BUILD_DIR)) return undefined;
  for (const d of readdirSync(ZK_BUILD_DIR)) {
    const file = join(ZK_BUILD_DIR, d, "artifacts.json");
    if (d.startsWith(`k${config.batchSize}-q`) && d.includes(`-d${config.depth}-`) && !d.endsWith(".lock") && existsSync(file)) {
      return loadZkArtifacts(join(ZK_BUILD_DIR, d));
    }
  }
  return undefined;
}

async function main(): Promise<void> {
  const results: Record<string, number> = {};
  const log = (m: string) => process.stderr.write(`${m}\n`);

  // 1. Constraints per user (compiled up to COMPILE_MAX, the rest extrapolated linearly).
  const constraints = new Map<number, { total: number; extrapolated: boolean }>();
  for (const k of KS.filter((k) => k <= COMPILE_MAX)) {
    log(`compiling K=${k} D=${DEPTH}`);
    constraints.set(k, { total: (await countZkConstraints(configFor(k))).constraints, extrapolated: false });
  }
  const known = [...constraints.entries()].sort((a, b) => a[0] - b[0]);
  if (known.length >= 2) {
    const [k1, c1] = known[known.length - 2]!;
    const [k2, c2] = known[known.length - 1]!;
    const slope = (c2.total - c1.total) / (k2 - k1);
    for (const k of KS.filter((k) => k > COMPILE_MAX))
      constraints.set(k, { total: Math.round(c2.total + slope * (k - k2)), extrapolated: true });
  }

  // 2. Proving time and peak memory.
  const proveKs = list(
    arg("prove"),
    KS.filter((k) => builtArtifacts(configFor(k)) !== undefined),
  );
  const proving = new Map<number, { proveMs: number; maxRssMiB: number; cpuMs: number }>();
  for (const k of proveKs) {
    const art =
      builtArtifacts(configFor(k)) ?? (process.argv.includes("--build") ? await ensureZkArtifacts(configFor(k), { log }) : undefined);
    if (!art) {
      log(`K=${k}: no keys built (run with --build); skipping proving`);
      continue;
    }
    log(`proving K=${k}`);
    const run = spawnSync(process.execPath, ["--conditions=@0g-compute/source", "--import", "tsx", join(here, "zk-prove.ts"), art.dir], {
      encoding: "utf8",
      maxBuffer: 1 << 20,
    });
    if (run.status !== 0) throw new Error(`prover failed: ${run.stderr}`);
    const out = JSON.parse(run.stdout.trim().split("\n").pop()!) as {
      witnessMs: number;
      proveMs: number;
      maxRssMiB: number;
      cpuMs: number;
      verified: boolean;
      Q: number;
    };
    log(`K=${k}: proved with Q=${out.Q}, ${art.constraints} constraints`);
    if (!out.verified) throw new Error("bench proof did not verify");
    // The prover as the provider runs it (fullProve): witness and proof together.
    proving.set(k, { ...out, proveMs: out.witnessMs + out.proveMs });
  }

  // 2b. Proving at scale on timing-only keys.
  const timingKs = arg("timing") === "none" ? [] : list(arg("timing"), [16, 64]);
  const timing = new Map<number, { constraints: number; keyS: number; witnessMs: number; proveMs: number; maxRssMiB: number }>();
  for (const k of timingKs) {
    const config = configFor(k);
    log(`compiling K=${k} D=${DEPTH} for timing (cached once compiled)`);
    const circuit = await countZkConstraints(config);
    constraints.set(k, { total: circuit.constraints, extrapolated: false });
    const zkey = join(circuit.dir, "timing-only.zkey");
    let keyS = 0;
    if (!existsSync(zkey) || !isTimingOnlyZkey(zkey)) {
      const t = Date.now();
      await writeTimingOnlyZkey(circuit.r1cs, zkey, log);
      keyS = (Date.now() - t) / 1000;
    }
    const configFile = join(circuit.dir, "timing-config.json");
    writeFileSync(configFile, JSON.stringify(config));
    log(`timing K=${k} (${circuit.constraints} constraints) on its timing-only key`);
    const run = spawnSync(
      process.execPath,
      ["--conditions=@0g-compute/source", "--import", "tsx", join(here, "zk-prove.ts"), "--timing-only", configFile, circuit.wasm, zkey],
      { encoding: "utf8", maxBuffer: 1 << 20 },
    );
    if (run.status !== 0) throw new Error(`timing prover failed: ${run.stderr}`);
    const out = JSON.parse(run.stdout.trim().split("\n").pop()!) as {
      witnessMs: number;
      proveMs: number;
      maxRssMiB: number;
      verified: boolean;
    };
    if (out.verified) throw new Error("a proof from a timing-only key verified: the key is not what it claims");
    timing.set(k, { constraints: circuit.constraints, keyS, ...out });
  }

  // 3. Gas per settled user.
  log("measuring the real verifier's cost on a real proof (CI circuit)");
  await ensureZkArtifacts(CI_CIRCUIT, { log });
  const anchor = await realVerifierCost();
  results["real settlement gas, 2 users (CI circuit)"] = Number(anchor.real);
  results["verifier cost (real minus stand-in)"] = Number(anchor.verifier);
  const chain = await startLocalChain({ params: { minFund: 0n } });
  const gas = new Map<number, { zk: number; voucher: number }>();
  try {
    let providerIndex = 2;
    for (const k of KS) {
      const voucher = await voucherGasPerUser(chain, providerIndex++, k);
      const standIn = await standInSettleGas(chain, providerIndex++, configFor(k));
      gas.set(k, { zk: Math.round(Number(standIn + anchor.verifier) / k), voucher });
    }
  } finally {
    await chain.stop();
  }

  console.log(
    `ZK settlement (tree depth ${DEPTH}, queue slots K/4; CI circuit K=${CI_CIRCUIT.batchSize} Q=${CI_CIRCUIT.queueSlots} D=${CI_CIRCUIT.depth})`,
  );
  console.log(`real 2-user settlement: ${anchor.real} gas; verifier share: ${anchor.verifier} gas`);
  console.log("K    constraints  per user  prove s  peak MiB  ZK gas/user  voucher gas/user");
  for (const k of KS) {
    const c = constraints.get(k);
    const p = proving.get(k);
    const g = gas.get(k)!;
    const row = [
      String(k).padEnd(4),
      (c ? `${c.total}${c.extrapolated ? "*" : ""}` : "-").padStart(11),
      (c ? `${Math.round(c.total / k)}${c.extrapolated ? "*" : ""}` : "-").padStart(9),
      (p ? (p.proveMs / 1000).toFixed(1) : "-").padStart(8),
      (p ? String(p.maxRssMiB) : "-").padStart(9),
      String(g.zk).padStart(12),
      String(g.voucher).padStart(17),
    ];
    console.log(row.join(" "));
    const est = c?.extrapolated ? " (extrapolated)" : "";
    if (c) {
      results[`K=${k} constraints${est}`] = c.total;
      results[`K=${k} constraints per user${est}`] = Math.round(c.total / k);
    }
    if (p) {
      results[`K=${k} proving s`] = +(p.proveMs / 1000).toFixed(1);
      results[`K=${k} proving peak MiB`] = p.maxRssMiB;
    }
    results[`K=${k} gas per settled user, ZK mode`] = g.zk;
    results[`K=${k} gas per settled user, voucher mode`] = g.voucher;
  }
  console.log("* extrapolated linearly from the two largest compiled circuits");
  if (timing.size > 0) {
    console.log("\nproving at scale, TIMING-ONLY keys (exact coefficients, no setup: the proofs verify against nothing)");
    console.log("K    constraints  per user  witness s  prove s  peak MiB  (key written in s)");
    for (const [k, t] of timing) {
      console.log(
        [
          String(k).padEnd(4),
          String(t.constraints).padStart(11),
          String(Math.round(t.constraints / k)).padStart(9),
          (t.witnessMs / 1000).toFixed(1).padStart(10),
          (t.proveMs / 1000).toFixed(1).padStart(8),
          String(t.maxRssMiB).padStart(9),
          t.keyS > 0 ? `  (${t.keyS.toFixed(0)})` : "  (cached)",
        ].join(" "),
      );
      results[`K=${k} witness s (timing-only key)`] = +(t.witnessMs / 1000).toFixed(1);
      results[`K=${k} proving s (timing-only key)`] = +(t.proveMs / 1000).toFixed(1);
      results[`K=${k} witness + proving s (timing-only key)`] = +((t.witnessMs + t.proveMs) / 1000).toFixed(1);
      results[`K=${k} proving peak MiB (timing-only key)`] = t.maxRssMiB;
    }
  }
  const at64 = gas.get(64);
  if (at64) console.log(`target gas per settled user at K=64 <= 2000: ${at64.zk <= 2000 ? "met" : "NOT met"} (${at64.zk})`);
  const t64 = timing.get(64);
  const p64 = proving.get(64)?.proveMs ?? (t64 ? t64.witnessMs + t64.proveMs : undefined);
  console.log(
    `target proving at K=64 (witness + proof) <= 300 s: ${p64 !== undefined ? (p64 <= 300_000 ? "met" : "NOT met") + ` (${(p64 / 1000).toFixed(0)} s${proving.has(64) ? "" : ", timing-only key"})` : "not measured (no K=64 keys and no --timing 64)"}`,
  );
  // Where 2,000 gas per user lies: a settlement costs F + m*K gas (F the verifier and the transaction, m a
  // user's calldata and Horner step), fitted on the two largest K measured; the batch must then prove in
  // 300 s, at the seconds per constraint of the largest timing run (a linear projection, labelled so).
  const ks = [...gas.keys()].sort((a, b) => a - b);
  if (ks.length >= 2) {
    const [k1, k2] = ks.slice(-2) as [number, number];
    const total = (k: number) => gas.get(k)!.zk * k;
    const m = (total(k2) - total(k1)) / (k2 - k1);
    const fixed = total(k2) - m * k2;
    const kNeeded = m < 2000 ? Math.ceil(fixed / (2000 - m)) : Number.POSITIVE_INFINITY;
    results["settlement gas, fixed part (fitted)"] = Math.round(fixed);
    results["settlement gas per user, marginal (fitted)"] = Math.round(m);
    results["K needed for <= 2000 gas per settled user"] = kNeeded;
    console.log(`gas = ${Math.round(fixed)} + ${Math.round(m)} x K (fitted on K=${k1},${k2}): <= 2000 gas per user needs K >= ${kNeeded}`);
    const largest = [...timing.entries()].sort((a, b) => b[0] - a[0])[0];
    if (largest && Number.isFinite(kNeeded)) {
      const [kt, t] = largest;
      const sPerConstraint = (t.witnessMs + t.proveMs) / 1000 / t.constraints;
      const budget = Math.floor(300 / sPerConstraint / kNeeded);
      results["constraints per user that prove K-needed in 300 s (projected)"] = budget;
      console.log(
        `  proving K=${kNeeded} in 300 s allows about ${budget} constraints per user (projected linearly from K=${kt}: ${(sPerConstraint * 1e6).toFixed(0)} µs per constraint); the circuit has ${Math.round(t.constraints / kt)}`,
      );
    }
  }
  const jsonOut = arg("json");
  const targets = {
    "K=64 gas per settled user, ZK mode": "<= 2000",
    "K=64 proving s": "<= 300",
    "K=64 witness + proving s (timing-only key)": "<= 300",
    "K=64 proving peak MiB (timing-only key)": "<= 8192",
  };
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ benchmark: "zk", depth: DEPTH, results, targets }, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
