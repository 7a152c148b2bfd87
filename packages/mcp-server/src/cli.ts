/**
 * `0g-mcp-server`: the MCP server of 0G Compute for Claude Desktop and any MCP client. stdio by default
 * (stdout carries only the protocol; every log goes to stderr; the process exits when stdin closes),
 * or Streamable HTTP on 127.0.0.1 with `--http`. Configured by environment variables (README).
 */
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { errorLine, EXIT, exitCodeFor, formatAmount, KeyError } from "@0g-compute/core";
import { BuyerSession } from "./buyer-session.js";
import { configFromEnv } from "./config.js";
import { startHttpTransport } from "./http.js";
import { createZeroGMcpServer } from "./server.js";

const VERSION = (createRequire(import.meta.url)("../package.json") as { version: string }).version;
const log = (line: string): void => {
  process.stderr.write(`0g-mcp-server: ${line}\n`);
};

const HELP = `Usage: 0g-mcp-server [--http] [--port N]

Buy AI inference on the 0G Compute network from an MCP client.

  --http       serve Streamable HTTP on 127.0.0.1 (env ZG_MCP_TRANSPORT=http) instead of stdio
  --port N     HTTP port (env ZG_MCP_PORT; default 3920; 0 picks a free one)
  --version    print the version
  --help       this text

Configuration is read from environment variables: ZG_NETWORK, ZG_RPC_URL, ZG_ESCROW, ZG_REGISTRY,
ZG_CHAIN_ID, ZG_HOME, ZG_KEYSTORE with ZG_KEYSTORE_PASSWORD or ZG_KEYSTORE_PASSWORD_FILE,
ZG_PRIVATE_KEY, ZG_SESSION_KEY with ZG_USER, ZG_MODEL, ZG_PROVIDER, ZG_MCP_SPEND_CAP_SESSION,
ZG_MCP_SPEND_CAP_DAY, ZG_MCP_FUNDS_CAP_SESSION, ZG_MCP_FUNDS_CAP_DAY, ZG_MCP_MAX_TOKENS,
ZG_MCP_MAX_COST, ZG_MCP_HTTP_TOKEN. See the package README.
`;

/**
 * Run the server with command-line `args` (default `process.argv.slice(2)`) until its transport closes, and
 * resolve to the exit code; errors are printed, one line each. Importing this module runs nothing: the
 * `0g-mcp-server` bin calls it.
 */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  // stdout belongs to the protocol: anything a library prints goes to stderr instead.
  for (const method of ["log", "info", "debug"] as const) console[method] = console.error;
  try {
    return await serve(argv);
  } catch (err) {
    log(errorLine(err));
    return exitCodeFor(err);
  }
}

async function serve(argv: string[]): Promise<number> {
  let args: { http?: boolean; port?: string; help?: boolean; version?: boolean };
  try {
    args = parseArgs({
      args: argv,
      options: { http: { type: "boolean" }, port: { type: "string" }, help: { type: "boolean" }, version: { type: "boolean" } },
    }).values;
  } catch (err) {
    log(err instanceof Error ? err.message : String(err));
    process.stderr.write(HELP);
    return 2;
  }
  if (args.help) {
    process.stderr.write(HELP);
    return 0;
  }
  if (args.version) {
    process.stderr.write(`${VERSION}\n`);
    return 0;
  }
  const http = args.http === true || process.env.ZG_MCP_TRANSPORT === "http";
  if (!http && process.env.ZG_MCP_TRANSPORT !== undefined && process.env.ZG_MCP_TRANSPORT !== "stdio") {
    log(`ZG_MCP_TRANSPORT must be stdio or http, not "${process.env.ZG_MCP_TRANSPORT}"`);
    return 2;
  }
  const portText = args.port ?? process.env.ZG_MCP_PORT ?? "3920";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    log(`not a port: ${portText}`);
    return 2;
  }

  let buyer: BuyerSession;
  try {
    buyer = new BuyerSession({ ...(await configFromEnv(process.env)), log });
  } catch (err) {
    log(errorLine(err));
    return err instanceof KeyError ? EXIT.key : EXIT.usage;
  }
  const caps = buyer.options.caps;
  log(
    `account ${buyer.user} on ${buyer.options.network.name} (chain ${buyer.options.network.chainId}); fee caps ${formatAmount(caps.feesPerSession)} per session, ${formatAmount(caps.feesPerDay)} per day`,
  );

  let stopping: Promise<void> | undefined;
  const stop = (closeTransport: () => Promise<void>): Promise<void> => {
    stopping ??= (async () => {
      await closeTransport().catch(() => undefined);
      // Acknowledge the last receipts so providers are paid for them, but never hang on it.
      await Promise.race([buyer.close(), new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
    })();
    return stopping;
  };

  if (http) {
    const handle = await startHttpTransport({
      createServer: () => createZeroGMcpServer(buyer),
      port,
      ...(process.env.ZG_MCP_HTTP_TOKEN ? { token: process.env.ZG_MCP_HTTP_TOKEN } : {}),
      log,
    });
    log(`Streamable HTTP at ${handle.url}`);
    if (!process.env.ZG_MCP_HTTP_TOKEN) log(`bearer token ${handle.token} (set ZG_MCP_HTTP_TOKEN to choose one)`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await stop(() => handle.close());
    return 0;
  }

  const server = createZeroGMcpServer(buyer);
  const transport = new StdioServerTransport();
  const ended = new Promise<void>((resolve) => {
    process.stdin.once("end", resolve);
    process.stdin.once("close", resolve);
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
    transport.onclose = () => resolve();
  });
  await server.connect(transport);
  await ended;
  await stop(() => server.close());
  return 0;
}
