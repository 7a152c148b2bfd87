import { createRequire } from "node:module";
import { hexToBytes, keccak256, type Address, type LocalAccount } from "viem";
import { assertZkAmount, hash2, hash3, SNARK_FIELD, ZkError } from "./field.js";

type Point = [bigint, bigint];
interface EddsaLib {
  derivePublicKey(privateKey: Uint8Array): Point;
  signMessage(privateKey: Uint8Array, message: bigint): { R8: Point; S: bigint };
  verifySignature(message: bigint, signature: { R8: Point; S: bigint }, publicKey: Point): boolean;
}
// The package's ESM entry does not load on Node 20; its CommonJS build does.
const eddsa = createRequire(import.meta.url)("@zk-kit/eddsa-poseidon") as EddsaLib;

/** A user's BabyJubJub key for ZK channels (EdDSA over BabyJubJub with Poseidon). */
export interface ZkKey {
  /** 32-byte secret; never leaves the user's machine. */
  privateKey: Uint8Array;
  /** Public key point (Ax, Ay). */
  publicKey: Point;
  /** Poseidon(Ax, Ay): what the escrow and the channel tree store. */
  keyHash: bigint;
}

/** The message a user signs to derive its ZK key; bound to one escrow on one chain. */
export function zkKeyDerivationMessage(chainId: number, escrow: Address): string {
  return `0G Compute ZK channel key v1\nchain: ${chainId}\nescrow: ${escrow.toLowerCase()}\nSign only on a 0G Compute client.`;
}

/** A ZK key from a 32-byte secret. */
export function zkKeyFromSecret(privateKey: Uint8Array): ZkKey {
  if (privateKey.length !== 32) throw new ZkError("ZK_BAD_KEY", "a ZK private key is 32 bytes");
  const publicKey = eddsa.derivePublicKey(privateKey);
  return { privateKey, publicKey, keyHash: hash2(publicKey[0], publicKey[1]) };
}

/**
 * Derive the user's ZK key deterministically from its Ethereum account: keccak256 of the account's
 * signature over {@link zkKeyDerivationMessage}. secp256k1 signatures here are deterministic (RFC 6979),
 * so the same account always gets the same key and no extra secret needs storing.
 *
 * @example
 * const key = await deriveZkKey(account, 31337, escrow);
 * await escrow.write.openZkChannel([provider, key.publicKey[0], key.publicKey[1]]);
 */
export async function deriveZkKey(account: LocalAccount, chainId: number, escrow: Address): Promise<ZkKey> {
  const signature = await account.signMessage({ message: zkKeyDerivationMessage(chainId, escrow) });
  return zkKeyFromSecret(hexToBytes(keccak256(signature)));
}

/** Poseidon(chainId, escrow, provider): binds a ZK voucher to one provider on one contract on one chain. */
export function zkDomain(chainId: number | bigint, escrow: Address, provider: Address): bigint {
  return hash3(BigInt(chainId), BigInt(escrow), BigInt(provider));
}

/** The field element a ZK voucher signs: Poseidon(domain, leafIndex, cumulative). */
export function zkVoucherMessage(domain: bigint, leafIndex: number, cumulative: bigint): bigint {
  return hash3(domain, BigInt(leafIndex), cumulative);
}

/** A user-signed ZK voucher: "I owe the provider at least `cumulative` in total on channel `leafIndex`". */
export interface ZkVoucher {
  leafIndex: number;
  cumulative: bigint;
  publicKey: Point;
  signature: { R8: Point; S: bigint };
}

/** What a ZK voucher is for: the escrow's chain and address, the provider, and the user's leaf. */
export interface ZkVoucherScope {
  chainId: number;
  escrow: Address;
  provider: Address;
  leafIndex: number;
}

/**
 * Sign a cumulative ZK voucher (EdDSA-Poseidon; about 50-100 ms in pure JS, so sign occasional
 * checkpoints, not every request).
 *
 * @example
 * const v = signZkVoucher(key, { chainId, escrow, provider, leafIndex }, 1_000_000n);
 */
export function signZkVoucher(key: ZkKey, scope: ZkVoucherScope, cumulative: bigint): ZkVoucher {
  assertZkAmount("cumulative", cumulative);
  if (!Number.isInteger(scope.leafIndex) || scope.leafIndex < 0 || scope.leafIndex >= 2 ** 32) {
    throw new ZkError("ZK_BAD_LEAF", `leaf index out of range: ${scope.leafIndex}`);
  }
  const message = zkVoucherMessage(zkDomain(scope.chainId, scope.escrow, scope.provider), scope.leafIndex, cumulative);
  return { leafIndex: scope.leafIndex, cumulative, publicKey: key.publicKey, signature: eddsa.signMessage(key.privateKey, message) };
}

/** Check a ZK voucher's signature for `scope` (the provider does this before serving against it). */
export function verifyZkVoucher(voucher: ZkVoucher, scope: Omit<ZkVoucherScope, "leafIndex">): boolean {
  if (voucher.cumulative < 0n || voucher.cumulative >= 2n ** 96n) return false;
  if (voucher.signature.S >= SNARK_FIELD) return false;
  const message = zkVoucherMessage(zkDomain(scope.chainId, scope.escrow, scope.provider), voucher.leafIndex, voucher.cumulative);
  try {
    return eddsa.verifySignature(message, voucher.signature, voucher.publicKey);
  } catch {
    return false;
  }
}

/** JSON-safe form of a ZK voucher (decimal strings), for the wire and for storage. */
export function zkVoucherToJson(v: ZkVoucher): {
  leafIndex: number;
  cumulative: string;
  publicKey: [string, string];
  signature: { R8: [string, string]; S: string };
} {
  return {
    leafIndex: v.leafIndex,
    cumulative: v.cumulative.toString(),
    publicKey: [v.publicKey[0].toString(), v.publicKey[1].toString()],
    signature: { R8: [v.signature.R8[0].toString(), v.signature.R8[1].toString()], S: v.signature.S.toString() },
  };
}

/** Inverse of {@link zkVoucherToJson}. */
export function zkVoucherFromJson(j: ReturnType<typeof zkVoucherToJson>): ZkVoucher {
  return {
    leafIndex: j.leafIndex,
    cumulative: BigInt(j.cumulative),
    publicKey: [BigInt(j.publicKey[0]), BigInt(j.publicKey[1])],
    signature: { R8: [BigInt(j.signature.R8[0]), BigInt(j.signature.R8[1])], S: BigInt(j.signature.S) },
  };
}
