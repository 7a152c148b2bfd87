import { createRequire } from "node:module";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { BuyerSession } from "./buyer-session.js";
import type { ZeroGMcpOptions } from "./config.js";
import { registerPrompts } from "./prompts.js";
import { registerResources } from "./resources.js";
import { askTool } from "./tools/ask.js";
import { balanceTool } from "./tools/balance.js";
import { depositTool } from "./tools/deposit.js";
import { embedTool } from "./tools/embed.js";
import { fundTool } from "./tools/fund.js";
import { listServicesTool } from "./tools/list-services.js";
import { receiptsTool } from "./tools/receipts.js";
import { withdrawCancelTool } from "./tools/withdraw-cancel.js";
import { withdrawCompleteTool } from "./tools/withdraw-complete.js";
import { withdrawLedgerTool } from "./tools/withdraw-ledger.js";
import { withdrawRequestTool } from "./tools/withdraw-request.js";

export { toJson, toolError } from "./tools/shared.js";

const VERSION = (createRequire(import.meta.url)("../package.json") as { version: string }).version;

/** The server's name in the MCP handshake. */
export const SERVER_NAME = "0g-compute";

/**
 * Create an MCP server that buys inference on the 0G Compute network. Pass options (a new
 * {@link BuyerSession} is made for them) or an existing `BuyerSession` to share one account, its caps
 * and its receipts between several MCP sessions (as the HTTP transport does).
 *
 * Tools: `list_services`, `ask`, `embed`, `balance`, `receipts`, and with the account's own key `deposit`,
 * `fund`, `withdraw_request`, `withdraw_complete`, `withdraw_cancel`, `withdraw_ledger`. Resources:
 * `zerog://services`, `zerog://account`. Prompts: `ask_network`, `spending_report`.
 *
 * @example
 * const server = createZeroGMcpServer(await configFromEnv(process.env));
 * await server.connect(new StdioServerTransport());
 */
export function createZeroGMcpServer(optionsOrSession: ZeroGMcpOptions | BuyerSession): McpServer {
  const buyer = optionsOrSession instanceof BuyerSession ? optionsOrSession : new BuyerSession(optionsOrSession);
  const server = new McpServer(
    { name: SERVER_NAME, version: VERSION, title: "0G Compute" },
    {
      capabilities: { logging: {} },
      instructions:
        "Buys AI inference on the 0G Compute network from an escrow account. `ask` and `embed` cost fees (within the operator's caps); " +
        "`list_services` and `balance` are free. Amounts are in 0G, as decimal strings. Every answer comes with a provider-signed receipt that was verified.",
    },
  );
  listServicesTool(server, buyer);
  askTool(server, buyer);
  embedTool(server, buyer);
  balanceTool(server, buyer);
  receiptsTool(server, buyer);
  // Moving funds needs the account's own key; a session key only pays for inference.
  if (!buyer.usesSessionKey) {
    depositTool(server, buyer);
    fundTool(server, buyer);
    withdrawRequestTool(server, buyer);
    withdrawCompleteTool(server, buyer);
    withdrawCancelTool(server, buyer);
    withdrawLedgerTool(server, buyer);
  }
  registerResources(server, buyer);
  registerPrompts(server);
  return server;
}
