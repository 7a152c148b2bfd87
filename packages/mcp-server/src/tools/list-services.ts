// list_services: the listed services with prices per token and per million tokens, health and latency (free).
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatAmount } from "@0g-compute/core";
import { z } from "zod";
import type { BuyerSession } from "../buyer-session.js";
import type { Address } from "../config.js";
import { READ_ONLY, addressSchema, amount, amountOutput, guarded, ok } from "./shared.js";

/** A service's price as a person reads it: per 1M tokens, or per image or second for services priced per unit. */
function price(s: {
  kind: string;
  input_price_per_token: { og: string };
  price_per_million_tokens: { input: string; output: string };
}): string {
  if (s.kind === "images") return `${s.input_price_per_token.og} 0G per image`;
  if (s.kind === "transcription") return `${s.input_price_per_token.og} 0G per second of audio`;
  const out = s.kind === "chat" ? ` / out ${s.price_per_million_tokens.output}` : "";
  return `in ${s.price_per_million_tokens.input}${out} per 1M tokens`;
}

/** Registers the `list_services` tool. */
export function listServicesTool(server: McpServer, buyer: BuyerSession): void {
  const serviceOutput = z.object({
    model: z.string(),
    provider: z.string(),
    service_id: z.string(),
    name: z.string(),
    endpoint: z.string(),
    input_price_per_token: amountOutput,
    output_price_per_token: amountOutput,
    price_per_million_tokens: z.object({ input: z.string(), output: z.string() }).describe("in 0G"),
    version: z.number().int(),
    healthy: z.boolean(),
    latency_ms: z.number().optional(),
    context_length: z.number().int().optional(),
    kind: z
      .enum(["chat", "embedding", "images", "transcription"])
      .describe("chat: use ask; embedding: use embed; images and transcription are sold per unit"),
    dimensions: z.number().int().optional().describe("an embedding service's vector size"),
  });
  server.registerTool(
    "list_services",
    {
      title: "List inference services",
      description:
        "The services listed on the 0G Compute network: model, what it sells (chat or embedding), provider, prices per token and per million tokens, health and measured latency. Healthy services come first, cheapest first unless sort_by is latency.",
      inputSchema: {
        model: z.string().min(1).optional().describe("only this model id"),
        provider: addressSchema.optional().describe("only this provider"),
        sort_by: z.enum(["price", "latency"]).optional().describe("order of the healthy services (default price)"),
      },
      outputSchema: { services: z.array(serviceOutput) },
      annotations: { ...READ_ONLY, openWorldHint: true },
    },
    (args) =>
      guarded(async () => {
        const rows = await buyer.services({
          ...(args.model ? { model: args.model } : {}),
          ...(args.provider ? { provider: args.provider as Address } : {}),
          ...(args.sort_by ? { sortBy: args.sort_by } : {}),
        });
        const services = rows.map((s) => ({
          model: s.model,
          provider: s.provider,
          service_id: s.serviceId,
          name: s.name,
          endpoint: s.endpoint,
          input_price_per_token: amount(s.inputPricePerToken),
          output_price_per_token: amount(s.outputPricePerToken),
          price_per_million_tokens: {
            input: formatAmount(s.inputPricePerToken * 1_000_000n),
            output: formatAmount(s.outputPricePerToken * 1_000_000n),
          },
          version: s.version,
          healthy: s.healthy,
          ...(s.latencyMs === undefined ? {} : { latency_ms: s.latencyMs }),
          ...(s.contextLength === undefined ? {} : { context_length: s.contextLength }),
          kind: s.kind,
          ...(s.dimensions === undefined ? {} : { dimensions: s.dimensions }),
        }));
        const text =
          services.length === 0
            ? "No services are listed."
            : services
                .map(
                  (s) =>
                    `${s.model} (${s.kind}${s.dimensions ? `, ${s.dimensions} dimensions` : ""}) from ${s.provider}: ${price(s)}, ${s.healthy ? `healthy, ${s.latency_ms ?? 0} ms` : "unreachable"}`,
                )
                .join("\n");
        return ok({ services }, text);
      }),
  );
}
