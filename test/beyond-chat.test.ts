// Beyond chat, on one local network: paid embeddings on every surface (a real embedding model on the
// embedded llama.cpp, an upstream embedding model, and a chat model beside them): the openai package
// through the gateway, the CLI's `embed`, LangChain's ZeroGEmbeddings in a MemoryVectorStore retrieval,
// and the MCP `embed` tool; and images and transcriptions sold from an upstream per unit, through the gateway.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { MemoryVectorStore } from "@langchain/classic/vectorstores/memory";
import OpenAI, { toFile } from "openai";
import { parseAmount, startGateway, type Gateway, type PaidFetch } from "@0g-compute/core";
import { ZeroGEmbeddings } from "@0g-compute/langchain";
import { BuyerSession, createZeroGMcpServer } from "@0g-compute/mcp-server";
import { startLocalNetwork, type LocalNetwork, type LocalUser } from "@0g-compute/provider/testing";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const EMBED = "test-embedding";
const UPSTREAM_EMBED = "fake-upstream-embed";
const CHAT = "test-scripted";
const DOCS = ["the cat sat on the mat", "stock markets fell sharply today", "rain is expected over the weekend"];

let net: LocalNetwork;
let user: LocalUser;
let home: string;
let paid: PaidFetch;
let gateway: Gateway;
let openai: OpenAI;

beforeAll(async () => {
  net = await startLocalNetwork({
    providers: [
      { kind: "llama", model: "embedding" },
      { kind: "upstream", sells: "embedding" },
      { kind: "llama", model: "scripted" },
      { kind: "upstream", sells: "images" },
      { kind: "upstream", sells: "transcription" },
    ],
  });
  user = await net.newUser({ deposit: 10n ** 18n, fund: 10n ** 17n });
  home = await mkdtemp(join(tmpdir(), "0g-embeddings-"));
  await writeFile(
    join(home, "devnet.json"),
    JSON.stringify({ rpcUrl: net.chain.rpcUrl, chainId: net.chain.chain.id, escrow: net.network.escrow, registry: net.network.registry }),
  );
  paid = user.paidFetch();
  const token = randomBytes(24).toString("hex");
  gateway = await startGateway({ paidFetch: paid, token });
  openai = new OpenAI({ baseURL: gateway.url, apiKey: token, maxRetries: 0 });
}, 180_000);

afterAll(async () => {
  await gateway?.close();
  await paid?.close();
  await net?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("embeddings through the gateway (the openai package)", () => {
  it("buys embeddings from the llama service and from the upstream one; chat still goes to the chat service", async () => {
    const r = await openai.embeddings.create({ model: EMBED, input: DOCS });
    expect(r.data).toHaveLength(3);
    expect(r.data[0]!.embedding.length).toBeGreaterThan(0);
    expect(r.usage.prompt_tokens).toBeGreaterThan(0);
    const up = await openai.embeddings.create({ model: UPSTREAM_EMBED, input: "a cat", dimensions: 4 });
    expect(up.data[0]!.embedding).toHaveLength(4);
    expect(up.usage.prompt_tokens).toBe(4); // the fake upstream's count: 2 words + 2
    const chat = await openai.chat.completions.create({ model: CHAT, messages: [{ role: "user", content: "Hi" }], max_tokens: 16 });
    expect(chat.choices[0]!.message.content).toBe("Hello from 0G Compute!");
    const fees = paid.receipts.map((x) => x.receipt.outputTokens);
    expect(fees.slice(0, 2)).toEqual([0, 0]);
    // The catalogue says what each service sells.
    const models = (await (await fetch(`${gateway.url}/models`, { headers: { authorization: `Bearer ${openai.apiKey}` } })).json()) as {
      data: { id: string; kind: string; dimensions?: number }[];
    };
    expect(models.data.find((m) => m.id === EMBED)).toMatchObject({ kind: "embedding" });
    expect(models.data.find((m) => m.id === CHAT)).toMatchObject({ kind: "chat" });
  });

  it("refuses a chat request for an embedding model, before paying anything", async () => {
    const before = paid.receipts.length;
    await expect(
      openai.chat.completions.create({ model: EMBED, messages: [{ role: "user", content: "Hi" }], max_tokens: 4 }),
    ).rejects.toThrow(/model/i);
    expect(paid.receipts.length).toBe(before);
  });
});

describe("images and transcriptions through the gateway, priced per unit", () => {
  it("buys two images and a transcription, each with a verified receipt counting units", async () => {
    const images = await openai.images.generate({ model: "fake-upstream-images", prompt: "a cat", n: 2, response_format: "b64_json" });
    expect(images.data).toHaveLength(2);
    expect(paid.receipts.at(-1)!.receipt).toMatchObject({ inputTokens: 2, outputTokens: 0 });
    const audio = Buffer.alloc(32_000, 1); // 2 s at the fake upstream's 16 kB/s
    const t = await openai.audio.transcriptions.create({ model: "fake-upstream-transcription", file: await toFile(audio, "a.wav") });
    expect(t.text).toBe("transcribed 32000 bytes");
    expect(paid.receipts.at(-1)!.receipt).toMatchObject({ inputTokens: 2, outputTokens: 0 });
  });
});

describe("the CLI", () => {
  it("0g-compute embed prints the vectors (JSON) and the verified receipt", async () => {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
        join(root, "node_modules", ".bin", "tsx"),
        [
          "--conditions=@0g-compute/source",
          join(root, "packages", "core", "bin", "0g-compute.js"),
          "embed",
          "--model",
          EMBED,
          "--json",
          ...DOCS,
        ],
        { cwd: root, env: { PATH: process.env.PATH, HOME: home, ZG_HOME: home, ZG_PRIVATE_KEY: user.privateKey } },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.once("error", reject);
      child.once("exit", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end();
    });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { model: string; dimensions: number; embeddings: number[][]; receipt: { inputTokens: number } };
    expect(out.model).toBe(EMBED);
    expect(out.embeddings).toHaveLength(3);
    expect(out.embeddings[0]).toHaveLength(out.dimensions);
    expect(out.receipt.inputTokens).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/receipt verified/);
  }, 60_000);
});

describe("LangChain", () => {
  it("ZeroGEmbeddings in a MemoryVectorStore finds the document that shares the query's words", async () => {
    const embeddings = new ZeroGEmbeddings({
      network: net.network,
      privateKey: user.privateKey,
      model: EMBED,
      batchSize: 2,
      maxSpend: "0.01",
    });
    try {
      const store = await MemoryVectorStore.fromTexts(
        DOCS,
        DOCS.map((_, i) => ({ i })),
        embeddings,
      );
      const [best] = await store.similaritySearch("where is the cat? on the mat", 1);
      expect(best!.pageContent).toBe(DOCS[0]);
      // Three documents in batches of two, and the query: three paid requests, each with a verified receipt.
      const receipts = await embeddings.receipts();
      expect(receipts).toHaveLength(3);
      expect(Number(await embeddings.spent())).toBeGreaterThan(0);
    } finally {
      await embeddings.close();
    }
  });
});

describe("the MCP server", () => {
  it("lists the embedding service and embeds through the embed tool", async () => {
    const buyer = new BuyerSession({
      network: net.network,
      account: user.account,
      caps: { feesPerSession: parseAmount("0.001"), feesPerDay: parseAmount("0.01"), fundsPerSession: 0n, fundsPerDay: 0n },
      maxTokens: 64,
    });
    const server = createZeroGMcpServer(buyer);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: "test-client", version: "1.0.0" });
    await client.connect(clientSide);
    try {
      const list = (await client.callTool({ name: "list_services", arguments: {} })) as CallToolResult;
      const services = (list.structuredContent as { services: { model: string; kind: string; dimensions?: number }[] }).services;
      expect(services.find((s) => s.model === EMBED)).toMatchObject({ kind: "embedding" });
      const r = (await client.callTool({ name: "embed", arguments: { texts: DOCS.slice(0, 2), model: EMBED } })) as CallToolResult;
      expect(r.isError).toBeFalsy();
      const out = r.structuredContent as { embeddings: number[][]; dimensions: number; usage: { input_tokens: number } };
      expect(out.embeddings).toHaveLength(2);
      expect(out.embeddings[1]).toHaveLength(out.dimensions);
      expect(out.usage.input_tokens).toBeGreaterThan(0);
      // ask, without a model, picks a chat service, never the embedding one.
      const asked = (await client.callTool({ name: "ask", arguments: { prompt: "Hi", max_tokens: 16 } })) as CallToolResult;
      expect((asked.structuredContent as { model: string }).model).toBe(CHAT);
    } finally {
      await client.close();
      await server.close();
      await buyer.close();
    }
  });
});
