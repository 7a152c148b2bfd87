/**
 * Concurrent requests on the embedded llama backend get exactly the answers they would get alone: greedy
 * replies served four at a time are identical, token for token, to the same requests served one at a
 * time (real inference on the generated bench-size model). See LlamaBackend for the defect this pins.
 */
// @ts-nocheck

import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChatBody } from "../src/backend.js";
import { LlamaBackend } from "../src/backends/llama.js";
import { writeTestModel } from "../src/test-model/generate.js";

const PROMPTS = 40;
const MAX_TOKENS = 12;
let dir: string;
let serial: LlamaBackend;
let concurrent: LlamaBackend;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "0g-llama-concurrency-"));
  const info = await writeTestModel(join(dir, "bench.gguf"), { kind: "random", seed: 7, size: "bench" });
  serial = await LlamaBackend.load({ modelPath: info.path, modelId: "bench", threads: 1, parallel: 1 });
  concurrent = await LlamaBackend.load({ modelPath: info.path, modelId: "bench", threads: 1, parallel: 8 });
});
afterAll(async () => {
  await serial?.close();
  await concurrent?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Prompts of different lengths, so that requests are at different positions when they share the engine.
const bodies: ChatBody[] = Array.from({ length: PROMPTS }, (_, i) => ({
  model: "bench",
  messages: [{ role: "user", content: `prompt number ${i} ${"word ".repeat((i % 7) * 5)}` }],
  max_tokens: MAX_TOKENS,
  temperature: 0,
}));
const limits = () => ({ maxOutputTokens: MAX_TOKENS, signal: new AbortController().signal });

describe("llama backend under concurrency", () => {
  it("never puts two requests on one llama context (the race needs several sequences sharing one)", () => {
    // White-box: the free slots of an idle backend, one per concurrent request.
    const slots = (concurrent as unknown as { free: { sequence: { context: unknown } }[] }).free;
    expect(slots).toHaveLength(8);
    expect(new Set(slots.map((s) => s.sequence.context)).size).toBe(8);
  });

  it("serves eight requests at a time with the same greedy answers as one at a time", async () => {
    const alone = [];
    for (const b of bodies) alone.push(await serial.complete(b, limits()));
    const together = await Promise.all(bodies.map((b) => concurrent.complete(b, limits())));
    const text = (r: (typeof alone)[number]) => r.completion.choices[0]!.message.content;
    const differing = bodies.map((_, i) => i).filter((i) => text(alone[i]!) !== text(together[i]!));
    expect(differing).toEqual([]);
    expect(together.map((r) => r.usage)).toEqual(alone.map((r) => r.usage));
  });
});
