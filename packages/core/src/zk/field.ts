import { createRequire } from "node:module";
import { type ListedErrorCode, ZeroGError } from "../errors.js";

type PoseidonFn = (inputs: bigint[]) => bigint;
// poseidon-lite ships CommonJS; load it the same way under ESM and CommonJS consumers.
const lite = createRequire(import.meta.url)("poseidon-lite") as { poseidon2: PoseidonFn; poseidon3: PoseidonFn; poseidon16: PoseidonFn };
const { poseidon2, poseidon3, poseidon16 } = lite;

/** The BN254 scalar field order: every circuit value and every Poseidon output lives below it. */
export const SNARK_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
/** Amounts in ZK channels (lifetime deposits, cumulative vouchers) stay below 2^96 wei. */
export const ZK_MAX_AMOUNT = 2n ** 96n - 1n;
/** Leaf packing: funded + paid * 2^96. */
export const ZK_PAID_SHIFT = 2n ** 96n;

/** A value handed to the ZK settlement code is out of range, or a proof input does not line up. */
export class ZkError extends ZeroGError {
  constructor(code: Extract<ListedErrorCode, `ZK_${string}`>, message: string, hint?: string) {
    super(code, message, hint === undefined ? {} : { hint });
  }
}

/** Poseidon over two field elements (circomlib parameters). */
export function hash2(a: bigint, b: bigint): bigint {
  return poseidon2([a, b]);
}

/** Poseidon over three field elements (circomlib parameters). */
export function hash3(a: bigint, b: bigint, c: bigint): bigint {
  return poseidon3([a, b, c]);
}

/** The circuit's commitment: a Poseidon sponge over `values`, 15 per width-17 permutation. */
export function commitValues(values: readonly bigint[]): bigint {
  let h = 0n;
  for (let i = 0; i < values.length; i += 15) {
    const block = values.slice(i, i + 15);
    while (block.length < 15) block.push(0n);
    h = poseidon16([h, ...block]);
  }
  return h;
}

/** Throw unless `value` is a field element. */
export function assertField(name: string, value: bigint): void {
  if (typeof value !== "bigint" || value < 0n || value >= SNARK_FIELD) {
    throw new ZkError("ZK_OUT_OF_FIELD", `${name} is not a BN254 field element`);
  }
}

/** Throw unless `value` fits the 96-bit amount range of ZK channels. */
export function assertZkAmount(name: string, value: bigint): void {
  if (typeof value !== "bigint" || value < 0n || value > ZK_MAX_AMOUNT) {
    throw new ZkError("ZK_AMOUNT_RANGE", `${name} must be in [0, 2^96): ${String(value)}`);
  }
}
