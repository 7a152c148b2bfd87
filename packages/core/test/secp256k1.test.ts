// Signatures and recoveries of the SDK, with each backend (libsecp256k1 through its binding, and viem's
// JavaScript): byte-identical to viem's and ethers' on random keys and digests, and refusing what the
// escrow's ECDSA.tryRecover refuses (high s, bad v, wrong length). The vectors are fixed keccak outputs.
import { afterAll, describe, expect, it } from "@jest/globals";
import { Signature, SigningKey, Wallet } from "ethers";
import { keccak256, parseSignature, recoverAddress, toHex, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  escrowDomain,
  javascriptSecp256k1,
  nativeSecp256k1,
  recoverDigestSigner,
  secp256k1BackendName,
  setSecp256k1Backend,
  signDigest,
  signingAccount,
  signReceipt,
  type Secp256k1Backend,
} from "../src/index.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");

it("installs the native backend in Node.js", () => {
  expect(nativeSecp256k1).toBeDefined();
  expect(secp256k1BackendName()).toBe("native");
});

describe.each([
  ["native", nativeSecp256k1!],
  ["javascript", javascriptSecp256k1],
] as [string, Secp256k1Backend][])("the %s backend", (_name, backend) => {
  const installed = nativeSecp256k1!;
  afterAll(() => setSecp256k1Backend(installed));

  it("signs and recovers exactly as viem and ethers do, on random keys and digests", async () => {
    setSecp256k1Backend(backend);
    for (let i = 0; i < 25; i++) {
      // Random-looking but fixed vectors: every run checks the same keys and digests.
      const key = keccak256(toHex(`key ${i}`));
      const digest = keccak256(toHex(`digest ${i}`));
      const viemSig = await privateKeyToAccount(key).sign({ hash: digest });
      const ethersSig = new SigningKey(key).sign(digest).serialized as Hex;
      const mine = await signDigest(digest, key);
      expect(mine).toBe(viemSig);
      expect(mine).toBe(ethersSig);
      const address = privateKeyToAccount(key).address;
      expect(await recoverDigestSigner(digest, mine)).toBe(address);
      expect(await recoverDigestSigner(digest, viemSig)).toBe(await recoverAddress({ hash: digest, signature: viemSig }));
      // Typed data (a receipt) through the account: the same signature as viem's and ethers' own.
      const receipt = {
        ticketDigest: keccak256(toHex(`t${i}`)),
        responseHash: keccak256(toHex(`r${i}`)),
        inputTokens: i,
        outputTokens: 2 * i,
        fee: BigInt(i) * 7n,
      };
      const signed = await signReceipt(signingAccount(key), domain, receipt);
      expect(signed.signature).toBe((await signReceipt(privateKeyToAccount(key), domain, receipt)).signature);
      expect(signingAccount(key).address).toBe(new Wallet(key).address);
    }
  });

  it("refuses the malleable high-s twin, a bad v and a wrong length", async () => {
    setSecp256k1Backend(backend);
    const digest = keccak256(toHex("x"));
    const sig = await privateKeyToAccount(keccak256(toHex("high-s key"))).sign({ hash: digest });
    const { r, s, yParity } = parseSignature(sig);
    const twin = `${r}${(N - BigInt(s)).toString(16).padStart(64, "0")}${(yParity === 0 ? 28 : 27).toString(16)}` as Hex;
    // The escrow refuses it, ethers refuses it, and so do we.
    expect(() => Signature.from(twin).s).toThrow(/non-canonical s/);
    await expect(recoverDigestSigner(digest, twin)).rejects.toThrow(/high s/);
    await expect(recoverDigestSigner(digest, "0x1234")).rejects.toThrow(/65 bytes/);
    await expect(recoverDigestSigner(digest, `${sig.slice(0, 130)}05` as Hex)).rejects.toThrow(/recovery id/);
    // v as 0/1 is accepted like 27/28.
    const zeroV = `${sig.slice(0, 130)}${(yParity ?? 0).toString(16).padStart(2, "0")}` as Hex;
    expect(await recoverDigestSigner(digest, zeroV)).toBe(await recoverDigestSigner(digest, sig));
  });
});
