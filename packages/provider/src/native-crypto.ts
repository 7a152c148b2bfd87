import { createRequire } from "node:module";
import { getAddress, hashTypedData, hexToBytes, keccak256, toHex, type Address, type Hex, type LocalAccount } from "viem";
import { privateKeyToAccount, toAccount } from "viem/accounts";

interface Secp256k1 {
  ecdsaSign(message: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaRecover(signature: Uint8Array, recid: number, message: Uint8Array, compressed: boolean): Uint8Array;
}

/** libsecp256k1 through its prebuilt Node binding: ~0.06 ms per signature or recovery, against ~0.5-2.8 ms in JavaScript. */
const secp = createRequire(import.meta.url)("secp256k1") as Secp256k1;

const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/**
 * Recover the address that signed `digest` (65-byte r ‖ s ‖ v signature). Rejects high-s (malleable)
 * signatures and bad `v`, like OpenZeppelin's `ECDSA.tryRecover`, so an off-chain check never accepts
 * what the escrow would refuse.
 */
export function recoverNative(digest: Hex, signature: Hex): Address {
  const bytes = hexToBytes(signature);
  if (bytes.length !== 65) throw new Error("signature must be 65 bytes");
  const s = BigInt(toHex(bytes.subarray(32, 64)));
  if (s > HALF_N) throw new Error("malleable signature (high s)");
  const v = bytes[64]!;
  const recid = v >= 27 ? v - 27 : v;
  if (recid !== 0 && recid !== 1) throw new Error("bad recovery id");
  const pub = secp.ecdsaRecover(bytes.subarray(0, 64), recid, hexToBytes(digest), false);
  return getAddress(`0x${keccak256(pub.subarray(1)).slice(-40)}`);
}

/**
 * A viem account whose typed-data signatures (receipts) use libsecp256k1; other operations fall back to
 * viem's own implementation. Signatures are identical to viem's (RFC 6979 deterministic nonces, low s).
 */
export function nativeAccount(privateKey: Hex): LocalAccount {
  const fallback = privateKeyToAccount(privateKey);
  const key = hexToBytes(privateKey);
  const signHash = (hash: Hex): Hex => {
    const { signature, recid } = secp.ecdsaSign(hexToBytes(hash), key);
    return `${toHex(signature)}${(27 + recid).toString(16)}` as Hex;
  };
  const account = toAccount({
    address: fallback.address,
    sign: async ({ hash }) => signHash(hash),
    signMessage: (args) => fallback.signMessage(args),
    signTransaction: (tx, options) => fallback.signTransaction(tx, options),
    async signTypedData(typedData) {
      return signHash(hashTypedData(typedData as Parameters<typeof hashTypedData>[0]));
    },
  });
  return { ...account, source: "native", publicKey: fallback.publicKey } as LocalAccount;
}
