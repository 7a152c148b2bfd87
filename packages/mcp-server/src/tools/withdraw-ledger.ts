// withdraw_ledger: send free ledger balance back to the wallet at once.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatAmount, parseAmount } from "@0g-compute/core";
import { z } from "zod";
import type { BuyerSession } from "../buyer-session.js";
import { amount, amountInput, amountOutput, guarded, ok, txOutput, WITHDRAWING } from "./shared.js";

/** Registers the `withdraw_ledger` tool. */
export function withdrawLedgerTool(server: McpServer, buyer: BuyerSession): void {
  server.registerTool(
    "withdraw_ledger",
    {
      title: "Withdraw from the escrow ledger",
      description: 'Send an explicit amount (or "all") of the free escrow ledger balance back to the wallet, at once.',
      inputSchema: { amount: z.union([z.literal("all"), amountInput]).describe('amount of 0G, e.g. "0.05", or "all"') },
      outputSchema: { amount: amountOutput, ...txOutput },
      annotations: WITHDRAWING,
    },
    (args) =>
      guarded(async () => {
        const r = await buyer.withdrawLedger(args.amount === "all" ? "all" : parseAmount(args.amount));
        return ok({ amount: amount(r.amount), tx: r.hash }, `sent ${formatAmount(r.amount)} from the ledger to the wallet`);
      }),
  );
}
