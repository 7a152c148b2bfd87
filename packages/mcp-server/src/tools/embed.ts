// embed: paid embeddings of a few texts from an embedding service, with the verified receipt.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatAmount } from "@0g-compute/core";
import { z } from "zod";
import { type BuyerSession, MAX_EMBED_TEXTS } from "../buyer-session.js";
import type { Address } from "../config.js";
import { PAYING, addressSchema, amount, amountOutput, guarded, ok, receiptOut, receiptOutput } from "./shared.js";

/** Registers the `embed` tool. */
export function embedTool(server: McpServer, buyer: BuyerSession): void {
  server.registerTool(
    "embed",
    {
      title: "Embed texts on 0G Compute (paid)",
      description:
        "Compute embedding vectors of texts with an embedding model on the 0G Compute network, paid from the escrow account by input tokens. " +
        "Name the model (see list_services: services of kind embedding) or a provider. Returns one vector per text, in order, the fee and the provider's verified receipt. " +
        "Refused, with nothing spent, when the request could exceed the operator's spending caps.",
      inputSchema: {
        texts: z.array(z.string().min(1)).min(1).max(MAX_EMBED_TEXTS).describe("the texts to embed"),
        model: z.string().min(1).optional().describe("embedding model id (see list_services)"),
        provider: addressSchema.optional().describe("buy only from this provider"),
      },
      outputSchema: {
        model: z.string(),
        provider: z.string(),
        dimensions: z.number().int(),
        embeddings: z.array(z.array(z.number())),
        usage: z.object({ input_tokens: z.number().int() }),
        cost: amountOutput,
        receipt: receiptOutput,
        session: z.object({ fees_paid: amountOutput, requests: z.number().int() }),
      },
      annotations: PAYING,
    },
    (args, extra) =>
      guarded(async () => {
        const r = await buyer.embed(
          {
            texts: args.texts,
            ...(args.model ? { model: args.model } : {}),
            ...(args.provider ? { provider: args.provider as Address } : {}),
          },
          { signal: extra.signal },
        );
        const spending = buyer.spending();
        const dimensions = r.vectors[0]?.length ?? 0;
        const structured = {
          model: r.model,
          provider: r.provider,
          dimensions,
          embeddings: r.vectors,
          usage: { input_tokens: r.receipt.receipt.inputTokens },
          cost: amount(r.receipt.fee),
          receipt: receiptOut(r.receipt),
          session: { fees_paid: amount(spending.feesPaid), requests: spending.requests },
        };
        const text =
          `${r.vectors.length} vector${r.vectors.length === 1 ? "" : "s"} of ${dimensions} dimensions from ${r.model} (${r.provider}): ` +
          `${r.receipt.receipt.inputTokens} input tokens, ${formatAmount(r.receipt.fee)}, receipt verified; ${formatAmount(spending.feesPaid)} spent this session. ` +
          "The vectors are in the structured result.";
        return ok(structured, text);
      }),
  );
}
