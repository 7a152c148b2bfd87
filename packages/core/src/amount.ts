import { formatEther, parseEther } from "viem";
import { InvalidArgumentError } from "./errors.js";
import { MAX_UINT128 } from "./uint.js";

/**
 * Parse an amount of 0G written in decimal ("1.5", "0.000000000000000001") into wei. Accepts a plain
 * wei integer with the `wei` suffix ("1500wei"). Rejects negatives, more than 18 decimals, exponents,
 * empty strings and values above uint128.
 *
 * @example
 * parseAmount("0.25"); // 250000000000000000n
 */
export function parseAmount(text: string): bigint {
  const s = text.trim();
  let wei: bigint;
  if (/^\d+wei$/.test(s)) {
    wei = BigInt(s.slice(0, -3));
  } else if (/^\d+(\.\d{1,18})?$/.test(s) || /^\.\d{1,18}$/.test(s)) {
    wei = parseEther(s.startsWith(".") ? `0${s}` : s);
  } else {
    throw new InvalidArgumentError(
      `not an amount of 0G: "${text}"`,
      "write a decimal number of 0G with at most 18 decimals, e.g. 0.5, or an integer of wei such as 1500wei",
    );
  }
  if (wei > MAX_UINT128) throw new InvalidArgumentError(`amount too large: ${text}`);
  return wei;
}

/** Format wei as 0G with full precision and no trailing zeros, e.g. `1.5 0G`. */
export function formatAmount(wei: bigint): string {
  return `${formatEther(wei)} 0G`;
}
