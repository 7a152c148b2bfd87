import { InvalidArgumentError } from "./errors.js";

/** Largest values of the unsigned widths used on-chain. */
export const MAX_UINT32 = 2n ** 32n - 1n;
export const MAX_UINT64 = 2n ** 64n - 1n;
export const MAX_UINT128 = 2n ** 128n - 1n;

/** Throw {@link InvalidArgumentError} unless `value` is an integer in `[0, max]`. */
export function assertUint(name: string, value: bigint, max: bigint): void {
  if (typeof value !== "bigint") throw new InvalidArgumentError(`${name} must be a bigint`);
  if (value < 0n || value > max) throw new InvalidArgumentError(`${name} out of range: ${value}`);
}
