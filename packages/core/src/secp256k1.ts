import { getAddress, hashTypedData, hexToBytes, recoverPublicKey, toHex, type Address, type Hex, type LocalAccount } from "viem";
import { privateKeyToAccount, sign, toAccount } from "viem/accounts";
import { keccak256Bytes } from "./keccak.js";

/**
 * The secp256k1 operations the protocol needs on its hot paths: one signature per ticket or receipt, one
 * recovery per ticket or receipt checked. JavaScript (viem) everywhere; in Node.js the SDK installs
 * libsecp256k1 through its prebuilt binding when it loads (see `native-secp256k1.ts`), about ten to forty
 * times faster.
 */
export interface Secp256k1Backend {
  /** "native" (libsecp256k1) or "javascript". */
  readonly name: string;
  /** 64-byte r ‖ s (low s, RFC 6979) and the recovery id of a 32-byte digest's signature. */
  sign(
    digest: Uint8Array,
    privateKey: Uint8Array,
  ): Promise<{ signature: Uint8Array; recid: number }> | { signature: Uint8Array; recid: number };
  /** The uncompressed public key (65 bytes, 0x04 ‖ x ‖ y) that made `signature` (64 bytes) over `digest`. */
  recoverPublicKey(digest: Uint8Array, signature: Uint8Array, recid: number): Promise<Uint8Array> | Uint8Array;
}

const javascript: Secp256k1Backend = {
  name: "javascript",
  async sign(digest, privateKey) {
    const s = await sign({ hash: toHex(digest), privateKey: toHex(privateKey), to: "object" });
    return { signature: hexToBytes(`0x${s.r.slice(2).padStart(64, "0")}${s.s.slice(2).padStart(64, "0")}`), recid: s.yParity ?? 0 };
  },
  async recoverPublicKey(digest, signature, recid) {
    return hexToBytes(await recoverPublicKey({ hash: digest, signature: toHex(new Uint8Array([...signature, 27 + recid])) }));
  },
};

let active: Secp256k1Backend = javascript;

/** Use `backend` for every signature and recovery from now on (the Node.js entry installs the native one). */
export function setSecp256k1Backend(backend: Secp256k1Backend): void {
  active = backend;
}

/** The backend in use: "native" or "javascript". */
export function secp256k1BackendName(): string {
  return active.name;
}

/** viem's JavaScript backend, the default (and the one browsers use). */
export const javascriptSecp256k1: Secp256k1Backend = javascript;

const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/**
 * The address that signed `digest` (a 65-byte r ‖ s ‖ v signature). Refuses high-s (malleable)
 * signatures and a `v` other than 0, 1, 27 or 28, as OpenZeppelin's `ECDSA.tryRecover` does, so an
 * off-chain check never accepts what the escrow would refuse.
 *
 * @example
 * const signer = await recoverDigestSigner(ticketDigest(domain, ticket), ticket.signature);
 */
export async function recoverDigestSigner(digest: Hex, signature: Hex): Promise<Address> {
  const bytes = hexToBytes(signature);
  if (bytes.length !== 65) throw new Error("a signature is 65 bytes");
  if (BigInt(toHex(bytes.subarray(32, 64))) > HALF_N) throw new Error("malleable signature (high s)");
  const v = bytes[64]!;
  const recid = v >= 27 ? v - 27 : v;
  if (recid !== 0 && recid !== 1) throw new Error("bad recovery id");
  const publicKey = await active.recoverPublicKey(hexToBytes(digest), bytes.subarray(0, 64), recid);
  return getAddress(toHex(keccak256Bytes(publicKey.subarray(1)).subarray(12)));
}

/** A 65-byte r ‖ s ‖ v signature (v = 27 or 28) of `digest` with `privateKey`. */
export async function signDigest(digest: Hex, privateKey: Hex): Promise<Hex> {
  const { signature, recid } = await active.sign(hexToBytes(digest), hexToBytes(privateKey));
  return `${toHex(signature)}${(27 + recid).toString(16)}` as Hex;
}

/**
 * A viem account for `privateKey` whose digests and typed data (tickets, receipts) are signed by the
 * active backend: the same signatures as viem's own (RFC 6979, low s), natively in Node.js. Messages and
 * transactions are signed by viem.
 *
 * @example
 * const client = new ZeroGClient({ network, account: signingAccount(process.env.ZG_PRIVATE_KEY as Hex) });
 */
export function signingAccount(privateKey: Hex): LocalAccount {
  const viemAccount = privateKeyToAccount(privateKey);
  const account = toAccount({
    address: viemAccount.address,
    sign: ({ hash }) => signDigest(hash, privateKey),
    signMessage: (args) => viemAccount.signMessage(args),
    signTransaction: (tx, options) => viemAccount.signTransaction(tx, options),
    signTypedData: (typedData) => signDigest(hashTypedData(typedData as Parameters<typeof hashTypedData>[0]), privateKey),
  });
  return { ...account, source: "privateKey", publicKey: viemAccount.publicKey } as LocalAccount;
}
