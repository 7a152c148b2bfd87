// Shared by the MCP server tests: tool calls that unwrap results, and an in-process client.
import { expect } from "@jest/globals";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createZeroGMcpServer, type BuyerSession } from "../src/index.js";

/** The structured result of a tool call that must succeed. */
export async function callOk<T = Record<string, unknown>>(client: Client, name: string, args: Record<string, unknown> = {}): Promise<T> {
  const r = (await client.callTool({ name, arguments: args })) as CallToolResult;
  if (r.isError) throw new Error(`${name} failed: ${JSON.stringify(r.content)}`);
  expect(r.structuredContent).toBeDefined();
  return r.structuredContent as T;
}

/** The error text of a tool call that must fail (a tool error, not a protocol error). */
export async function callError(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const r = (await client.callTool({ name, arguments: args })) as CallToolResult;
  expect(r.isError).toBe(true);
  return r.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
}

/** A client connected to a new server over an in-memory pair. */
export async function inMemoryClient(buyer: BuyerSession): Promise<{ client: Client; close: () => Promise<void> }> {
  const server = createZeroGMcpServer(buyer);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "test-client", version: "1.0.0" });
  await client.connect(clientSide);
  return {
    client,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

/** Wei of an `{ wei, og }` amount. */
export const wei = (a: unknown): bigint => BigInt((a as { wei: string }).wei);

/** Every tool the server offers with the account's own key (a session key gets only those that buy and read). */
export const ALL_TOOLS = [
  "ask",
  "balance",
  "deposit",
  "embed",
  "fund",
  "list_services",
  "receipts",
  "withdraw_cancel",
  "withdraw_complete",
  "withdraw_ledger",
  "withdraw_request",
];
