// The server's resources: the service catalogue and the account summary, as JSON.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { BuyerSession } from "./buyer-session.js";
import { accountSummary, toJson } from "./tools/shared.js";

/** Registers `zerog://services` and `zerog://account`. */
export function registerResources(server: McpServer, buyer: BuyerSession): void {
  server.registerResource(
    "services",
    "zerog://services",
    {
      title: "0G Compute service catalogue",
      description: "Every listed service with prices and health (JSON)",
      mimeType: "application/json",
    },
    async (uri) => {
      const rows = await buyer.services();
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: toJson(rows) }] };
    },
  );
  server.registerResource(
    "account",
    "zerog://account",
    {
      title: "0G Compute account summary",
      description: "Balances, channels, unlock times and this session's spending (JSON)",
      mimeType: "application/json",
    },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: "application/json", text: toJson(await accountSummary(buyer)) }] }),
  );
}
