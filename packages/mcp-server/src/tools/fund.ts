// fund: move an explicit amount into the channel to a provider, from the ledger or the wallet, within the operator's caps.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatAmount, parseAmount } from "@0g-compute/core";
import { z } from "zod";
import type { BuyerSession } from "../buyer-session.js";
import type { Address } from "../config.js";
import { addressSchema, amount, amountInput, amountOutput, guarded, ok, PAYING, txOutput } from "./shared.js";

/** Registers the `fund` tool. */
export function fundTool(server: McpServer, buyer: BuyerSession): void {
  server.registerTool(
    "fund",
    {
      title: "Fund a provider channel (moves funds)",
      description:
        "Move an explicit amount of 0G into the channel to a provider, from the escrow ledger or (from_wallet) straight from the wallet. Channel funds leave only through a withdrawal and its lock. " +
        "Refused, with nothing sent, above the operator's caps on funds moved.",
      inputSchema: {
        provider: addressSchema,
        amount: amountInput,
        from_wallet: z.boolean().optional().describe("deposit from the wallet in the same transaction"),
      },
      outputSchema: { provider: z.string(), amount: amountOutput, ...txOutput },
      annotations: PAYING,
    },
    (args) =>
      guarded(async () => {
        const wei = parseAmount(args.amount);
        const r = await buyer.fund(args.provider as Address, wei, args.from_wallet === true);
        return ok(
          { provider: args.provider, amount: amount(wei), tx: r.hash },
          `funded the channel to ${args.provider} with ${formatAmount(wei)} (tx ${r.hash})`,
        );
      }),
  );
}
