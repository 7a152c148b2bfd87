/**
 * The GGUF test-model generator: files are deterministic, small and quick to write, and node-llama-cpp
 * (CPU, prebuilt binary, one thread) loads them: the scripted model replies with its script whatever the
 * prompt, the function-call model makes node-llama-cpp call get_weather({ city: "Paris" }), the random
 * model generates tokens, the tokenizer round-trips any UTF-8 text and the context length is read back.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ChatMLChatWrapper,
  defineChatSessionFunction,
  getLlama,
  LlamaChatSession,
  LlamaLogLevel,
  readGgufFileInfo,
  resolveChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaModel,
} from "node-llama-cpp";
import {
  DEFAULT_FUNCTION_RESULT_REPLY,
  DEFAULT_SCRIPTED_REPLY,
  writeTestModel,
  type TestModelInfo,
  type TestModelOptions,
} from "../src/test-model/generate.js";

let dir: string;
let llama: Llama;
const disposables: Array<LlamaModel | LlamaContext> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "0g-test-model-"));
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
});

afterAll(async () => {
  for (const d of disposables.reverse()) await d.dispose();
  await llama?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let fileCounter = 0;
const write = (options: TestModelOptions): Promise<TestModelInfo> => writeTestModel(join(dir, `m${fileCounter++}.gguf`), options);

/** Writes a model, loads it and opens a one-sequence, one-thread context on it. */
async function open(
  options: TestModelOptions,
  contextSize = 2048,
): Promise<{ info: TestModelInfo; model: LlamaModel; context: LlamaContext }> {
  const info = await write(options);
  const model = await llama.loadModel({ modelPath: info.path });
  disposables.push(model);
  const context = await model.createContext({ contextSize, threads: 1, sequences: 1 });
  disposables.push(context);
  return { info, model, context };
}

const LONG_PROMPT =
  "Please write a detailed essay about the history of lighthouses, their keepers, the lenses they used, " +
  "and how radio navigation changed everything. Include dates, names and at least three anecdotes. ".repeat(4) +
  "Ünïcödé too: 日本語, emoji 🚀🌊, tabs\tand\nnewlines.";

describe("test-model files", () => {
  it("are byte-identical for equal options, differ across seeds, and report their sha256", async () => {
    const a = await write({ kind: "scripted" });
    const b = await write({ kind: "scripted" });
    expect(a.sha256).toMatch(/^0x[0-9a-f]{64}$/);
    expect(b.sha256).toBe(a.sha256);
    expect(
      "0x" +
        createHash("sha256")
          .update(await readFile(a.path))
          .digest("hex"),
    ).toBe(a.sha256);
    expect((await write({ kind: "scripted", reply: "Other." })).sha256).not.toBe(a.sha256);
    expect((await write({ kind: "scripted", seed: 2 })).sha256).not.toBe(a.sha256);

    const r1 = await write({ kind: "random", seed: 1 });
    const r1again = await write({ kind: "random", seed: 1 });
    const r2 = await write({ kind: "random", seed: 2 });
    expect(r1again.sha256).toBe(r1.sha256);
    expect(r2.sha256).not.toBe(r1.sha256);
    expect(r2.bytes).toBe(r1.bytes);

    const f1 = await write({ kind: "function-call" });
    expect((await write({ kind: "function-call" })).sha256).toBe(f1.sha256);
  });

  it("are small and quick to write", async () => {
    for (const kind of ["scripted", "function-call", "random"] as const) {
      const info = await write({ kind });
      expect(info.bytes).toBeLessThan(5 * 1024 * 1024);
    }
  });

  it("carry the context length and the ChatML template in their metadata", async () => {
    const info = await write({ kind: "scripted", contextLength: 512 });
    const gguf = await readGgufFileInfo(info.path);
    expect(gguf.version).toBe(3);
    const meta = gguf.metadata as unknown as {
      general: { architecture: string };
      llama: { context_length: number };
      tokenizer: { chat_template: string; ggml: { model: string } };
    };
    expect(meta.general.architecture).toBe("llama");
    expect(meta.llama.context_length).toBe(512);
    expect(meta.tokenizer.ggml.model).toBe("llama");
    expect(meta.tokenizer.chat_template).toContain("<|im_start|>");
  });

  it("rejects bad options", async () => {
    await expect(write({ kind: "scripted", reply: "" })).rejects.toThrow(/empty/);
    await expect(write({ kind: "scripted", contextLength: 0 })).rejects.toThrow(/contextLength/);
    await expect(write({ kind: "random", seed: -1 })).rejects.toThrow(/seed/);
  });
});

describe("test models in node-llama-cpp", () => {
  it("report the context length from metadata and resolve the ChatML chat wrapper", async () => {
    const { info, model } = await open({ kind: "scripted", contextLength: 1024 }, 256);
    expect(info.contextLength).toBe(1024);
    expect(model.trainContextSize).toBe(1024);
    expect(resolveChatWrapper(model)).toBeInstanceOf(ChatMLChatWrapper);
  });

  it("scripted: greedy decoding gives exactly the reply, then ends the turn, whatever the prompt", async () => {
    const { info, context } = await open({ kind: "scripted" });
    expect(info.reply).toBe(DEFAULT_SCRIPTED_REPLY);
    const session = new LlamaChatSession({ contextSequence: context.getSequence() });
    for (const prompt of ["Hi", LONG_PROMPT, "ça va? 🚀", ""]) {
      session.resetChatHistory();
      const { responseText, stopReason } = await session.promptWithMeta(prompt, { temperature: 0, maxTokens: 64 });
      expect(responseText).toBe(DEFAULT_SCRIPTED_REPLY);
      // It stopped on its own (<|im_end|>), not on the token limit.
      expect(["eogToken", "stopGenerationTrigger"]).toContain(stopReason);
    }
    // A second turn in the same conversation gives the same reply.
    session.resetChatHistory();
    expect(await session.prompt("one", { temperature: 0 })).toBe(DEFAULT_SCRIPTED_REPLY);
    expect(await session.prompt("two", { temperature: 0 })).toBe(DEFAULT_SCRIPTED_REPLY);
    session.dispose({ disposeSequence: true });
  });

  it("scripted: any reply text, with repeated words, newlines and non-ASCII", async () => {
    const reply = 'ha ha ha!\nLine two: ünïcödé 日本 🚀 {"a":"a"} ha';
    const { context } = await open({ kind: "scripted", reply });
    const session = new LlamaChatSession({ contextSequence: context.getSequence() });
    expect(await session.prompt("Laugh", { temperature: 0, maxTokens: 64 })).toBe(reply);
    session.dispose({ disposeSequence: true });
  });

  it('function-call: node-llama-cpp calls get_weather with { city: "Paris" }, then the model replies', async () => {
    const { info, context } = await open({ kind: "function-call" });
    expect(info.functionCall?.text).toBe('||call: get_weather({"city":"Paris"})');
    const sequence = context.getSequence();
    const calls: unknown[] = [];
    const functions = {
      get_weather: defineChatSessionFunction({
        description: "Current weather in a city",
        params: { type: "object", properties: { city: { type: "string" } } },
        handler(params) {
          calls.push(params);
          return { city: params.city, temperatureC: 21, sky: "clear" };
        },
      }),
    };
    const session = new LlamaChatSession({ contextSequence: sequence });
    const text = await session.prompt("What is the weather like in Paris today?", { functions, temperature: 0, maxTokens: 64 });
    expect(calls).toEqual([{ city: "Paris" }]);
    expect(text).toBe(DEFAULT_FUNCTION_RESULT_REPLY);
    const last = session.getChatHistory().at(-1);
    expect(last?.type).toBe("model");
    const call = last?.type === "model" ? last.response.find((r) => typeof r !== "string" && r.type === "functionCall") : undefined;
    expect(call).toMatchObject({ type: "functionCall", name: "get_weather", params: { city: "Paris" } });

    // Without functions, the same model writes the call as plain text.
    session.resetChatHistory();
    expect(await session.prompt("Weather?", { temperature: 0, maxTokens: 64 })).toBe(info.functionCall?.text);
    session.dispose({ disposeSequence: true });
  });

  it("random: loads and generates the requested number of tokens", async () => {
    const { info, model, context } = await open({ kind: "random", seed: 42 });
    expect(info.vocabSize).toBeGreaterThanOrEqual(2000);
    const session = new LlamaChatSession({ contextSequence: context.getSequence() });
    let generated = 0;
    const text = await session.prompt("Tell me anything.", { maxTokens: 48, temperature: 0, onToken: (t) => (generated += t.length) });
    expect(generated).toBe(48);
    expect(text.length).toBeGreaterThan(0);
    expect(model.tokenize(text).length).toBeGreaterThan(0);
    // Sampling with a seed works too.
    session.resetChatHistory();
    generated = 0;
    await session.prompt("Again.", { maxTokens: 16, temperature: 0.8, seed: 7, onToken: (t) => (generated += t.length) });
    expect(generated).toBe(16);
    session.dispose({ disposeSequence: true });
  });

  it("tokenizers round-trip arbitrary UTF-8 through byte fallback", async () => {
    const texts = [
      "héllo wörld 🚀",
      "  leading and trailing  ",
      "日本語のテキスト\n\ttabs",
      "<|im_start|> is plain text here",
      "\u0000\u007f\u00ff",
    ];
    for (const kind of ["scripted", "random"] as const) {
      const info = await write({ kind });
      const model = await llama.loadModel({ modelPath: info.path });
      disposables.push(model);
      for (const text of texts) {
        const tokens = model.tokenize(text);
        expect(tokens.length).toBeGreaterThan(0);
        expect(model.detokenize(tokens)).toBe(text);
      }
      // Special tokens are recognised when asked for.
      expect(model.tokenize("<|im_start|>assistant\n", true)).toHaveLength(2);
    }
  });
});
