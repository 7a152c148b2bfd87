// Streamable HTTP on 127.0.0.1: bearer token, Host and Origin checks (DNS-rebinding protection),
// sessions sharing one account, progress over SSE; and the bin in HTTP mode.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js";
import { parseAmount } from "@0g-compute/core";
import { startLocalNetwork, type LocalNetwork, type LocalUser } from "@0g-compute/provider/testing";
import { BuyerSession, createZeroGMcpServer, startHttpTransport, type HttpTransportHandle } from "../src/index.js";
import { callError, callOk, wei } from "./helpers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const FAKE_REPLY = "Hello from the fake upstream model .";
const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
};

/** A raw POST with the headers given (node:http, so Host can be forged as a rebinding attack would). */
function post(url: string, headers: Record<string, string>, body: unknown = INIT): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.once("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("MCP server over Streamable HTTP", () => {
  let net: LocalNetwork;
  let user: LocalUser;
  let buyer: BuyerSession;
  let http: HttpTransportHandle;
  const clients: Client[] = [];

  const connect = async (): Promise<Client> => {
    const client = new Client({ name: "http-test", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers: { authorization: `Bearer ${http.token}` } } }),
    );
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    net = await startLocalNetwork({ providers: [{ kind: "upstream" }] });
    user = await net.newUser({ deposit: parseAmount("1"), fund: parseAmount("0.1") });
    buyer = new BuyerSession({
      network: net.network,
      account: user.account,
      caps: { feesPerSession: 400_000_000_000n, feesPerDay: parseAmount("0.01"), fundsPerSession: 0n, fundsPerDay: 0n },
      maxTokens: 256,
    });
    http = await startHttpTransport({ createServer: () => createZeroGMcpServer(buyer), port: 0 });
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await http?.close();
    await buyer?.close();
    await net?.stop();
  });

  it("listens on 127.0.0.1 only, with a random bearer token", () => {
    expect(http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(http.token).toMatch(/^[0-9a-f]{48}$/);
  });

  it("refuses requests without the token, with a foreign Host or Origin, or off the endpoint", async () => {
    const auth = { authorization: `Bearer ${http.token}` };
    expect((await post(http.url, {})).status).toBe(401);
    expect((await post(http.url, { authorization: "Bearer wrong-token-of-some-length" })).status).toBe(401);
    expect((await post(http.url, { ...auth, host: "attacker.example" })).status).toBe(403);
    expect((await post(http.url, { ...auth, host: `attacker.example:${http.port}` })).status).toBe(403);
    expect((await post(http.url, { ...auth, origin: "http://attacker.example" })).status).toBe(403);
    expect((await post(http.url.replace("/mcp", "/other"), auth)).status).toBe(404);
    expect(
      (await post(http.url, { ...auth, "mcp-session-id": "no-such-session" }, { jsonrpc: "2.0", id: 2, method: "tools/list" })).status,
    ).toBe(404);
    expect((await post(http.url, auth, { jsonrpc: "2.0", id: 2, method: "tools/list" })).status).toBe(400);
    expect(http.sessions()).toBe(0);
    // The loopback origin and host name are fine.
    const ok = await post(http.url, { ...auth, origin: `http://localhost:${http.port}`, host: `localhost:${http.port}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('"serverInfo"');
  });

  it("serves SDK clients: a paid answer with progress over SSE; sessions share the account, its caps and receipts", async () => {
    const a = await connect();
    const b = await connect();
    const progress: Progress[] = [];
    const r = (await a.callTool({ name: "ask", arguments: { prompt: "hello there", max_tokens: 16 } }, undefined, {
      onprogress: (p) => progress.push(p),
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ text: FAKE_REPLY, model: "fake-upstream", usage: { input_tokens: 6, output_tokens: 7 } });
    expect(progress.map((p) => p.message)).toEqual(expect.arrayContaining(["asking fake-upstream", "receipt verified"]));

    const seen = await callOk<{ receipts: { ticket_digest: string }[]; total_fees: unknown }>(b, "receipts");
    expect(seen.receipts).toHaveLength(1);
    expect(seen.receipts[0]!.ticket_digest).toBe((r.structuredContent as { receipt: { ticket_digest: string } }).receipt.ticket_digest);
    expect(wei(seen.total_fees)).toBe(buyer.spending().feesPaid);

    // The session cap (400 gwei) is shared: this request's maximum cost is above what is left.
    expect(await callError(b, "ask", { prompt: "hello there", max_tokens: 256 })).toMatch(
      /^SPENDING_LIMIT: the session spending limit would be exceeded/,
    );
    // Funds caps of zero: moving funds is off until the operator allows it.
    expect(await callError(b, "deposit", { amount: "0.001" })).toMatch(/^FUNDS_CAP: /);
    expect(await callError(a, "ask", { prompt: "hi", max_tokens: 257 })).toMatch(/Input validation error/);
    expect(buyer.receipts).toHaveLength(1);
  });

  it("the bin serves HTTP with --http: the URL on stderr, the token from ZG_MCP_HTTP_TOKEN", async () => {
    const home = await mkdtemp(join(tmpdir(), "0g-mcp-http-"));
    const token = "a-token-chosen-by-the-operator";
    const child = spawn(
      process.execPath,
      [
        "--conditions=@0g-compute/source",
        "--import",
        "tsx",
        join(root, "packages", "mcp-server", "bin", "0g-mcp-server.js"),
        "--http",
        "--port",
        "0",
      ],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: home,
          ZG_HOME: home,
          ZG_RPC_URL: net.network.rpcUrl,
          ZG_ESCROW: net.network.escrow,
          ZG_REGISTRY: net.network.registry,
          ZG_PRIVATE_KEY: user.privateKey,
          ZG_MCP_HTTP_TOKEN: token,
        },
      },
    );
    try {
      let stderr = "";
      let stdout = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on("data", (c: Buffer) => {
          stderr += c.toString();
          const m = /Streamable HTTP at (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(stderr);
          if (m) resolve(m[1]!);
        });
        child.once("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      expect(stderr).not.toContain(token);
      const client = new Client({ name: "http-bin-test", version: "1.0.0" });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
      );
      const services = await callOk<{ services: { model: string }[] }>(client, "list_services");
      expect(services.services.map((s) => s.model)).toEqual(["fake-upstream"]);
      await client.close();
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(stdout).toBe("");
      expect(stderr.toLowerCase()).not.toContain(user.privateKey.slice(2).toLowerCase());
    } finally {
      if (child.exitCode === null) process.kill(child.pid!, "SIGKILL");
      await rm(home, { recursive: true, force: true });
    }
  });
});
