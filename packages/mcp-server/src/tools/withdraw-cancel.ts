// withdraw_cancel: cancel a pending withdrawal; the funds stay in the channel.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { BuyerSession } from "../buyer-session.js";
import type { Address } from "../config.js";
import { addressSchema, guarded, ok, txOutput, WITHDRAWING } from "./shared.js";

/** Registers the `withdraw_cancel` tool. */
export function withdrawCancelTool(server: McpServer, buyer: BuyerSession): void {
  server.registerTool(
    "withdraw_cancel",
    {
      title: "Cancel a channel withdrawal",
      description: "Cancel the pending withdrawal from the channel to a provider; the funds stay in the channel.",
      inputSchema: { provider: addressSchema },
      outputSchema: { provider: z.string(), ...txOutput },
      annotations: WITHDRAWING,
    },
    (args) =>
      guarded(async () => {
        const r = await buyer.cancelWithdraw(args.provider as Address);
        return ok({ provider: args.provider, tx: r.hash }, `cancelled the withdrawal from ${args.provider}`);
      }),
  );
}
