import { describe, expect, it } from "@jest/globals";
import { hexToBytes, keccak256, parseSignature, recoverAddress, toHex, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { escrowDomain, RECEIPT_TYPES, signReceipt } from "@0g-compute/core";
import { nativeAccount, recoverNative } from "../src/index.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

describe("native secp256k1", () => {
  it("signs typed data byte-identically to viem and recovers the same addresses", async () => {
    const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
    for (let i = 0; i < 20; i++) {
      const key = generatePrivateKey();
      const receipt = {
        ticketDigest: keccak256(toHex(`t${i}`)),
        responseHash: keccak256(toHex(`r${i}`)),
        inputTokens: i,
        outputTokens: 2 * i,
        fee: BigInt(i) * 7n,
      };
      const mine = await signReceipt(nativeAccount(key), domain, receipt);
      const theirs = await signReceipt(privateKeyToAccount(key), domain, receipt);
      expect(mine.signature).toBe(theirs.signature);
      const digest = keccak256(toHex(`d${i}`));
      const sig = await privateKeyToAccount(key).sign({ hash: digest });
      expect(recoverNative(digest, sig)).toBe(await recoverAddress({ hash: digest, signature: sig }));
    }
    expect(Object.keys(RECEIPT_TYPES)).toEqual(["Receipt"]);
  });

  it("rejects the malleable high-s twin and malformed signatures", async () => {
    const digest = keccak256(toHex("x"));
    const sig = await privateKeyToAccount(generatePrivateKey()).sign({ hash: digest });
    const { r, s, yParity } = parseSignature(sig);
    const twin = `${r}${(N - BigInt(s)).toString(16).padStart(64, "0")}${(yParity === 0 ? 28 : 27).toString(16)}` as Hex;
    expect(() => recoverNative(digest, twin)).toThrow(/high s/);
    expect(() => recoverNative(digest, "0x1234")).toThrow(/65 bytes/);
    const badV = `${sig.slice(0, 130)}05` as Hex;
    expect(() => recoverNative(digest, badV)).toThrow(/recovery id/);
    expect(hexToBytes(sig)).toHaveLength(65);
  });
});
