// The MCP server through an SDK client over an in-memory pair, against a local chain and a provider
// serving the generated test model with node-llama-cpp (real inference, paid and verified).
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js";
import { accountFromEnv, parseAmount } from "@0g-compute/core";
import {
  DEFAULT_SCRIPTED_REPLY,
  LOCAL_INPUT_PRICE,
  LOCAL_OUTPUT_PRICE,
  startLocalNetwork,
  type LocalNetwork,
  type LocalUser,
} from "@0g-compute/provider/testing";
import { BuyerSession, type ZeroGMcpOptions } from "../src/index.js";
import { ALL_TOOLS, callError, callOk, inMemoryClient, wei } from "./helpers.js";

const CAPS = {
  feesPerSession: parseAmount("0.001"),
  feesPerDay: parseAmount("0.01"),
  fundsPerSession: parseAmount("0.5"),
  fundsPerDay: parseAmount("0.6"),
};

describe("MCP server over an in-memory pair", () => {
  let net: LocalNetwork;
  let user: LocalUser;
  let dir: string;
  let buyer: BuyerSession;
  let client: Client;
  let close: () => Promise<void>;
  let provider: `0x${string}`;
  const outputs: string[] = [];

  const options = (over: Partial<ZeroGMcpOptions> = {}): ZeroGMcpOptions => ({
    network: net.network,
    account: user.account,
    caps: CAPS,
    maxTokens: 64,
    progressIntervalMs: 60_000,
    ...over,
  });

  beforeAll(async () => {
    net = await startLocalNetwork({ providers: [{ kind: "llama" }] });
    provider = net.providers[0]!.address;
    user = await net.newUser({ deposit: parseAmount("1"), fund: parseAmount("0.1") });
    dir = await mkdtemp(join(tmpdir(), "0g-mcp-"));
    buyer = new BuyerSession(options({ stateDir: join(dir, "state") }));
    ({ client, close } = await inMemoryClient(buyer));
  });
  afterAll(async () => {
    await close?.();
    await buyer?.close();
    await net?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("lists its tools with input and output schemas and annotations, its resources and its prompts", async () => {
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual(ALL_TOOLS);
    for (const t of tools) expect(t.outputSchema).toBeDefined();
    for (const name of ["list_services", "balance", "receipts"])
      expect(byName.get(name)!.annotations).toMatchObject({ readOnlyHint: true });
    for (const name of ["ask", "deposit", "fund"])
      expect(byName.get(name)!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, openWorldHint: true });
    expect(byName.get("ask")!.inputSchema.properties).toMatchObject({ max_tokens: { type: "integer", maximum: 64 } });
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri).sort()).toEqual(["zerog://account", "zerog://services"]);
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name).sort()).toEqual(["ask_network", "spending_report"]);
    const prompt = await client.getPrompt({ name: "ask_network", arguments: { question: "What is 0G?", model: "test-scripted" } });
    expect(prompt.messages[0]!.content).toMatchObject({ type: "text", text: expect.stringContaining("What is 0G?") });
  });

  it("list_services: the model, its provider, prices and health", async () => {
    const r = await callOk<{ services: Record<string, unknown>[] }>(client, "list_services");
    expect(r.services).toHaveLength(1);
    expect(r.services[0]).toMatchObject({
      model: "test-scripted",
      provider,
      healthy: true,
      price_per_million_tokens: { input: "0.001 0G", output: "0.002 0G" },
    });
    expect(wei(r.services[0]!.input_price_per_token)).toBe(LOCAL_INPUT_PRICE);
    expect(wei(r.services[0]!.output_price_per_token)).toBe(LOCAL_OUTPUT_PRICE);
    expect((await callOk<{ services: unknown[] }>(client, "list_services", { model: "no-such-model" })).services).toEqual([]);
  });

  it("ask: real inference, paid, with usage, cost, a verified receipt and progress notifications", async () => {
    const progress: Progress[] = [];
    const r = (await client.callTool({ name: "ask", arguments: { prompt: "Say hello", max_tokens: 32 } }, undefined, {
      onprogress: (p) => progress.push(p),
      resetTimeoutOnProgress: true,
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    const s = r.structuredContent as {
      text: string;
      model: string;
      provider: string;
      usage: { input_tokens: number; output_tokens: number };
      cost: unknown;
      receipt: Record<string, unknown>;
      session: { fees_paid: unknown; requests: number };
    };
    expect(s.text).toBe(DEFAULT_SCRIPTED_REPLY);
    expect(s).toMatchObject({ model: "test-scripted", provider, session: { requests: 1 } });
    const fee = BigInt(s.usage.input_tokens) * LOCAL_INPUT_PRICE + BigInt(s.usage.output_tokens) * LOCAL_OUTPUT_PRICE;
    expect(s.usage.output_tokens).toBeGreaterThan(0);
    expect(wei(s.cost)).toBe(fee);
    expect(wei(s.receipt.fee)).toBe(fee);
    expect(wei(s.session.fees_paid)).toBe(fee);
    expect(s.receipt).toMatchObject({
      provider,
      model: "test-scripted",
      input_tokens: s.usage.input_tokens,
      signature: expect.stringMatching(/^0x[0-9a-f]{130}$/),
    });
    expect(r.content[0]).toMatchObject({ type: "text", text: expect.stringContaining(DEFAULT_SCRIPTED_REPLY) });
    // Progress: monotonic, ending with the verified receipt.
    const messages = progress.map((p) => p.message);
    expect(messages).toContain("asking test-scripted");
    expect(messages[messages.length - 1]).toBe("receipt verified");
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress);

    // Messages instead of a prompt, naming the provider; the receipts tool lists both.
    const again = await callOk<{ text: string; receipt: { nonce: string } }>(client, "ask", {
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
      ],
      provider,
      model: "test-scripted",
      max_tokens: 16,
    });
    expect(again.text).toBe(DEFAULT_SCRIPTED_REPLY.slice(0, again.text.length));
    const receipts = await callOk<{ receipts: { ticket_digest: string }[]; total_fees: unknown }>(client, "receipts");
    expect(receipts.receipts).toHaveLength(2);
    expect(new Set(receipts.receipts.map((x) => x.ticket_digest)).size).toBe(2);
    expect(wei(receipts.total_fees)).toBe(buyer.receipts.reduce((t, x) => t + x.fee, 0n));
    expect(await callOk<{ receipts: unknown[] }>(client, "receipts", { last: 1 })).toMatchObject({ receipts: [expect.anything()] });
  });

  it("ask: invalid arguments are refused before anything is sent", async () => {
    const before = buyer.receipts.length;
    expect(await callError(client, "ask", { prompt: "hi", max_tokens: 65 })).toMatch(/Input validation error/);
    expect(await callError(client, "ask", { prompt: "hi", max_tokens: 0 })).toMatch(/Input validation error/);
    expect(await callError(client, "ask", { prompt: "hi", provider: "0x123" })).toMatch(/Input validation error/);
    expect(await callError(client, "ask", { messages: [{ role: "robot", content: "hi" }] })).toMatch(/Input validation error/);
    expect(await callError(client, "ask", {})).toMatch(/^INVALID_ARGUMENT: give a prompt or messages/);
    expect(await callError(client, "ask", { prompt: "hi", messages: [{ role: "user", content: "hi" }] })).toMatch(/^INVALID_ARGUMENT/);
    expect(await callError(client, "ask", { prompt: "hi", model: "no-such-model" })).toMatch(
      /^MODEL_NOT_FOUND: no service offers model no-such-model/,
    );
    expect(await callError(client, "no_such_tool")).toMatch(/not found/);
    expect(buyer.receipts.length).toBe(before);
  });

  it("ask: a request that could exceed the session or the day cap is refused and nothing is spent", async () => {
    const lane = () => net.providers[0]!.node.store.lane(user.account.address, user.account.address);
    const billed = lane().billed;
    for (const [limit, caps] of [
      ["session", { ...CAPS, feesPerSession: 100_000_000_000n }],
      ["day", { ...CAPS, feesPerDay: 100_000_000_000n }],
    ] as const) {
      const capped = new BuyerSession(options({ caps }));
      const c = await inMemoryClient(capped);
      const text = await callError(c.client, "ask", { prompt: "Say hello", max_tokens: 64 });
      expect(text).toMatch(new RegExp(`^SPENDING_LIMIT: the ${limit} spending limit would be exceeded`));
      expect(text).toMatch(/hint: /);
      const b = await callOk<{ session: { fees_paid: unknown; requests: number } }>(c.client, "balance");
      expect(wei(b.session.fees_paid)).toBe(0n);
      expect(b.session.requests).toBe(0);
      await c.close();
      await capped.close();
    }
    expect(lane().billed).toBe(billed);
  });

  it("day caps are kept across restarts in the state directory; session caps start again", async () => {
    const spent = buyer.spending().feesPaid;
    expect(spent).toBeGreaterThan(0n);
    // A restart: a new process reading the same fees file (copied, since the running server holds the lane lock of its directory).
    await mkdir(join(dir, "state-copy"), { recursive: true });
    await copyFile(join(dir, "state", "fees.json"), join(dir, "state-copy", "fees.json"));
    const restarted = new BuyerSession(options({ stateDir: join(dir, "state-copy") }));
    const caps = restarted.spending().caps.filter((c) => c.kind === "fees");
    expect(caps.find((c) => c.name === "day")!.used).toBe(spent);
    expect(caps.find((c) => c.name === "session")!.used).toBe(0n);
    await restarted.close();
  });

  it("balance and the account resource: ledger, channel, this session's spending", async () => {
    const b = await callOk<{
      account: string;
      ledger: unknown;
      channels: { provider: string; balance: unknown; unlock_at: number }[];
      session: { fees_paid: unknown; caps: { name: string; kind: string; cap: unknown }[] };
    }>(client, "balance");
    expect(b.account).toBe(user.account.address);
    expect(wei(b.ledger)).toBe(parseAmount("0.9"));
    expect(b.channels).toEqual([expect.objectContaining({ provider, unlock_at: 0 })]);
    expect(wei(b.channels[0]!.balance)).toBe(parseAmount("0.1"));
    expect(wei(b.session.fees_paid)).toBe(buyer.spending().feesPaid);
    expect(b.session.caps.map((c) => `${c.kind}/${c.name}`)).toEqual(["fees/session", "fees/day", "funds/session", "funds/day"]);
    const res = await client.readResource({ uri: "zerog://account" });
    expect(JSON.parse((res.contents[0] as { text: string }).text)).toMatchObject({
      account: user.account.address,
      channels: [{ provider }],
    });
    const catalogue = await client.readResource({ uri: "zerog://services" });
    expect(JSON.parse((catalogue.contents[0] as { text: string }).text)).toMatchObject([
      { model: "test-scripted", provider, inputPricePerToken: LOCAL_INPUT_PRICE.toString() },
    ]);
  });

  it("deposit and fund move explicit amounts within the caps on funds moved; above them nothing is sent", async () => {
    const ledger = async () => wei((await callOk<{ ledger: unknown }>(client, "balance")).ledger);
    const start = await ledger();
    expect(await callOk(client, "deposit", { amount: "0.3" })).toMatchObject({
      amount: { wei: parseAmount("0.3").toString(), og: "0.3" },
      tx: expect.stringMatching(/^0x/),
    });
    expect(await ledger()).toBe(start + parseAmount("0.3"));
    const refused = await callError(client, "fund", { provider, amount: "0.25" });
    expect(refused).toMatch(
      /^FUNDS_CAP: refused: moving 0\.25 0G would exceed the session cap on funds moved \(0\.3 0G moved of 0\.5 0G\); nothing was sent/,
    );
    expect(await ledger()).toBe(start + parseAmount("0.3"));
    expect(await callOk(client, "fund", { provider, amount: "0.2" })).toMatchObject({ provider });
    expect(await ledger()).toBe(start + parseAmount("0.1"));
    expect(buyer.spending().fundsMoved).toBe(parseAmount("0.5"));
    // Invalid amounts and addresses never reach the chain.
    expect(await callError(client, "deposit", { amount: "-1" })).toMatch(/Input validation error/);
    expect(await callError(client, "deposit", { amount: "1e3" })).toMatch(/Input validation error/);
    expect(await callError(client, "deposit", {})).toMatch(/Input validation error/);
    expect(await callError(client, "fund", { provider: "0x123", amount: "0.1" })).toMatch(/Input validation error/);
    // A contract refusal is reported with its code; nothing counts against the cap.
    const day = new BuyerSession(options({ caps: { ...CAPS, fundsPerSession: parseAmount("1000"), fundsPerDay: parseAmount("1000") } }));
    const c = await inMemoryClient(day);
    expect(await callError(c.client, "fund", { provider, amount: "500" })).toMatch(/^[A-Z_]+: /);
    expect(day.spending().fundsMoved).toBe(0n);
    await c.close();
    await day.close();
  });

  it("with a session key: pays for inference, lists no fund-moving tools", async () => {
    const sessionKeyHex = `0x${randomBytes(32).toString("hex")}`;
    const sessionKey = accountFromEnv("KEY", { KEY: sessionKeyHex });
    await user.client.authorizeSessionKey(
      provider,
      sessionKey.address,
      parseAmount("0.01"),
      BigInt(Math.floor(Date.now() / 1000)) + 30n * 86_400n,
    );
    const keyed = new BuyerSession(options({ account: sessionKey, user: user.account.address }));
    const c = await inMemoryClient(keyed);
    const names = (await c.client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(["ask", "balance", "embed", "list_services", "receipts"]);
    const r = await callOk<{ text: string; provider: string }>(c.client, "ask", { prompt: "Say hello", max_tokens: 32 });
    expect(r).toMatchObject({ text: DEFAULT_SCRIPTED_REPLY, provider });
    const b = await callOk<{ account: string; session_key: string }>(c.client, "balance");
    expect(b).toMatchObject({ account: user.account.address, session_key: sessionKey.address });
    outputs.push(JSON.stringify(r), JSON.stringify(b));
    expect(outputs.join("\n").toLowerCase()).not.toContain(sessionKeyHex.slice(2).toLowerCase());
    await c.close();
    await keyed.close();
  });

  // Last: it moves the chain's clock past the lock, and tickets are dated by the wall clock.
  it("withdraw: request, refused before the lock ends, complete after it; cancel and ledger withdrawal", async () => {
    const req = await callOk<{ amount: unknown; unlock_at: number }>(client, "withdraw_request", { provider, amount: "0.05" });
    expect(wei(req.amount)).toBe(parseAmount("0.05"));
    expect(req.unlock_at).toBeGreaterThan(0);
    const b = await callOk<{ channels: { pending_withdraw: unknown; unlocked: boolean }[] }>(client, "balance");
    expect(wei(b.channels[0]!.pending_withdraw)).toBe(parseAmount("0.05"));
    expect(b.channels[0]!.unlocked).toBe(false);
    expect(await callError(client, "withdraw_complete", { provider })).toMatch(/^WITHDRAW_LOCKED/);
    await net.chain.increaseTime(600n);
    const done = await callOk<{ amount: unknown; txs: string[] }>(client, "withdraw_complete", { provider });
    expect(wei(done.amount)).toBe(parseAmount("0.05"));
    expect(done.txs).toHaveLength(2);
    await callOk(client, "withdraw_request", { provider, amount: "all" });
    await callOk(client, "withdraw_cancel", { provider });
    const after = await callOk<{ channels: { pending_withdraw: unknown }[]; ledger: unknown }>(client, "balance");
    expect(wei(after.channels[0]!.pending_withdraw)).toBe(0n);
    const sent = await callOk<{ amount: unknown }>(client, "withdraw_ledger", { amount: "all" });
    expect(wei(sent.amount)).toBe(wei(after.ledger));
    expect(wei((await callOk<{ ledger: unknown }>(client, "balance")).ledger)).toBe(0n);
  });
});
