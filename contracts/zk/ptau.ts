/**
 * Powers-of-tau generator for TESTS: writes a "prepared" (phase-2 ready) `.ptau` file in snarkjs's
 * binary format, with tau, alpha and beta derived from a public seed. Anyone who knows the seed can
 * forge proofs for every circuit set up on it: it is for tests, CI and benchmarks only. Production keys
 * start from a public ceremony file the operator supplies (see docs/zk-settlement.md).
 *
 * Why a generator: `snarkjs powersoftau prepare phase2` computes the Lagrange sections with group FFTs
 * (O(P * 2^P) scalar multiplications; power 14 takes about 20 minutes on two cores). Here every point
 * is `s * G` for a scalar `s` known in the clear (a power of tau, or a Lagrange basis polynomial at tau),
 * so each point costs one fixed-base multiplication: a table of `j * 256^w * G` turns it into at most
 * 32 mixed additions, run in the curve library's WebAssembly worker threads.
 *
 * The sections match snarkjs exactly (pinned by a test against `preparePhase2` at a small power),
 * including the top tauG1 level, which snarkjs builds from 2^(P+1)-1 powers and one zero point.
 */
import { createHash } from "node:crypto";
import { BinFileWriter, le, u32 } from "./binfile.js";
import { buildBn128, type Bn128, type TaskCommand, type WasmGroup } from "ffjavascript";

/** The BN254 scalar field order. */
const BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
/** The BN254 base field order. */
const BN254_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

const R = BN254_R;

function mod(a: bigint): bigint {
  const m = a % R;
  return m < 0n ? m + R : m;
}

function powMod(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % R;
    b = (b * b) % R;
    e >>= 1n;
  }
  return result;
}

function inv(a: bigint): bigint {
  return powMod(a, R - 2n);
}

/** Invert many field elements with one exponentiation (Montgomery's trick). */
function batchInverse(values: bigint[]): bigint[] {
  const prefix: bigint[] = new Array(values.length);
  let acc = 1n;
  for (let i = 0; i < values.length; i++) {
    prefix[i] = acc;
    acc = (acc * values[i]!) % R;
  }
  let accInv = inv(acc);
  const out: bigint[] = new Array(values.length);
  for (let i = values.length - 1; i >= 0; i--) {
    out[i] = (accInv * prefix[i]!) % R;
    accInv = (accInv * values[i]!) % R;
  }
  return out;
}

/** The secret scalars of a test ceremony, derived from a public seed. */
interface TestToxicWaste {
  tau: bigint;
  alpha: bigint;
  beta: bigint;
}

/** Derive tau, alpha and beta from a public seed (SHA-256, reduced into the scalar field, never zero). */
function toxicWasteFromSeed(seed: string): TestToxicWaste {
  const derive = (label: string): bigint => {
    const h = createHash("sha256").update(`0g-compute test ptau/${label}/${seed}`).digest("hex");
    const v = mod(BigInt(`0x${h}`));
    return v === 0n ? 1n : v;
  };
  return { tau: derive("tau"), alpha: derive("alpha"), beta: derive("beta") };
}

/** `tau^0 .. tau^(n-1)`. */
function powers(tau: bigint, n: number): bigint[] {
  const out: bigint[] = new Array(n);
  let acc = 1n;
  for (let i = 0; i < n; i++) {
    out[i] = acc;
    acc = (acc * tau) % R;
  }
  return out;
}

/**
 * Values at tau of the Lagrange basis of the size-2^p domain, in snarkjs's order (the inverse FFT of the
 * powers). With `truncated`, the last power is replaced by zero first, as snarkjs does for the top level.
 */
function lagrangeAt(tau: bigint, omega: bigint, p: number, truncated: boolean): bigint[] {
  const n = 1 << p;
  const nInv = inv(BigInt(n));
  const scale = (((powMod(tau, BigInt(n)) - 1n + R) % R) * nInv) % R;
  const omegas = powers(omega, n);
  const denominators = omegas.map((w) => mod(tau - w));
  const inverses = batchInverse(denominators);
  const topTerm = truncated ? (powMod(tau, BigInt(n - 1)) * nInv) % R : 0n;
  return omegas.map((w, i) => {
    const l = (((scale * w) % R) * inverses[i]!) % R;
    return truncated ? mod(l - topTerm * w) : l;
  });
}

/** Fixed-base multiplication of the group generator by many scalars; returns affine points in snarkjs's LEM form. */
export class FixedBase {
  private readonly table: Uint8Array;
  private readonly sA: number;
  private readonly sJ: number;
  private readonly prefix: "g1m" | "g2m";

  constructor(
    private readonly curve: Bn128,
    group: "G1" | "G2",
  ) {
    const G: WasmGroup = curve[group];
    this.prefix = group === "G1" ? "g1m" : "g2m";
    this.sA = G.F.n8 * 2;
    this.sJ = G.F.n8 * 3;
    // table[w][j-1] = j * 256^w * G for j in 1..255, w in 0..31
    this.table = new Uint8Array(32 * 255 * this.sA);
    let base = G.g;
    for (let w = 0; w < 32; w++) {
      let acc = base;
      for (let j = 1; j <= 255; j++) {
        G.toRprLEM(this.table, (w * 255 + j - 1) * this.sA, G.toAffine(acc));
        acc = G.add(acc, base);
      }
      base = acc; // 256 * base
    }
  }

  async multiply(scalars: bigint[]): Promise<Uint8Array> {
    const out = new Uint8Array(scalars.length * this.sA);
    const chunk = 512;
    const inFlight = Math.max(2, this.curve.tm.concurrency * 2);
    const starts: number[] = [];
    for (let s = 0; s < scalars.length; s += chunk) starts.push(s);
    for (let k = 0; k < starts.length; k += inFlight) {
      await Promise.all(
        starts.slice(k, k + inFlight).map(async (start) => {
          const part = scalars.slice(start, start + chunk);
          const [points] = await this.curve.tm.queueAction(this.task(part));
          out.set(points!, start * this.sA);
        }),
      );
    }
    return out;
  }

  private task(scalars: bigint[]): TaskCommand[] {
    const n = scalars.length;
    const task: TaskCommand[] = [
      { cmd: "ALLOCSET", var: 0, buff: this.table },
      { cmd: "ALLOC", var: 1, len: n * this.sJ },
    ];
    for (let i = 0; i < n; i++) {
      const acc = { var: 1, offset: i * this.sJ };
      task.push({ cmd: "CALL", fnName: `${this.prefix}_zero`, params: [acc] });
      let s = scalars[i]!;
      for (let w = 0; w < 32 && s > 0n; w++) {
        const digit = Number(s & 0xffn);
        s >>= 8n;
        if (digit === 0) continue;
        task.push({
          cmd: "CALL",
          fnName: `${this.prefix}_addMixed`,
          params: [acc, { var: 0, offset: (w * 255 + digit - 1) * this.sA }, acc],
        });
      }
    }
    task.push({ cmd: "CALL", fnName: `${this.prefix}_batchToAffine`, params: [{ var: 1 }, { val: n }, { var: 1 }] });
    task.push({ cmd: "GET", out: 0, var: 1, len: n * this.sA });
    return task;
  }
}

/** Options for {@link generateTestPtau}. */
export interface TestPtauOptions {
  /** Public seed the secrets derive from (default "0g-compute-test-ptau"). */
  seed?: string;
  /** Progress messages. */
  log?: (message: string) => void;
}

/**
 * Write a prepared powers-of-tau file of `power` (supports circuits of up to 2^power constraints) to
 * `path`. INSECURE: the toxic waste derives from a public seed.
 *
 * @example
 * await generateTestPtau("/tmp/test_15.ptau", 15); // then snarkjs zkey new circuit.r1cs /tmp/test_15.ptau ...
 */
export async function generateTestPtau(path: string, power: number, options: TestPtauOptions = {}): Promise<void> {
  if (!Number.isInteger(power) || power < 1 || power > 27) throw new RangeError(`power ${power} out of range`);
  const log = options.log ?? (() => undefined);
  const { tau, alpha, beta } = toxicWasteFromSeed(options.seed ?? "0g-compute-test-ptau");
  const curve = await buildBn128(true);
  try {
    const g1 = new FixedBase(curve, "G1");
    const g2 = new FixedBase(curve, "G2");
    const omega = (p: number): bigint => curve.Fr.toObject(curve.Fr.w[p]!);
    const n = 1 << power;
    const out = new BinFileWriter(path, "ptau", 1, 11);
    try {
      out.section(1, [u32(32), le(BN254_Q, 32), u32(power), u32(power)]);

      const tauPowers = powers(tau, 2 * n);
      log(`ptau ${power}: powers`);
      out.section(2, [await g1.multiply(tauPowers.slice(0, 2 * n - 1))]);
      out.section(3, [await g2.multiply(tauPowers.slice(0, n))]);
      out.section(4, [await g1.multiply(tauPowers.slice(0, n).map((t) => (t * alpha) % R))]);
      out.section(5, [await g1.multiply(tauPowers.slice(0, n).map((t) => (t * beta) % R))]);
      out.section(6, [await g2.multiply([beta])]);
      out.section(7, [u32(0)]); // no recorded contributions: the secrets come from the seed

      const levels: bigint[][] = [];
      for (let p = 0; p <= power; p++) levels.push(lagrangeAt(tau, omega(p), p, false));
      log(`ptau ${power}: Lagrange sections`);
      const tauG1: Uint8Array[] = [];
      for (const l of levels) tauG1.push(await g1.multiply(l));
      tauG1.push(await g1.multiply(lagrangeAt(tau, omega(power + 1), power + 1, true)));
      out.section(12, tauG1);
      const tauG2: Uint8Array[] = [];
      for (const l of levels) tauG2.push(await g2.multiply(l));
      out.section(13, tauG2);
      const alphaG1: Uint8Array[] = [];
      for (const l of levels) alphaG1.push(await g1.multiply(l.map((v) => (v * alpha) % R)));
      out.section(14, alphaG1);
      const betaG1: Uint8Array[] = [];
      for (const l of levels) betaG1.push(await g1.multiply(l.map((v) => (v * beta) % R)));
      out.section(15, betaG1);
    } catch (err) {
      out.abort();
      throw err;
    }
    out.commit();
  } finally {
    await curve.terminate();
  }
}
