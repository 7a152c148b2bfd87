// The timing-only proving key of bench:zk, checked against the real key of the CI circuit: the same
// header sizes, a byte-identical coefficient section (what the prover's QAP work depends on) and point
// sections of the same sizes (what its multi-exponentiations depend on). The prover accepts it; its proof
// verifies neither against the real key nor against its own; it is recognisable as timing-only.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as snarkjs from "snarkjs";
import { buildZkBatch, signZkVoucher, zkKeyFromSecret, ZkChannelTree } from "@0g-compute/core/zk";
import { CI_CIRCUIT, ensureZkArtifacts, type ZkArtifacts } from "../zk/build.js";
import { readSections } from "../zk/binfile.js";
import { isTimingOnlyZkey, writeTimingOnlyZkey } from "../zk/timing-key.js";

/** Sections of a snarkjs binary file: id -> bytes. */
function sectionsOf(path: string): Map<number, Buffer> {
  const { file, sections } = readSections(path, "zkey");
  return new Map([...sections].map(([id, { offset, size }]) => [id, file.subarray(offset, offset + size)]));
}

describe("timing-only proving key", () => {
  let art: ZkArtifacts;
  let dir: string;
  let timingKey: string;

  beforeAll(async () => {
    art = await ensureZkArtifacts(CI_CIRCUIT);
    dir = await mkdtemp(join(tmpdir(), "0g-timing-key-"));
    timingKey = join(dir, "timing-only.zkey");
    await writeTimingOnlyZkey(join(art.dir, "main.r1cs"), timingKey);
  }, 600_000);
  afterAll(async () => {
    await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
    await rm(dir, { recursive: true, force: true });
  });

  it("has the real key's sizes and exactly its coefficient section", () => {
    const real = sectionsOf(art.zkey);
    const timing = sectionsOf(timingKey);
    expect([...timing.keys()].sort((a, b) => a - b)).toEqual([...real.keys()].sort((a, b) => a - b));
    for (const id of [1, 3, 5, 6, 7, 8, 9]) expect({ id, size: timing.get(id)!.length }).toEqual({ id, size: real.get(id)!.length });
    // Header: field sizes and primes, nVars, nPublic and the domain size (the points after them differ).
    expect(timing.get(2)!.subarray(0, 4 + 32 + 4 + 32 + 12)).toEqual(real.get(2)!.subarray(0, 4 + 32 + 4 + 32 + 12));
    expect(timing.get(4)!.equals(real.get(4)!)).toBe(true);
    // The points are not the setup's.
    expect(timing.get(5)!.equals(real.get(5)!)).toBe(false);
  });

  it("is recognisable, proves, and its proof verifies against no key", async () => {
    expect(isTimingOnlyZkey(timingKey)).toBe(true);
    expect(isTimingOnlyZkey(art.zkey)).toBe(false);
    const scope = {
      chainId: 31337,
      escrow: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      provider: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    } as const;
    const tree = new ZkChannelTree(CI_CIRCUIT.depth);
    const keys = [zkKeyFromSecret(new Uint8Array(32).fill(1)), zkKeyFromSecret(new Uint8Array(32).fill(2))];
    for (const [i, k] of keys.entries()) tree.set(i, { keyHash: k.keyHash, funded: 1000n, paid: 0n });
    const vouchers = keys.map((k, i) => signZkVoucher(k, { ...scope, leafIndex: i }, 100n + BigInt(i)));
    const batch = buildZkBatch({ shape: art.config, scope, tree, oldQueueHash: 0n, pendingQueue: [], vouchers });
    const witness = { type: "mem" } as { type: "mem" };
    await snarkjs.wtns.calculate(batch.input, art.wasm, witness);
    const { proof, publicSignals } = await snarkjs.groth16.prove(timingKey, witness);
    expect(publicSignals).toHaveLength(1);
    expect(await snarkjs.groth16.verify(art.vkey, publicSignals, proof)).toBe(false);
    expect(await snarkjs.groth16.verify(await snarkjs.zKey.exportVerificationKey(timingKey), publicSignals, proof)).toBe(false);
    // The same witness with the real key: a valid proof (the batch itself is honest).
    const real = await snarkjs.groth16.prove(art.zkey, witness);
    expect(await snarkjs.groth16.verify(art.vkey, real.publicSignals, real.proof)).toBe(true);
  });

  it("refuses a circuit over another field (its key's points would be on the wrong curve)", async () => {
    const r1cs = readFileSync(join(art.dir, "main.r1cs"));
    const header = readSections(join(art.dir, "main.r1cs"), "r1cs").sections.get(1)!;
    const other = Buffer.from(r1cs);
    other[header.offset + 4] = other[header.offset + 4]! ^ 1; // the prime's lowest byte
    const path = join(dir, "other-field.r1cs");
    writeFileSync(path, other);
    await expect(writeTimingOnlyZkey(path, join(dir, "other.zkey"))).rejects.toThrow(/only BN254/);
  });
});
