// The 0g-mcp-server bin as an MCP client launches it: a child process on stdio, configured by
// environment variables, against a local chain and a provider over the deterministic fake upstream.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { parseAmount } from "@0g-compute/core";
import { LOCAL_INPUT_PRICE, LOCAL_OUTPUT_PRICE, startLocalNetwork, type LocalNetwork, type LocalUser } from "@0g-compute/provider/testing";
import { callError, callOk, wei } from "./helpers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const cliPath = join(root, "packages", "mcp-server", "bin", "0g-mcp-server.js");
// The bin, with the source under tsx, so the test always runs what is in the tree.
const nodeArgs = ["--conditions=@0g-compute/source", "--import", "tsx", cliPath];
const FAKE_REPLY = "Hello from the fake upstream model .";

/** Stop a child by its PID if it is still running. */
function stopChild(pid: number | null | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

describe("0g-mcp-server on stdio (spawned child)", () => {
  let net: LocalNetwork;
  let user: LocalUser;
  let home: string;
  let env: Record<string, string>;
  const pids: number[] = [];

  beforeAll(async () => {
    net = await startLocalNetwork({ providers: [{ kind: "upstream" }] });
    user = await net.newUser({ deposit: parseAmount("1"), fund: parseAmount("0.1") });
    home = await mkdtemp(join(tmpdir(), "0g-mcp-stdio-"));
    env = {
      PATH: process.env.PATH ?? "",
      HOME: home,
      ZG_HOME: home,
      ZG_NETWORK: "devnet",
      ZG_RPC_URL: net.network.rpcUrl,
      ZG_ESCROW: net.network.escrow,
      ZG_REGISTRY: net.network.registry,
      ZG_CHAIN_ID: String(net.network.chainId),
      ZG_PRIVATE_KEY: user.privateKey,
      ZG_MCP_SPEND_CAP_SESSION: "0.000002", // 2,000 gwei: a short answer fits, max_tokens 1024 does not
      ZG_MCP_SPEND_CAP_DAY: "0.01",
      ZG_MCP_FUNDS_CAP_SESSION: "0.01",
      ZG_MCP_FUNDS_CAP_DAY: "0.01",
      ZG_MCP_MAX_TOKENS: "1024",
    };
  });
  afterAll(async () => {
    for (const pid of pids) stopChild(pid);
    await net?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it("serves an SDK client: catalogue, a paid answer with its receipt, refusals, balance; the key is never echoed", async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: nodeArgs, env, cwd: root, stderr: "pipe" });
    let stderr = "";
    transport.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    const client = new Client({ name: "stdio-test", version: "1.0.0" });
    await client.connect(transport);
    pids.push(transport.pid!);
    const outputs: string[] = [];
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(
        expect.arrayContaining(["list_services", "ask", "balance", "receipts", "deposit", "fund", "withdraw_request", "withdraw_complete"]),
      );
      const services = await callOk<{ services: { model: string; healthy: boolean }[] }>(client, "list_services");
      expect(services.services).toEqual([expect.objectContaining({ model: "fake-upstream", healthy: true })]);

      const answer = await callOk<{
        text: string;
        usage: { input_tokens: number; output_tokens: number };
        cost: unknown;
        receipt: { fee: unknown };
      }>(client, "ask", { prompt: "hello there", max_tokens: 32 });
      expect(answer.text).toBe(FAKE_REPLY);
      // The fake upstream counts words: 2 prompt words + 4 per message in, one token per reply word (7) out.
      expect(answer.usage).toEqual({ input_tokens: 6, output_tokens: 7 });
      expect(wei(answer.cost)).toBe(6n * LOCAL_INPUT_PRICE + 7n * LOCAL_OUTPUT_PRICE);
      expect(wei(answer.receipt.fee)).toBe(wei(answer.cost));
      outputs.push(JSON.stringify(answer));

      const refused = await callError(client, "ask", { prompt: "hello there", max_tokens: 1024 });
      expect(refused).toMatch(/^SPENDING_LIMIT: the session spending limit would be exceeded/);
      expect(await callError(client, "deposit", { amount: "0.02" })).toMatch(/^FUNDS_CAP: /);
      expect(await callError(client, "ask", { prompt: "hi", max_tokens: 2048 })).toMatch(/Input validation error/);
      outputs.push(refused);

      const balance = await callOk<{ account: string; session: { fees_paid: unknown; requests: number } }>(client, "balance");
      expect(balance).toMatchObject({ account: user.account.address, session: { requests: 1 } });
      expect(wei(balance.session.fees_paid)).toBe(wei(answer.cost));
      outputs.push(JSON.stringify(balance));
    } finally {
      await client.close();
    }
    const key = user.privateKey.slice(2).toLowerCase();
    expect(stderr).toContain(user.account.address);
    expect(stderr.toLowerCase()).not.toContain(key);
    expect(outputs.join("\n").toLowerCase()).not.toContain(key);
  });

  it("writes nothing but protocol on stdout and exits promptly when stdin closes", async () => {
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, nodeArgs, { cwd: root, env });
    pids.push(child.pid!);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const lines = async (n: number): Promise<string[]> => {
      while (stdout.split("\n").filter(Boolean).length < n) await new Promise((resolve) => child.stdout.once("data", resolve));
      return stdout.split("\n").filter(Boolean);
    };
    child.stdin.write(
      JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
      }) + "\n",
    );
    await lines(1);
    child.stdin.write(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) + "\n");
    child.stdin.write(
      JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "list_services", arguments: {} } }) + "\n",
    );
    const out = await lines(2);
    const messages = out.map(
      (l) => JSON.parse(l) as { jsonrpc: string; id: number; result?: { serverInfo?: { name: string }; structuredContent?: unknown } },
    );
    for (const m of messages) expect(m.jsonrpc).toBe("2.0");
    expect(messages[0]).toMatchObject({ id: 1, result: { serverInfo: { name: "0g-compute" } } });
    expect(messages[1]).toMatchObject({
      id: 2,
      result: { structuredContent: { services: [expect.objectContaining({ model: "fake-upstream" })] } },
    });
    child.stdin.end();
    expect(await exited).toBe(0);
    expect(stderr.toLowerCase()).not.toContain(user.privateKey.slice(2).toLowerCase());
  });

  it("refuses to start without a key, or with a malformed cap, saying why on stderr (exit 7 and 2)", async () => {
    const run = (over: Record<string, string | undefined>) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const e: Record<string, string> = { ...env };
        for (const [k, v] of Object.entries(over))
          if (v === undefined) delete e[k];
          else e[k] = v;
        const child = spawn(process.execPath, nodeArgs, { cwd: root, env: e });
        pids.push(child.pid!);
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.once("exit", (code) => resolve({ code, stdout, stderr }));
      });
    const noKey = await run({ ZG_PRIVATE_KEY: undefined });
    expect(noKey.code).toBe(7);
    expect(noKey.stdout).toBe("");
    expect(noKey.stderr).toMatch(/no key configured/);
    const badCap = await run({ ZG_MCP_SPEND_CAP_DAY: "lots" });
    expect(badCap.code).toBe(2);
    expect(badCap.stderr).toMatch(/ZG_MCP_SPEND_CAP_DAY is not an amount of 0G/);
    const badKey = await run({ ZG_PRIVATE_KEY: "0x1234" });
    expect(badKey.code).toBe(7);
    expect(badKey.stderr).not.toContain("0x1234");
  });
});
