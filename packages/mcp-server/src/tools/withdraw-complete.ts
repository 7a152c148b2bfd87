// withdraw_complete: after the lock, move a pending withdrawal to the wallet or the ledger.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatAmount } from "@0g-compute/core";
import { z } from "zod";
import type { BuyerSession } from "../buyer-session.js";
import type { Address } from "../config.js";
import { WITHDRAWING, addressSchema, amount, amountOutput, guarded, ok } from "./shared.js";

/** Registers the `withdraw_complete` tool. */
export function withdrawCompleteTool(server: McpServer, buyer: BuyerSession): void {
  server.registerTool(
    "withdraw_complete",
    {
      title: "Complete a channel withdrawal",
      description:
        "After the lock, move the pending withdrawal (what is left of it after settlement) back to the wallet, or to the escrow ledger with to_wallet false.",
      inputSchema: { provider: addressSchema, to_wallet: z.boolean().optional().describe("default true") },
      outputSchema: { provider: z.string(), amount: amountOutput, txs: z.array(z.string()) },
      annotations: WITHDRAWING,
    },
    (args) =>
      guarded(async () => {
        const toWallet = args.to_wallet !== false;
        const r = await buyer.completeWithdraw(args.provider as Address, toWallet);
        return ok(
          { provider: args.provider, amount: amount(r.amount), txs: r.hashes },
          `withdrew ${formatAmount(r.amount)} from the channel to ${args.provider} to your ${toWallet ? "wallet" : "ledger"}`,
        );
      }),
  );
}
