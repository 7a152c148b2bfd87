// balance: the paying account's wallet, ledger and channels, pending withdrawals, and this session's spending (free).
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { BuyerSession } from "../buyer-session.js";
import { READ_ONLY, accountSummary, amountOutput, guarded, ok, spendingOutput } from "./shared.js";

/** Registers the `balance` tool. */
export function balanceTool(server: McpServer, buyer: BuyerSession): void {
  const channelOutput = z.object({
    provider: z.string(),
    balance: amountOutput,
    pending_withdraw: amountOutput,
    unlock_at: z.number().int().describe("unix seconds the pending withdrawal unlocks; 0 when none"),
    unlock_at_iso: z.string().optional(),
    unlocked: z.boolean().describe("a pending withdrawal can be completed now"),
    settled: amountOutput.describe("paid to the provider so far"),
  });
  const balanceOutput = {
    account: z.string(),
    session_key: z.string().optional().describe("the key signing tickets, when it is a session key"),
    wallet: amountOutput,
    ledger: amountOutput.describe("free escrow balance, withdrawable at once"),
    channels: z.array(channelOutput),
    session: spendingOutput,
  };
  server.registerTool(
    "balance",
    {
      title: "Account balance",
      description:
        "Wallet, escrow ledger and channel balances of the paying account, pending withdrawals with their unlock times, and what this session has spent against the operator's caps.",
      inputSchema: {},
      outputSchema: balanceOutput,
      annotations: { ...READ_ONLY, openWorldHint: true },
    },
    () =>
      guarded(async () => {
        const s = await accountSummary(buyer);
        const lines = [
          `account ${s.account}`,
          `wallet ${s.wallet.og} 0G, ledger ${s.ledger.og} 0G`,
          ...s.channels.map(
            (c) =>
              `channel ${c.provider}: ${c.balance.og} 0G` +
              (c.pending_withdraw.wei !== "0"
                ? `, withdrawing ${c.pending_withdraw.og} 0G ${c.unlocked ? "(unlocked)" : `after ${c.unlock_at_iso}`}`
                : ""),
          ),
          `this session: ${s.session.fees_paid.og} 0G in fees over ${s.session.requests} requests, ${s.session.funds_moved.og} 0G moved`,
        ];
        return ok(s, lines.join("\n"));
      }),
  );
}
