import { keccak256, toBytes, type Address, type Hex, type LocalAccount } from "viem";
import type { EscrowDomain } from "./domain.js";
import { typedDigest, Words } from "./eip712-fast.js";
import { ZeroGError } from "./errors.js";
import { recoverDigestSigner } from "./secp256k1.js";
import type { Terms } from "./ticket.js";
import { assertUint, MAX_UINT128, MAX_UINT32 } from "./uint.js";

/** EIP-712 type string of `Receipt`, signed by the provider's response key in the escrow's domain. */
export const RECEIPT_TYPE = "Receipt(bytes32 ticketDigest,bytes32 responseHash,uint32 inputTokens,uint32 outputTokens,uint128 fee)";

export const RECEIPT_TYPES = {
  Receipt: [
    { name: "ticketDigest", type: "bytes32" },
    { name: "responseHash", type: "bytes32" },
    { name: "inputTokens", type: "uint32" },
    { name: "outputTokens", type: "uint32" },
    { name: "fee", type: "uint128" },
  ],
} as const;

/** "For ticket `ticketDigest` I produced response `responseHash`, used these tokens and charge `fee`." */
export interface Receipt {
  ticketDigest: Hex;
  responseHash: Hex;
  inputTokens: number;
  outputTokens: number;
  fee: bigint;
}

export interface SignedReceipt extends Receipt {
  signature: Hex;
}

/** The fee a ticket's prices give for a token count: exact, no rounding (prices are wei per token). */
export function feeFor(terms: Pick<Terms, "inputPrice" | "outputPrice">, inputTokens: number, outputTokens: number): bigint {
  return BigInt(inputTokens) * terms.inputPrice + BigInt(outputTokens) * terms.outputPrice;
}

const RECEIPT_TYPEHASH = keccak256(toBytes(RECEIPT_TYPE), "bytes");

/** The EIP-712 digest of a receipt. */
export function receiptDigest(domain: EscrowDomain, receipt: Receipt): Hex {
  const struct = new Words(6)
    .bytes32(0, RECEIPT_TYPEHASH)
    .bytes32(1, receipt.ticketDigest)
    .bytes32(2, receipt.responseHash)
    .uint(3, receipt.inputTokens, 32)
    .uint(4, receipt.outputTokens, 32)
    .uint(5, receipt.fee, 128)
    .hash();
  return typedDigest(domain, struct);
}

/**
 * Sign a receipt with the provider's response-signing key.
 *
 * @example
 * const receipt = await signReceipt(responseKey, domain, {
 *   ticketDigest, responseHash: responseHash(body), inputTokens: 12, outputTokens: 30, fee: feeFor(terms, 12, 30),
 * });
 */
export async function signReceipt(signer: LocalAccount, domain: EscrowDomain, receipt: Receipt): Promise<SignedReceipt> {
  assertUint("inputTokens", BigInt(receipt.inputTokens), MAX_UINT32);
  assertUint("outputTokens", BigInt(receipt.outputTokens), MAX_UINT32);
  assertUint("fee", receipt.fee, MAX_UINT128);
  const signature = signer.sign
    ? await signer.sign({ hash: receiptDigest(domain, receipt) })
    : await signer.signTypedData({ domain, types: RECEIPT_TYPES, primaryType: "Receipt", message: { ...receipt } });
  return { ...receipt, signature };
}

/** Why a receipt was refused; the provider is not paid for it. */
export type ReceiptProblem =
  | "bad_signature"
  | "unknown_signer"
  | "ticket_mismatch"
  | "response_mismatch"
  | "fee_mismatch"
  | "fee_above_max"
  | "tokens_out_of_bounds";

/** A receipt failed verification. Not acknowledged; the provider is not paid for it. */
export class ReceiptError extends ZeroGError {
  readonly problem: ReceiptProblem;
  constructor(problem: ReceiptProblem, message: string) {
    super("RECEIPT_INVALID", message, {
      hint: "The provider's receipt does not match what was asked and received; it is not acknowledged. Try another provider.",
    });
    this.problem = problem;
  }
}

/** What the client knows independently of the receipt, to check it against. */
export interface ReceiptExpectation {
  domain: EscrowDomain;
  /** Digest of the ticket the client sent. */
  ticketDigest: Hex;
  /** The ticket's terms (its prices and maximum cost bound the fee). */
  terms: Terms;
  /** Hash the client computed itself over the response it received. */
  responseHash: Hex;
  /** Addresses allowed to sign receipts for this service (the registered key, and the previous one in grace). */
  signers: readonly Address[];
  /** Upper bounds on token counts the client derives from what it sent and received. */
  maxInputTokens?: number;
  maxOutputTokens?: number;
}

/**
 * Verify a receipt before acknowledging its fee: signer, ticket, response hash, exact fee at the
 * ticket's prices, fee within the ticket's maximum, token counts within the client's bounds.
 * Throws {@link ReceiptError}; returns the verified fee.
 */
export async function verifyReceipt(receipt: SignedReceipt, expected: ReceiptExpectation): Promise<bigint> {
  let signer: Address;
  try {
    signer = await recoverDigestSigner(receiptDigest(expected.domain, receipt), receipt.signature);
  } catch (cause) {
    throw new ReceiptError("bad_signature", `receipt signature does not recover: ${(cause as Error).message}`);
  }
  if (!expected.signers.some((s) => s.toLowerCase() === signer.toLowerCase())) {
    throw new ReceiptError("unknown_signer", `receipt signed by ${signer}, not by the service's registered key`);
  }
  if (receipt.ticketDigest.toLowerCase() !== expected.ticketDigest.toLowerCase()) {
    throw new ReceiptError("ticket_mismatch", "receipt is for another ticket");
  }
  if (receipt.responseHash.toLowerCase() !== expected.responseHash.toLowerCase()) {
    throw new ReceiptError("response_mismatch", "receipt's response hash differs from the response received");
  }
  const fee = feeFor(expected.terms, receipt.inputTokens, receipt.outputTokens);
  if (fee !== receipt.fee) {
    throw new ReceiptError("fee_mismatch", `receipt fee ${receipt.fee} != ${fee} at the ticket's prices`);
  }
  if (receipt.fee > expected.terms.maxCost) {
    throw new ReceiptError("fee_above_max", `receipt fee ${receipt.fee} above the ticket's maximum ${expected.terms.maxCost}`);
  }
  if (
    (expected.maxInputTokens !== undefined && receipt.inputTokens > expected.maxInputTokens) ||
    (expected.maxOutputTokens !== undefined && receipt.outputTokens > expected.maxOutputTokens)
  ) {
    throw new ReceiptError(
      "tokens_out_of_bounds",
      `receipt token counts ${receipt.inputTokens}/${receipt.outputTokens} exceed the client's bounds`,
    );
  }
  return fee;
}
