// What every tool shares: the schemas of amounts, addresses and receipts, the shape of results and errors,
// the annotations of reading, paying and withdrawing tools, and the account summary.
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { formatAmount, ZeroGError, type VerifiedReceipt } from "@0g-compute/core";
import { z } from "zod";
import type { BuyerSession } from "../buyer-session.js";

export const addressSchema = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address is 0x followed by 40 hex digits");
export const amountInput = z
  .string()
  .regex(
    /^(\d+(\.\d{1,18})?|\.\d{1,18}|\d+wei)$/,
    'an amount is a decimal number of 0G (at most 18 decimals) such as "0.05", or whole wei such as "1500wei"',
  )
  .describe('Amount of 0G as a decimal string, e.g. "0.05", or whole wei such as "1500wei"');
export const amountOutput = z.object({
  wei: z.string().describe("exact amount in wei (decimal string)"),
  og: z.string().describe("the same amount in 0G"),
});
export const receiptOutput = z.object({
  provider: z.string(),
  service_id: z.string(),
  model: z.string(),
  ticket_digest: z.string(),
  nonce: z.string(),
  response_hash: z.string(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  fee: amountOutput,
  cumulative: amountOutput.describe("total acknowledged to this provider on this lane after this receipt"),
  signature: z.string().describe("the provider's EIP-712 signature over the receipt, verified"),
});
/** The hash of the transaction a tool sent. */
export const txOutput = { tx: z.string().describe("transaction hash") };
export const spendingOutput = z.object({
  fees_paid: amountOutput,
  funds_moved: amountOutput,
  requests: z.number().int(),
  caps: z.array(
    z.object({ name: z.string(), kind: z.enum(["fees", "funds"]), cap: amountOutput, used: amountOutput, remaining: amountOutput }),
  ),
});

export function amount(wei: bigint): z.infer<typeof amountOutput> {
  return { wei: wei.toString(), og: formatAmount(wei).replace(/ 0G$/, "") };
}

export function receiptOut(r: VerifiedReceipt): z.infer<typeof receiptOutput> {
  return {
    provider: r.provider,
    service_id: r.serviceId,
    model: r.model,
    ticket_digest: r.ticketDigest,
    nonce: r.ticket.nonce.toString(),
    response_hash: r.receipt.responseHash,
    input_tokens: r.receipt.inputTokens,
    output_tokens: r.receipt.outputTokens,
    fee: amount(r.fee),
    cumulative: amount(r.cumulative),
    signature: r.receipt.signature,
  };
}

export function unlockOut(unlockAt: bigint): { unlock_at: number; unlock_at_iso: string | undefined; unlocked: boolean } {
  const seconds = Number(unlockAt);
  return {
    unlock_at: seconds,
    unlock_at_iso: seconds === 0 ? undefined : new Date(seconds * 1000).toISOString(),
    unlocked: seconds !== 0 && seconds * 1000 <= Date.now(),
  };
}

/** A tool result: structured content and its text. */
export function ok(structured: Record<string, unknown>, text: string): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: structured };
}

/** A refusal or failure as a tool error: `CODE: message` and, where there is one, a hint on the next line. */
export function toolError(err: unknown): CallToolResult {
  const code = err instanceof ZeroGError ? err.code : "UNEXPECTED";
  const message = err instanceof Error ? err.message : String(err);
  const hint = err instanceof ZeroGError && err.hint ? `\nhint: ${err.hint}` : "";
  return { content: [{ type: "text", text: `${code}: ${message}${hint}` }], isError: true };
}

/** Runs a tool, turning any failure into a tool error ({@link toolError}). */
export async function guarded(run: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await run();
  } catch (err) {
    return toolError(err);
  }
}

/** Serialize with bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
}

/** Annotations of the tools that only read, that spend fees or move funds, and that start or end withdrawals. */
export const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true } as const;
export const PAYING = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true } as const;
export const WITHDRAWING = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true } as const;

function spendingOut(buyer: BuyerSession) {
  const s = buyer.spending();
  return {
    fees_paid: amount(s.feesPaid),
    funds_moved: amount(s.fundsMoved),
    requests: s.requests,
    caps: s.caps.map((c) => ({ name: c.name, kind: c.kind, cap: amount(c.cap), used: amount(c.used), remaining: amount(c.remaining) })),
  };
}

/** The paying account: wallet, ledger, channels with their pending withdrawals, and this session's spending. */
export async function accountSummary(buyer: BuyerSession) {
  const s = await buyer.summary();
  return {
    account: s.account,
    ...(s.sessionKey ? { session_key: s.sessionKey } : {}),
    wallet: amount(s.wallet),
    ledger: amount(s.ledger),
    channels: s.channels.map((c) => {
      const { unlock_at, unlock_at_iso, unlocked } = unlockOut(c.unlockAt);
      return {
        provider: c.provider,
        balance: amount(c.balance),
        pending_withdraw: amount(c.pendingWithdraw),
        unlock_at,
        ...(unlock_at_iso ? { unlock_at_iso } : {}),
        unlocked,
        settled: amount(c.settled),
      };
    }),
    session: spendingOut(buyer),
  };
}
