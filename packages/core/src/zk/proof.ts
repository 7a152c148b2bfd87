/** A Groth16 proof as snarkjs returns it (decimal strings, projective coordinates). */
export interface SnarkjsGroth16Proof {
  pi_a: string[];
  pi_b: string[][];
  pi_c: string[];
}

/**
 * The eight words the escrow's `settleZk` takes for a snarkjs Groth16 proof: a, then b with each Fp2
 * coordinate in the (imaginary, real) order the EVM pairing precompile expects, then c.
 *
 * @example
 * const { proof } = await snarkjs.groth16.fullProve(batch.input, wasm, zkey);
 * await escrow.write.settleZk([provider, root, amount, commitment, data, zkProofWords(proof)]);
 */
export function zkProofWords(proof: SnarkjsGroth16Proof): readonly [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint] {
  const w = (v: string | undefined): bigint => BigInt(v ?? "0");
  return [
    w(proof.pi_a[0]),
    w(proof.pi_a[1]),
    w(proof.pi_b[0]?.[1]),
    w(proof.pi_b[0]?.[0]),
    w(proof.pi_b[1]?.[1]),
    w(proof.pi_b[1]?.[0]),
    w(proof.pi_c[0]),
    w(proof.pi_c[1]),
  ] as const;
}
