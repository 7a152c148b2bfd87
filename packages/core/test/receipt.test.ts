import { describe, expect, it } from "@jest/globals";
import { privateKeyToAccount, generatePrivateKey } from "viem/accounts";
import { keccak256, toHex } from "viem";
import {
  escrowDomain,
  feeFor,
  ReceiptError,
  responseHash,
  signReceipt,
  ticketDigest,
  verifyReceipt,
  type ReceiptExpectation,
  type Terms,
} from "../src/index.js";

const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const providerKey = privateKeyToAccount(generatePrivateKey());
const terms: Terms = {
  serviceId: keccak256(toHex("svc")),
  serviceVersion: 1,
  inputPrice: 10n,
  outputPrice: 20n,
  maxCost: 2000n,
  requestHash: keccak256(toHex("req")),
  deadline: 2_000_000_000n,
};
const digest = ticketDigest(domain, {
  user: privateKeyToAccount(generatePrivateKey()).address,
  provider: providerKey.address,
  nonce: 1n,
  cumulative: 0n,
  terms,
});
const body = '{"choices":[]}';

const expectation = (over: Partial<ReceiptExpectation> = {}): ReceiptExpectation => ({
  domain,
  ticketDigest: digest,
  terms,
  responseHash: responseHash(body),
  signers: [providerKey.address],
  ...over,
});
const sign = (over: Partial<Parameters<typeof signReceipt>[2]> = {}, key = providerKey) =>
  signReceipt(key, domain, {
    ticketDigest: digest,
    responseHash: responseHash(body),
    inputTokens: 30,
    outputTokens: 40,
    fee: feeFor(terms, 30, 40),
    ...over,
  });

async function problem(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "none";
  } catch (e) {
    expect(e).toBeInstanceOf(ReceiptError);
    expect((e as ReceiptError).code).toBe("RECEIPT_INVALID");
    return (e as ReceiptError).problem;
  }
}

describe("receipts", () => {
  it("a correct receipt verifies and yields its fee", async () => {
    expect(await verifyReceipt(await sign(), expectation())).toBe(1100n);
  });

  it("rejects each way a provider can lie", async () => {
    expect(await problem(verifyReceipt(await sign({}, privateKeyToAccount(generatePrivateKey())), expectation()))).toBe("unknown_signer");
    expect(await problem(verifyReceipt({ ...(await sign()), signature: "0x1234" }, expectation()))).toBe("bad_signature");
    expect(await problem(verifyReceipt(await sign({ ticketDigest: keccak256(toHex("other")) }), expectation()))).toBe("ticket_mismatch");
    expect(await problem(verifyReceipt(await sign({ responseHash: responseHash("something else") }), expectation()))).toBe(
      "response_mismatch",
    );
    // Fee with 5 phantom wei, or at another price.
    expect(await problem(verifyReceipt(await sign({ fee: feeFor(terms, 30, 40) + 5n }), expectation()))).toBe("fee_mismatch");
    expect(await problem(verifyReceipt(await sign({ fee: feeFor({ inputPrice: 11n, outputPrice: 20n }, 30, 40) }), expectation()))).toBe(
      "fee_mismatch",
    );
    // Inflated tokens beyond the maximum cost, or beyond the client's byte bound.
    expect(await problem(verifyReceipt(await sign({ outputTokens: 100, fee: feeFor(terms, 30, 100) }), expectation()))).toBe(
      "fee_above_max",
    );
    expect(await problem(verifyReceipt(await sign(), expectation({ maxOutputTokens: 39 })))).toBe("tokens_out_of_bounds");
    // A tampered field breaks the signature's signer.
    expect(await problem(verifyReceipt({ ...(await sign()), inputTokens: 29 }, expectation()))).toBe("unknown_signer");
  });

  it("each bound at its edge: fee equal to the maximum cost, token counts equal to the client's bounds", async () => {
    // 30 in + 40 out = 1100 wei; a maximum of exactly that is enough, one wei less is not.
    expect(await verifyReceipt(await sign(), expectation({ terms: { ...terms, maxCost: 1100n } }))).toBe(1100n);
    expect(await problem(verifyReceipt(await sign(), expectation({ terms: { ...terms, maxCost: 1099n } })))).toBe("fee_above_max");
    expect(await verifyReceipt(await sign(), expectation({ maxInputTokens: 30, maxOutputTokens: 40 }))).toBe(1100n);
    expect(await problem(verifyReceipt(await sign(), expectation({ maxInputTokens: 29 })))).toBe("tokens_out_of_bounds");
    expect(await problem(verifyReceipt(await sign(), expectation({ maxOutputTokens: 39 })))).toBe("tokens_out_of_bounds");
    // Without bounds only the fee limits the counts.
    expect(await verifyReceipt(await sign(), expectation({ maxInputTokens: 30 }))).toBe(1100n);
    expect(await verifyReceipt(await sign(), expectation({ maxOutputTokens: 40 }))).toBe(1100n);
  });

  it("accepts the previous key while it is listed as a valid signer (rotation grace)", async () => {
    const old = privateKeyToAccount(generatePrivateKey());
    expect(await verifyReceipt(await sign({}, old), expectation({ signers: [providerKey.address, old.address] }))).toBe(1100n);
  });
});
