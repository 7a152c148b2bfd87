import type { Address, Hex, LocalAccount } from "viem";
import { hashTypedData } from "viem";
import type { EscrowDomain } from "./domain.js";
import { InvalidArgumentError } from "./errors.js";
import { assertUint, MAX_UINT128, MAX_UINT64 } from "./uint.js";

/** EIP-712 type string of `Delegation`; the escrow's `DELEGATION_TYPEHASH` is its keccak256. */
export const DELEGATION_TYPE = "Delegation(address user,address provider,address key,uint128 cap,uint64 validUntil,uint64 nonce)";

export const DELEGATION_TYPES = {
  Delegation: [
    { name: "user", type: "address" },
    { name: "provider", type: "address" },
    { name: "key", type: "address" },
    { name: "cap", type: "uint128" },
    { name: "validUntil", type: "uint64" },
    { name: "nonce", type: "uint64" },
  ],
} as const;

/**
 * A user's off-chain grant letting session `key` sign tickets on its channel to `provider`, up to `cap`
 * wei in total, until `validUntil` (unix seconds). `nonce` must equal the escrow's `delegationNonce(user)`.
 */
export interface Delegation {
  user: Address;
  provider: Address;
  key: Address;
  cap: bigint;
  validUntil: bigint;
  nonce: bigint;
}

export interface SignedDelegation extends Delegation {
  signature: Hex;
}

/** The EIP-712 digest of a delegation. */
export function delegationDigest(domain: EscrowDomain, delegation: Delegation): Hex {
  return hashTypedData({ domain, types: DELEGATION_TYPES, primaryType: "Delegation", message: { ...delegation } });
}

/**
 * Sign a delegation with the user's own key; anyone may then submit it with `authorizeKeyWithSig`.
 *
 * @example
 * const d = await signDelegation(userAccount, domain, {
 *   user: userAccount.address, provider, key: sessionKey.address, cap: parseEther("0.1"),
 *   validUntil: BigInt(Math.floor(Date.now() / 1000) + 86400), nonce: await escrow.read.delegationNonce([user]),
 * });
 */
export async function signDelegation(user: LocalAccount, domain: EscrowDomain, delegation: Delegation): Promise<SignedDelegation> {
  if (user.address.toLowerCase() !== delegation.user.toLowerCase()) {
    throw new InvalidArgumentError("a delegation must be signed by its user");
  }
  assertUint("cap", delegation.cap, MAX_UINT128);
  assertUint("validUntil", delegation.validUntil, MAX_UINT64);
  assertUint("nonce", delegation.nonce, MAX_UINT64);
  const signature = await user.signTypedData({
    domain,
    types: DELEGATION_TYPES,
    primaryType: "Delegation",
    message: { ...delegation },
  });
  return { ...delegation, signature };
}
