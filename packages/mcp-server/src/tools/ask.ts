// ask: one paid chat completion, with progress notifications while it runs and its verified receipt.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { formatAmount, ZeroGError } from "@0g-compute/core";
import { z } from "zod";
import type { BuyerSession, ChatMessage } from "../buyer-session.js";
import type { Address } from "../config.js";
import { PAYING, addressSchema, amount, amountOutput, guarded, ok, receiptOut, receiptOutput, toolError } from "./shared.js";

/** Registers the `ask` tool. */
export function askTool(server: McpServer, buyer: BuyerSession): void {
  const maxTokens = buyer.maxTokens;
  const progressIntervalMs = buyer.options.progressIntervalMs ?? 5000;
  const messageSchema = z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() });
  server.registerTool(
    "ask",
    {
      title: "Ask a model on 0G Compute (paid)",
      description:
        `Run a chat completion on the 0G Compute network and pay for it from the escrow account. Give a prompt (with an optional system text) or a list of messages; ` +
        `name a model or a provider, or let the cheapest healthy service answer. max_tokens bounds the answer and the cost (at most ${maxTokens}). ` +
        "Returns the answer, token usage, the fee and the provider's verified receipt. Refused, with nothing spent, when the request could exceed the operator's spending caps.",
      inputSchema: {
        prompt: z.string().min(1).optional().describe("the question or instruction (or give messages)"),
        system: z.string().optional().describe("system text placed before the prompt"),
        messages: z.array(messageSchema).min(1).max(200).optional().describe("a whole conversation instead of a prompt"),
        model: z.string().min(1).optional().describe("model id (see list_services)"),
        provider: addressSchema.optional().describe("buy only from this provider"),
        max_tokens: z
          .number()
          .int()
          .min(1)
          .max(maxTokens)
          .optional()
          .describe(`most tokens in the answer (default ${buyer.options.defaultMaxTokens ?? Math.min(256, maxTokens)})`),
        temperature: z.number().min(0).max(2).optional(),
      },
      outputSchema: {
        text: z.string(),
        model: z.string(),
        provider: z.string(),
        finish_reason: z.string().optional(),
        usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() }),
        cost: amountOutput,
        receipt: receiptOutput,
        session: z.object({ fees_paid: amountOutput, requests: z.number().int() }),
      },
      annotations: PAYING,
    },
    (args, extra) =>
      guarded(async () => {
        let messages: ChatMessage[];
        if (args.messages && args.prompt) return toolError(new ZeroGError("INVALID_ARGUMENT", "give either prompt or messages, not both"));
        if (args.messages) messages = args.messages;
        else if (args.prompt)
          messages = [...(args.system ? [{ role: "system" as const, content: args.system }] : []), { role: "user", content: args.prompt }];
        else return toolError(new ZeroGError("INVALID_ARGUMENT", "give a prompt or messages"));

        const token = extra._meta?.progressToken;
        let step = 0;
        let last = "starting";
        const notify = (message: string): void => {
          if (token === undefined) return;
          step += 1;
          extra
            .sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: step, message } })
            .catch(() => undefined);
        };
        let streaming = false;
        const progress = (message: string): void => {
          last = message;
          const chunk = message.startsWith("received ");
          // Every stage is reported; of the chunks, only the first (the rest show in the heartbeat).
          if (!chunk || !streaming) notify(chunk ? `first tokens arrived (${message})` : message);
          if (chunk) streaming = true;
        };
        const timer = setInterval(() => notify(`still working: ${last}`), progressIntervalMs);
        timer.unref();
        try {
          const r = await buyer.ask(
            {
              messages,
              maxTokens: args.max_tokens ?? buyer.options.defaultMaxTokens ?? Math.min(256, maxTokens),
              ...(args.model ? { model: args.model } : {}),
              ...(args.provider ? { provider: args.provider as Address } : {}),
              ...(args.temperature === undefined ? {} : { temperature: args.temperature }),
            },
            { signal: extra.signal, progress },
          );
          const spending = buyer.spending();
          const structured = {
            text: r.text,
            model: r.model,
            provider: r.provider,
            ...(r.finishReason ? { finish_reason: r.finishReason } : {}),
            usage: { input_tokens: r.receipt.receipt.inputTokens, output_tokens: r.receipt.receipt.outputTokens },
            cost: amount(r.receipt.fee),
            receipt: receiptOut(r.receipt),
            session: { fees_paid: amount(spending.feesPaid), requests: spending.requests },
          };
          const footer = `[${r.model} from ${r.provider}: ${r.receipt.receipt.inputTokens} in + ${r.receipt.receipt.outputTokens} out tokens, ${formatAmount(r.receipt.fee)}, receipt verified; ${formatAmount(spending.feesPaid)} spent this session]`;
          return ok(structured, `${r.text}\n\n${footer}`);
        } finally {
          clearInterval(timer);
        }
      }),
  );
}
