/**
 * @0g-compute/mcp-server: an MCP server (stdio and Streamable HTTP) through which Claude Desktop and
 * any MCP client buy inference on the 0G Compute network, within the operator's spending caps.
 *
 * @example
 * import { BuyerSession, configFromEnv, createZeroGMcpServer, startHttpTransport } from "@0g-compute/mcp-server";
 * const buyer = new BuyerSession(await configFromEnv(process.env));
 * const http = await startHttpTransport({ createServer: () => createZeroGMcpServer(buyer), port: 0 });
 * console.error(http.url, http.token);
 */
export * from "./errors.js";
export * from "./config.js";
export * from "./buyer-session.js";
export * from "./server.js";
export * from "./http.js";
