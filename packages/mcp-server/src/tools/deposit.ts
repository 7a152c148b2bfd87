// deposit: move an explicit amount from the wallet into the escrow ledger, within the operator's caps on funds moved.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatAmount, parseAmount } from "@0g-compute/core";
import type { BuyerSession } from "../buyer-session.js";
import { amount, amountInput, amountOutput, guarded, ok, PAYING, txOutput } from "./shared.js";

/** Registers the `deposit` tool. */
export function depositTool(server: McpServer, buyer: BuyerSession): void {
  server.registerTool(
    "deposit",
    {
      title: "Deposit to the escrow (moves funds)",
      description:
        "Deposit an explicit amount of 0G from the wallet into the escrow ledger. Refused, with nothing sent, above the operator's caps on funds moved per session and per day.",
      inputSchema: { amount: amountInput },
      outputSchema: { amount: amountOutput, ...txOutput },
      annotations: PAYING,
    },
    (args) =>
      guarded(async () => {
        const wei = parseAmount(args.amount);
        const r = await buyer.deposit(wei);
        return ok({ amount: amount(wei), tx: r.hash }, `deposited ${formatAmount(wei)} (tx ${r.hash})`);
      }),
  );
}
