// The server's prompts: asking the network a question, and a spending report.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";

/** Registers the `ask_network` and `spending_report` prompts. */
export function registerPrompts(server: McpServer): void {
  server.registerPrompt(
    "ask_network",
    {
      title: "Ask a model on 0G Compute",
      description: "Put a question to a model on the 0G Compute network through the ask tool",
      argsSchema: {
        question: z.string().describe("what to ask"),
        model: z.string().optional().describe("model id; cheapest healthy service when empty"),
      },
    },
    ({ question, model }) => ({
      messages: [
        {
          role: "user",
          content: {
            type: "text",
            text: `Use the ask tool of the 0G Compute server${model ? ` with model "${model}"` : ""} to answer the question below. Report the answer, then its cost and that its receipt was verified.\n\n${question}`,
          },
        },
      ],
    }),
  );
  server.registerPrompt(
    "spending_report",
    { title: "0G Compute spending report", description: "Summarize balances, this session's spending against the caps, and the receipts" },
    () => ({
      messages: [
        {
          role: "user",
          content: {
            type: "text",
            text: "Call the balance and receipts tools of the 0G Compute server and summarize: balances, pending withdrawals with unlock times, fees spent this session against each cap, and the receipts by provider.",
          },
        },
      ],
    }),
  );
}
