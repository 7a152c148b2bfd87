// The provider serving a generated GGUF model through node-llama-cpp, paid and verified end to end.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import type { ZeroGClient } from "@0g-compute/core";
import { LlamaBackend } from "../src/backends/llama.js";
import { DEFAULT_SCRIPTED_REPLY, writeTestModel } from "../src/test-model/generate.js";
import { post, startProviderFixture, type ProviderFixture } from "./helpers.js";

const MODEL = "0g-test-scripted";

describe("provider node over the embedded llama.cpp backend", () => {
  let f: ProviderFixture;
  let dir: string;
  let alice: ZeroGClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "0g-llama-"));
    const modelPath = join(dir, "scripted.gguf");
    await writeTestModel(modelPath, { kind: "scripted", contextLength: 256 });
    const backend = await LlamaBackend.load({ modelPath, modelId: MODEL, threads: 1, parallel: 2 });
    f = await startProviderFixture(() => backend, MODEL);
    alice = await f.user(1, 10n ** 16n);
  });
  afterAll(async () => {
    await f?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("answers a paid request with the model's reply, billed from exact token counts, plain and streamed", async () => {
    const paid = f.paid(alice);
    const openai = new OpenAI({ baseURL: "http://0g.invalid/v1", apiKey: "x", fetch: paid, maxRetries: 0 });
    const r = await openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hello" }], max_tokens: 32 });
    expect(r.choices[0]?.message.content).toBe(DEFAULT_SCRIPTED_REPLY);
    const receipt = paid.receipts[0]!.receipt;
    expect(r.usage).toMatchObject({ prompt_tokens: receipt.inputTokens, completion_tokens: receipt.outputTokens });
    expect(receipt.outputTokens).toBeGreaterThan(0);
    const stream = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "hello" }],
      max_tokens: 32,
      stream: true,
    });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
    expect(text).toBe(DEFAULT_SCRIPTED_REPLY);
    // Same prompt, same exact counts.
    expect(paid.receipts[1]!.receipt).toMatchObject({ inputTokens: receipt.inputTokens, outputTokens: receipt.outputTokens });
    await paid.close();
  });

  it("refuses a prompt longer than the context with 400 prompt_too_long, before reserving anything", async () => {
    const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x".repeat(400) }], max_tokens: 4 });
    const billed = f.node.store.lane(alice.address, alice.address).billed;
    const res = await post(
      f.node.url,
      body,
      await f.rawTicket(alice.account, body, { nonce: 10_000n, cumulative: f.node.store.lane(alice.address, alice.address).acked }),
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("prompt_too_long");
    expect(f.node.store.lane(alice.address, alice.address).billed).toBe(billed);
  });
});
