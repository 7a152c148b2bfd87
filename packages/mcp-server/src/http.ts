import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";

/** Options for {@link startHttpTransport}. */
export interface HttpTransportOptions {
  /** Makes the MCP server for each new MCP session (share one `BuyerSession` between them). */
  createServer: () => McpServer;
  /** Bearer token clients must send (default: 24 random bytes, hex). */
  token?: string;
  /** Port on 127.0.0.1 (default 0: any free port). */
  port?: number;
  /** Largest request body in bytes (default 4 MiB). */
  maxBodyBytes?: number;
  /** Diagnostics (default: none). */
  log?: (line: string) => void;
}

/** A running Streamable HTTP endpoint. */
export interface HttpTransportHandle {
  /** The MCP endpoint, e.g. `http://127.0.0.1:3920/mcp`. */
  url: string;
  port: number;
  /** The bearer token clients must send in `Authorization: Bearer …`. */
  token: string;
  /** MCP sessions open now. */
  sessions(): number;
  /** Close every session and stop listening. */
  close(): Promise<void>;
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function reply(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
}

class BodyTooLarge extends Error {}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

/**
 * Serve MCP over Streamable HTTP on 127.0.0.1 only, at `/mcp`. Every request must carry the bearer
 * token; the Host header must name the loopback address and port (DNS-rebinding protection), and an
 * Origin header, when a browser sends one, must be that same loopback origin. Each MCP session gets
 * its own server from `createServer`.
 *
 * @example
 * const buyer = new BuyerSession(await configFromEnv(process.env));
 * const http = await startHttpTransport({ createServer: () => createZeroGMcpServer(buyer), port: 3920 });
 * // client: new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers: { authorization: `Bearer ${http.token}` } } })
 * await http.close();
 */
export async function startHttpTransport(options: HttpTransportOptions): Promise<HttpTransportHandle> {
  const token = options.token ?? randomBytes(24).toString("hex");
  if (token.length < 16) throw new RangeError("the bearer token must be at least 16 characters");
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: McpServer }>();
  let port = options.port ?? 0;
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!allowedHosts.has(req.headers.host ?? "")) return reply(res, 403, "forbidden host");
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin)) return reply(res, 403, "forbidden origin");
    const auth = req.headers.authorization ?? "";
    if (!sameToken(auth.startsWith("Bearer ") ? auth.slice(7) : "", token))
      return reply(res, 401, "missing or wrong bearer token", { "www-authenticate": "Bearer" });
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    if (path !== "/mcp") return reply(res, 404, "not found: the MCP endpoint is /mcp");

    const sessionId = req.headers["mcp-session-id"];
    const existing = typeof sessionId === "string" ? sessions.get(sessionId) : undefined;
    if (req.method === "POST") {
      let body: unknown;
      try {
        body = await readJson(req, maxBody);
      } catch (err) {
        return err instanceof BodyTooLarge ? reply(res, 413, "request body too large") : reply(res, 400, "the body is not JSON");
      }
      if (existing) return existing.transport.handleRequest(req, res, body);
      if (sessionId !== undefined) return reply(res, 404, "unknown session");
      if (!isInitializeRequest(body)) return reply(res, 400, "no session: start with an initialize request");
      const server = options.createServer();
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, { transport, server });
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
        server.close().catch(() => undefined);
      };
      await server.connect(transport);
      return transport.handleRequest(req, res, body);
    }
    if (req.method === "GET" || req.method === "DELETE") {
      if (!existing)
        return reply(res, sessionId === undefined ? 400 : 404, sessionId === undefined ? "missing mcp-session-id" : "unknown session");
      return existing.transport.handleRequest(req, res);
    }
    return reply(res, 405, "method not allowed", { allow: "GET, POST, DELETE" });
  };

  const http: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.log?.(`http: ${err instanceof Error ? err.message : String(err)}`);
      reply(res, 500, "internal error");
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, "127.0.0.1", () => {
      http.off("error", reject);
      resolve();
    });
  });
  port = (http.address() as AddressInfo).port;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  allowedOrigins = new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    token,
    sessions: () => sessions.size,
    async close() {
      const open = [...sessions.values()];
      sessions.clear();
      await Promise.all(
        open.map(({ transport, server }) =>
          transport
            .close()
            .then(() => server.close())
            .catch(() => undefined),
        ),
      );
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}
