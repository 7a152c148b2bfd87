/**
 * A TIMING-ONLY Groth16 proving key, for benchmarks of circuits whose real key would take hours to set up
 * on a small machine. snarkjs's prover spends its time on the circuit's coefficients (the QAP evaluation
 * and its FFTs) and on multi-exponentiations over the key's point sections; neither depends on which
 * points those are. So this key has the exact header sizes and coefficient section of the circuit (read
 * from its r1cs, transformed as `zkey new` does) and point sections of the right sizes, filled with
 * multiples of the generators by small counters: no setup, no ceremony, no secret.
 *
 * It proves nothing: every point's discrete log is a public counter, so anyone can forge a proof for it,
 * and a proof made with it verifies against no real verification key. Its file name and its hash section
 * say so, and nothing in the project loads it except `bench:zk`.
 */
import { BinFileWriter, le, readSections, readSectionStart, u32 } from "./binfile.js";
import { buildBn128 } from "ffjavascript";
import { FixedBase } from "./ptau.js";

/** BN254 scalar field order (r) and base field order (q). */
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
/** `zkey new` stores each coefficient v as v * (2^256)^2 mod r (what the prover's Montgomery code reads). */
const R2 = (((1n << 256n) % R) * ((1n << 256n) % R)) % R;
/** The 64-byte "circuit hash" of this key: a label instead of a hash. */
const LABEL = new TextEncoder().encode("TIMING-ONLY KEY: no setup; proofs are forgeable; never settle".padEnd(64, "."));
if (LABEL.length !== 64) throw new Error("the label must fill the 64-byte hash field exactly");

/** What the r1cs says about the circuit's size. */
export interface R1csShape {
  nVars: number;
  nPublic: number;
  nConstraints: number;
  /** Groth16 domain size (a power of two), as `zkey new` computes it. */
  domainSize: number;
}

/**
 * Write a timing-only proving key for the circuit `r1csPath` to `zkeyPath` (see the module's comment).
 *
 * @example
 * const shape = await writeTimingOnlyZkey(join(circuit.dir, "main.r1cs"), "timing-only.zkey");
 * await snarkjs.groth16.prove("timing-only.zkey", witness); // time it; never verify or settle
 */
export async function writeTimingOnlyZkey(
  r1csPath: string,
  zkeyPath: string,
  log: (m: string) => void = () => undefined,
): Promise<R1csShape> {
  const { file: r1cs, sections: s } = readSections(r1csPath, "r1cs");
  const header = s.get(1)!;
  const n8 = r1cs.readUInt32LE(header.offset);
  let prime = 0n;
  for (let i = 31; i >= 0; i--) prime = (prime << 8n) | BigInt(r1cs[header.offset + 4 + i]!);
  if (n8 !== 32 || prime !== R) throw new Error("only BN254 circuits are supported");
  let h = header.offset + 4 + n8;
  const nWires = r1cs.readUInt32LE(h);
  const nPubOut = r1cs.readUInt32LE(h + 4);
  const nPubIn = r1cs.readUInt32LE(h + 8);
  h += 16 + 8; // nPrvIn, nLabels (u64)
  const nConstraints = r1cs.readUInt32LE(h);
  const nPublic = nPubOut + nPubIn;
  const domainSize = 2 ** (Math.floor(Math.log2(nConstraints + nPublic)) + 1);
  const shape: R1csShape = { nVars: nWires, nPublic, nConstraints, domainSize };

  // The coefficient section: A and B entries of every constraint, then one A entry per public signal
  // (and the constant one) on the constraints after the last, as `zkey new` writes them.
  const constraints = s.get(2)!;
  const converted = new Map<string, Uint8Array>();
  const value = (at: number): Uint8Array => {
    const raw = r1cs.toString("latin1", at, at + 32);
    let v = converted.get(raw);
    if (!v) {
      let x = 0n;
      for (let i = 31; i >= 0; i--) x = (x << 8n) | BigInt(r1cs[at + i]!);
      v = le((x * R2) % R, 32);
      if (converted.size < 1 << 16) converted.set(raw, v);
    }
    return v;
  };
  /** Calls `f` for every A and B entry of the constraint section, in order. */
  const eachEntry = (f: (matrix: number, constraint: number, signal: number, valueAt: number) => void): void => {
    let at = constraints.offset;
    for (let c = 0; c < nConstraints; c++) {
      for (const matrix of [0, 1, 2]) {
        const n = r1cs.readUInt32LE(at);
        at += 4;
        for (let i = 0; i < n; i++) {
          if (matrix < 2) f(matrix, c, r1cs.readUInt32LE(at), at + 4);
          at += 36;
        }
      }
    }
  };
  let nCoefs = nPublic + 1;
  eachEntry(() => nCoefs++);
  const coefs = Buffer.alloc(4 + nCoefs * 44);
  coefs.writeUInt32LE(nCoefs, 0);
  let pos = 4;
  const entry = (matrix: number, constraint: number, signal: number, v: Uint8Array): void => {
    coefs.writeUInt32LE(matrix, pos);
    coefs.writeUInt32LE(constraint, pos + 4);
    coefs.writeUInt32LE(signal, pos + 8);
    coefs.set(v, pos + 12);
    pos += 44;
  };
  eachEntry((matrix, c, signal, valueAt) => entry(matrix, c, signal, value(valueAt)));
  const one = le(R2, 32);
  for (let p = 0; p <= nPublic; p++) entry(0, nConstraints + p, p, one);
  log(`timing-only key: ${nConstraints} constraints, ${nWires} signals, ${nCoefs} coefficients, domain 2^${Math.log2(domainSize)}`);

  const curve = await buildBn128(true);
  const out = new BinFileWriter(zkeyPath, "zkey", 1, 10);
  try {
    const g1 = new FixedBase(curve, "G1");
    const g2 = new FixedBase(curve, "G2");
    /** `count` points k*G for k = base+1, base+2, ...: distinct, unrelated to any setup, cheap to make. */
    const points = async (id: number, group: FixedBase, size: number, count: number, base: bigint): Promise<void> => {
      out.sectionHead(id, count * size);
      const chunk = 1 << 15;
      for (let start = 0; start < count; start += chunk) {
        const n = Math.min(chunk, count - start);
        out.write(await group.multiply(Array.from({ length: n }, (_, i) => base + BigInt(start + i + 1))));
      }
    };
    out.section(1, [u32(1)]); // Groth16
    const [alpha1, beta1, delta1] = [await g1.multiply([7n]), await g1.multiply([11n]), await g1.multiply([13n])];
    const [beta2, gamma2, delta2] = [await g2.multiply([17n]), await g2.multiply([19n]), await g2.multiply([23n])];
    const head = [u32(32), le(Q, 32), u32(32), le(R, 32), u32(nWires), u32(nPublic), u32(domainSize)];
    out.section(2, [...head, alpha1, beta1, beta2, gamma2, delta1, delta2]);
    await points(3, g1, 64, nPublic + 1, 1n << 40n);
    out.section(4, [coefs]);
    log("timing-only key: point sections");
    await points(5, g1, 64, nWires, 1n << 24n);
    await points(6, g1, 64, nWires, 2n << 24n);
    await points(7, g2, 128, nWires, 3n << 24n);
    await points(8, g1, 64, nWires - nPublic - 1, 4n << 24n);
    await points(9, g1, 64, domainSize, 5n << 24n);
    out.section(10, [LABEL, u32(0)]); // the label where the hash goes; no contributions
  } catch (err) {
    out.abort();
    throw err;
  } finally {
    await curve.terminate();
  }
  out.commit();
  return shape;
}

/** Whether a zkey file is one of these timing-only keys (its hash section carries the label). */
export function isTimingOnlyZkey(zkeyPath: string): boolean {
  const hash = readSectionStart(zkeyPath, "zkey", 10, LABEL.length);
  return hash !== undefined && Buffer.from(LABEL).equals(hash);
}
