// receipts: the receipts this session verified, with the total of their fees (free).
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatAmount } from "@0g-compute/core";
import { z } from "zod";
import type { BuyerSession } from "../buyer-session.js";
import { READ_ONLY, amount, amountOutput, guarded, ok, receiptOut, receiptOutput } from "./shared.js";

/** Registers the `receipts` tool. */
export function receiptsTool(server: McpServer, buyer: BuyerSession): void {
  server.registerTool(
    "receipts",
    {
      title: "Verified receipts",
      description: "The provider-signed receipts this session verified, newest last, with the total fees.",
      inputSchema: { last: z.number().int().min(1).max(1000).optional().describe("only the newest N") },
      outputSchema: { receipts: z.array(receiptOutput), total_fees: amountOutput },
      annotations: { ...READ_ONLY, openWorldHint: false },
    },
    (args) =>
      guarded(async () => {
        const all = buyer.receipts;
        const list = args.last ? all.slice(-args.last) : all;
        const total = all.reduce((t, r) => t + r.fee, 0n);
        const text =
          list.length === 0
            ? "No receipts yet in this session."
            : list
                .map(
                  (r) =>
                    `${r.model} from ${r.provider}: ${r.receipt.inputTokens} in + ${r.receipt.outputTokens} out, ${formatAmount(r.fee)}`,
                )
                .join("\n") + `\ntotal ${formatAmount(total)}`;
        return ok({ receipts: list.map(receiptOut), total_fees: amount(total) }, text);
      }),
  );
}
