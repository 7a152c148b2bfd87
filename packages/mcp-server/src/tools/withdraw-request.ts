// withdraw_request: start a withdrawal from a channel; it completes after the lock.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatAmount, parseAmount } from "@0g-compute/core";
import { z } from "zod";
import type { BuyerSession } from "../buyer-session.js";
import type { Address } from "../config.js";
import { addressSchema, amount, amountInput, amountOutput, guarded, ok, txOutput, unlockOut, WITHDRAWING } from "./shared.js";

/** Registers the `withdraw_request` tool. */
export function withdrawRequestTool(server: McpServer, buyer: BuyerSession): void {
  server.registerTool(
    "withdraw_request",
    {
      title: "Request a channel withdrawal",
      description:
        'Ask to withdraw an explicit amount (or "all") from the channel to a provider. It can be completed after the lock (see balance for the unlock time); the provider may still settle what it is owed until then.',
      inputSchema: {
        provider: addressSchema,
        amount: z.union([z.literal("all"), amountInput]).describe('amount of 0G, e.g. "0.05", or "all"'),
      },
      outputSchema: {
        provider: z.string(),
        amount: amountOutput,
        unlock_at: z.number().int(),
        unlock_at_iso: z.string().optional(),
        ...txOutput,
      },
      annotations: WITHDRAWING,
    },
    (args) =>
      guarded(async () => {
        const r = await buyer.requestWithdraw(args.provider as Address, args.amount === "all" ? "all" : parseAmount(args.amount));
        const u = unlockOut(r.unlockAt);
        return ok(
          {
            provider: args.provider,
            amount: amount(r.amount),
            unlock_at: u.unlock_at,
            ...(u.unlock_at_iso ? { unlock_at_iso: u.unlock_at_iso } : {}),
            tx: r.hash,
          },
          `requested ${formatAmount(r.amount)} from the channel to ${args.provider}; complete it after ${u.unlock_at_iso ?? "the lock"}`,
        );
      }),
  );
}
