// Paid embeddings on real inference (the embedded llama.cpp with a generated embedding model): the OpenAI
// client through core's paid fetch, exact input tokens billed at the input price, receipts that bind the
// exact bytes, and every refusal before anything is reserved.
import { afterAll, beforeAll, describe, expect, it, jest } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import {
  decodeHeader,
  EMBEDDINGS_PATH,
  embeddingInputTokenBound,
  feeFor,
  RECEIPT_HEADER,
  receiptFromWire,
  responseHash,
  type ZeroGClient,
} from "@0g-compute/core";
import { LlamaEmbeddingBackend } from "../src/backends/llama-embeddings.js";
import { LlamaTokenizer } from "../src/backends/llama-tokenizer.js";
import { UpstreamBackend } from "../src/backends/upstream.js";
import { startFakeUpstream, type FakeUpstream } from "../src/testing/fake-upstream.js";
import { EMBEDDING_TEST_MODEL_DIMENSIONS, writeTestModel } from "../src/test-model/generate.js";
import { INPUT_PRICE, OUTPUT_PRICE, post, startProviderFixture, type ProviderFixture } from "./helpers.js";

const BASE = "http://0g.invalid/v1";
const MODEL = "test-embedding";

const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe("paid embeddings on the embedded llama.cpp", () => {
  let dir: string;
  let f: ProviderFixture;
  let alice: ZeroGClient;
  let backend: LlamaEmbeddingBackend;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "0g-embeddings-"));
    const modelPath = join(dir, "embed.gguf");
    await writeTestModel(modelPath, { kind: "embedding", contextLength: 256 });
    backend = await LlamaEmbeddingBackend.load({ modelPath, modelId: MODEL });
    f = await startProviderFixture(
      () => backend,
      MODEL,
      {},
      { name: "embeddings", metadata: { contextLength: 256, kind: "embedding", dimensions: EMBEDDING_TEST_MODEL_DIMENSIONS } },
    );
    alice = await f.user(1, 10n ** 16n);
    await f.user(3, 10n ** 16n); // bob: tickets by hand
  }, 120_000);
  afterAll(async () => {
    await f?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("embeds through the openai client: unit vectors that rank by shared words, exact tokens billed, a verified receipt", async () => {
    const paid = f.paid(alice);
    const openai = new OpenAI({ baseURL: BASE, apiKey: "x", fetch: paid, maxRetries: 0 });
    const texts = ["the cat sat on the mat", "a cat on a mat", "stock markets fell sharply today"];
    const r = await openai.embeddings.create({ model: MODEL, input: texts, encoding_format: "float" });
    expect(r.data.map((d) => d.index)).toEqual([0, 1, 2]);
    for (const d of r.data) {
      expect(d.embedding).toHaveLength(EMBEDDING_TEST_MODEL_DIMENSIONS);
      expect(Math.hypot(...d.embedding)).toBeCloseTo(1, 5);
    }
    const [cat, cat2, stocks] = r.data.map((d) => d.embedding) as [number[], number[], number[]];
    expect(cosine(cat, cat2)).toBeGreaterThan(cosine(cat, stocks) + 0.3);

    const exact = await backend.countEmbeddingTokens(texts);
    const tokens = exact.reduce((a, b) => a + b, 0);
    expect(r.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    const receipt = paid.receipts[0]!;
    expect(receipt.receipt).toMatchObject({ inputTokens: tokens, outputTokens: 0 });
    expect(receipt.fee).toBe(feeFor({ inputPrice: INPUT_PRICE, outputPrice: OUTPUT_PRICE }, tokens, 0));
    expect(f.node.store.lane(alice.address, alice.address).billed).toBe(receipt.fee);
    await paid.close();
    // The node's own catalogue says what it sells.
    const models = (await (await fetch(`${f.node.url}/v1/models`)).json()) as { data: { kind: string; dimensions?: number }[] };
    expect(models.data[0]).toMatchObject({ kind: "embedding", dimensions: EMBEDDING_TEST_MODEL_DIMENSIONS });
  });

  it("answers base64 (little-endian float32) with the same vectors, and one string input", async () => {
    const paid = f.paid(alice);
    const openai = new OpenAI({ baseURL: BASE, apiKey: "x", fetch: paid, maxRetries: 0 });
    const plain = await openai.embeddings.create({ model: MODEL, input: "a cat on a mat", encoding_format: "float" });
    const res = await paid(`${BASE}/embeddings`, {
      method: "POST",
      body: JSON.stringify({ model: MODEL, input: "a cat on a mat", encoding_format: "base64" }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { embedding: string }[] };
    const bytes = Buffer.from(body.data[0]!.embedding, "base64");
    const floats = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
    expect(floats).toHaveLength(EMBEDDING_TEST_MODEL_DIMENSIONS);
    for (const [i, x] of floats.entries()) expect(x).toBeCloseTo(plain.data[0]!.embedding[i]!, 6);
    await paid.close();
  });

  it("counts a large request's inputs in the tokenizer's worker, a small one's on the event loop, to the same numbers", async () => {
    const worker = jest.spyOn(LlamaTokenizer.prototype, "tokenize");
    try {
      const small = ["a cat on a mat", "stocks fell"];
      const smallCounts = await backend.countEmbeddingTokens(small);
      expect(worker).not.toHaveBeenCalled();
      // Three inputs of 2,000 characters: 6,000 in all, over what the event loop may spend on one request.
      const large = [0, 1, 2].map((i) => `${small[i % 2]} `.repeat(400).slice(0, 2000));
      const largeCounts = await backend.countEmbeddingTokens(large);
      expect(worker).toHaveBeenCalledTimes(3);
      // The same numbers either way: each large input counted alone (on the event loop) as in the worker.
      worker.mockClear();
      for (const [i, text] of large.entries()) expect(await backend.countEmbeddingTokens([text])).toEqual([largeCounts[i]]);
      expect(worker).not.toHaveBeenCalled();
      expect(smallCounts.every((n) => n > 2)).toBe(true);
    } finally {
      worker.mockRestore();
    }
  });

  it("signs a receipt over the exact bytes sent, within the client's byte bound", async () => {
    const body = JSON.stringify({ model: MODEL, input: ["hello there"] });
    const res = await post(
      f.node.url,
      body,
      await f.rawTicket(f.chain.wallet(3).account as never, body, { path: EMBEDDINGS_PATH, nonce: 100n }),
      EMBEDDINGS_PATH,
    );
    expect(res.status).toBe(200);
    const text = await res.text();
    const receipt = receiptFromWire(decodeHeader("receipt", res.headers.get(RECEIPT_HEADER)!));
    expect(receipt.responseHash).toBe(responseHash(text));
    expect(receipt.outputTokens).toBe(0);
    expect(receipt.inputTokens).toBeLessThanOrEqual(embeddingInputTokenBound(Buffer.byteLength(body)));
  });

  it("refuses before reserving anything: an input longer than the context, a ticket too small, dimensions, a chat request", async () => {
    const signer = f.chain.wallet(3).account as never;
    const bob = f.chain.wallet(3).account.address;
    const before = f.node.store.lane(bob, bob).billed;
    const refuse = async (body: string, over: Parameters<ProviderFixture["rawTicket"]>[2] = {}, path = EMBEDDINGS_PATH) => {
      const res = await post(f.node.url, body, await f.rawTicket(signer, body, { path, ...over }), path);
      return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code };
    };
    const long = JSON.stringify({ model: MODEL, input: ["x".repeat(4000)] });
    expect(await refuse(long, { nonce: 200n })).toEqual({ status: 400, code: "prompt_too_long" });
    const small = JSON.stringify({ model: MODEL, input: "a cat on a mat" });
    expect(await refuse(small, { nonce: 201n, terms: { maxCost: INPUT_PRICE * 2n } })).toEqual({ status: 402, code: "max_cost_too_low" });
    const dims = JSON.stringify({ model: MODEL, input: "a cat", dimensions: 64 });
    expect(await refuse(dims, { nonce: 202n })).toEqual({ status: 400, code: "invalid_request" });
    const tokenIds = JSON.stringify({ model: MODEL, input: [[1, 2, 3]] });
    expect(await refuse(tokenIds, { nonce: 203n })).toEqual({ status: 400, code: "invalid_request" });
    const chat = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
    expect(await refuse(chat, { nonce: 204n }, "/v1/chat/completions")).toEqual({ status: 404, code: "model_not_found" });
    // A ticket hashed for the chat path does not pay for embeddings.
    const wrongPath = await post(f.node.url, small, await f.rawTicket(signer, small, { nonce: 205n }), EMBEDDINGS_PATH);
    expect(((await wrongPath.json()) as { error: { code: string } }).error.code).toBe("request_hash_mismatch");
    expect(f.node.store.lane(bob, bob).billed).toBe(before);
  });
});

describe("paid embeddings passed through an upstream", () => {
  let upstream: FakeUpstream;
  let f: ProviderFixture;
  beforeAll(async () => {
    upstream = await startFakeUpstream();
    f = await startProviderFixture(
      () =>
        new UpstreamBackend({
          baseUrl: upstream.url,
          models: [
            {
              id: "up-embed",
              upstreamModel: "their-embed",
              contextLength: 512,
              capabilities: ["embeddings", "dimensions"],
              embeddingLength: 8,
            },
          ],
        }),
      "up-embed",
      {},
      { name: "embeddings", metadata: { kind: "embedding", dimensions: 8 } },
    );
    await f.user(3, 10n ** 16n);
  }, 60_000);
  afterAll(async () => {
    await f?.stop();
    await upstream?.close();
  });

  const send = async (body: string, nonce: bigint) =>
    post(f.node.url, body, await f.rawTicket(f.chain.wallet(3).account as never, body, { path: EMBEDDINGS_PATH, nonce }), EMBEDDINGS_PATH);

  it("passes dimensions and its own model name through, and bills the upstream's count", async () => {
    const res = await send(JSON.stringify({ model: "up-embed", input: ["a cat", "a dog on a mat"], dimensions: 4 }), 1n);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { embedding: number[] }[]; usage: { prompt_tokens: number } };
    expect(body.data.map((d) => d.embedding.length)).toEqual([4, 4]);
    expect(upstream.bodies.at(-1)).toMatchObject({ model: "their-embed", dimensions: 4, encoding_format: "float" });
    expect(body.usage.prompt_tokens).toBe(4 + 7); // the fake's words + 2 per input
  });

  it("bills nothing when the upstream answers without usage", async () => {
    const bob = f.chain.wallet(3).account.address;
    const before = f.node.store.lane(bob, bob).billed;
    upstream.mode = "no-usage";
    try {
      const res = await send(JSON.stringify({ model: "up-embed", input: "a cat" }), 2n);
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("backend_error");
    } finally {
      upstream.mode = "ok";
    }
    expect(f.node.store.lane(bob, bob).billed).toBe(before);
  });
});
