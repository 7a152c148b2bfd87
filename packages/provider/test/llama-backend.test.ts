/**
 * The embedded node-llama-cpp backend, driven with the generated test models (CPU, prebuilt binary, one
 * thread): exact token counts (input = the rendered prompt, as countInputTokens predicts; output = the
 * sampled reply tokens), streaming, the output-token limit, aborts, tool calls handed back to the client,
 * JSON grammars, parallel sequences and prompts that do not fit the context.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlamaChatSession, resolveChatWrapper, type LlamaModel } from "node-llama-cpp";
import { BackendError, type ChatBody, type ChatCompletion, type ChatCompletionChunk, type Usage } from "../src/backend.js";
import { LlamaBackend } from "../src/backends/llama.js";
import {
  DEFAULT_FUNCTION_RESULT_REPLY,
  DEFAULT_SCRIPTED_REPLY,
  writeTestModel,
  type TestModelOptions,
} from "../src/test-model/generate.js";

let dir: string;
const backends: LlamaBackend[] = [];
let scripted: LlamaBackend;
let functionCall: LlamaBackend;
let random: LlamaBackend;
let small: LlamaBackend;
/** Longer than the stream lookahead, so that an unread stream holds its sequence. */
const SMALL_REPLY = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen";

async function load(
  name: string,
  model: TestModelOptions,
  options: { parallel?: number; contextSize?: number } = {},
): Promise<{ backend: LlamaBackend; loadMs: number }> {
  const info = await writeTestModel(join(dir, `${name}.gguf`), model);
  const started = performance.now();
  const backend = await LlamaBackend.load({ modelPath: info.path, modelId: `test/${name}`, threads: 1, ...options });
  backends.push(backend);
  return { backend, loadMs: performance.now() - started };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "0g-llama-backend-"));
  const loads = [
    await load("scripted", { kind: "scripted" }, { parallel: 2 }),
    await load("function-call", { kind: "function-call" }),
    await load("random", { kind: "random", seed: 7 }, { parallel: 1 }),
    await load("small", { kind: "scripted", contextLength: 256, reply: SMALL_REPLY }, { parallel: 1 }),
  ];
  [scripted, functionCall, random, small] = loads.map((l) => l.backend) as [LlamaBackend, LlamaBackend, LlamaBackend, LlamaBackend];
});

afterAll(async () => {
  for (const b of backends) await b.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const limits = (maxOutputTokens = 64, signal: AbortSignal = new AbortController().signal) => ({ maxOutputTokens, signal });

interface Choice {
  message: {
    role: string;
    content: string | null;
    tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
  };
  finish_reason: string;
}
const choice = (c: ChatCompletion): Choice => c.choices[0] as Choice;

interface Delta {
  role?: string;
  content?: string;
  tool_calls?: Array<{ index: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }>;
}
interface StreamChoice {
  delta: Delta;
  finish_reason: string | null;
}

/** Runs a stream to the end: its chunks and the usage it returns. */
async function collect(
  gen: AsyncGenerator<ChatCompletionChunk, Usage>,
  onChunk?: (chunk: ChatCompletionChunk, n: number) => void,
): Promise<{ chunks: ChatCompletionChunk[]; usage: Usage }> {
  const chunks: ChatCompletionChunk[] = [];
  for (let step = await gen.next(); ; step = await gen.next()) {
    if (step.done) return { chunks, usage: step.value };
    chunks.push(step.value);
    onChunk?.(step.value, chunks.length);
  }
}
const deltas = (chunks: ChatCompletionChunk[]): StreamChoice[] => chunks.map((c) => c.choices[0] as StreamChoice);
const content = (chunks: ChatCompletionChunk[]): string =>
  deltas(chunks)
    .map((d) => d.delta.content ?? "")
    .join("");

/** Reassembles streamed tool-call deltas (OpenAI client style). */
function toolCalls(chunks: ChatCompletionChunk[]): Array<{ id: string; type: string; function: { name: string; arguments: string } }> {
  const calls: Array<{ id: string; type: string; function: { name: string; arguments: string } }> = [];
  for (const d of deltas(chunks)) {
    for (const t of d.delta.tool_calls ?? []) {
      calls[t.index] ??= { id: "", type: "", function: { name: "", arguments: "" } };
      const call = calls[t.index]!;
      if (t.id) call.id = t.id;
      if (t.type) call.type = t.type;
      if (t.function?.name) call.function.name += t.function.name;
      if (t.function?.arguments) call.function.arguments += t.function.arguments;
    }
  }
  return calls;
}

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } } },
  },
};

describe("LlamaBackend (scripted model)", () => {
  const bodies: ChatBody[] = [
    { model: "test/scripted", messages: [{ role: "user", content: "Hi" }], temperature: 0 },
    {
      model: "test/scripted",
      messages: [
        { role: "system", content: "You are a terse assistant. Answer in one line." },
        {
          role: "user",
          content: [
            { type: "text", text: "Tell me about " },
            { type: "text", text: "lighthouses 🚀, ünïcödé." },
          ],
        },
        { role: "assistant", content: "Which ones?" },
        { role: "user", content: "All of them." },
      ],
    },
  ];

  it("reports its model, and counts the rendered prompt exactly", async () => {
    expect(scripted.kind).toBe("llama");
    expect(scripted.models()).toEqual([
      { id: "test/scripted", contextLength: 2048, capabilities: ["chat", "stream", "tools", "json_schema"] },
    ]);
    expect(small.models()[0]?.contextLength).toBe(256);
    const a = await scripted.countInputTokens(bodies[0] as ChatBody);
    const b = await scripted.countInputTokens(bodies[1] as ChatBody);
    // "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n": special tokens and role headers count.
    expect(a).toBeGreaterThanOrEqual(6);
    expect(b).toBeGreaterThan(a as number);
  });

  it.each([0, 1])("complete returns the reply with exact usage (body %i)", async (i) => {
    const body = bodies[i] as ChatBody;
    const { completion, usage } = await scripted.complete(body, limits());
    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe("test/scripted");
    expect(typeof completion.id).toBe("string");
    expect(choice(completion).message).toEqual({ role: "assistant", content: DEFAULT_SCRIPTED_REPLY });
    expect(choice(completion).finish_reason).toBe("stop");
    expect(usage.inputTokens).toBe(await scripted.countInputTokens(body));
    const replyTokens = await replyTokenCount(DEFAULT_SCRIPTED_REPLY);
    expect(usage.outputTokens).toBe(replyTokens);
    // KV state is cleared between requests: the same body counts and answers the same again.
    const again = await scripted.complete(body, limits());
    expect(again.usage).toEqual(usage);
  });

  it("stream yields the reply token by token and returns the same usage as complete", async () => {
    const body = bodies[1] as ChatBody;
    const { usage: expected } = await scripted.complete(body, limits());
    const { chunks, usage } = await collect(scripted.stream(body, limits()));
    expect(content(chunks)).toBe(DEFAULT_SCRIPTED_REPLY);
    expect(usage).toEqual(expected);
    const d = deltas(chunks);
    expect(chunks.every((c) => Object.keys(c).join() === "choices")).toBe(true); // the provider adds id, model...
    expect(d[0]?.delta.role).toBe("assistant");
    expect(d.filter((x) => (x.delta.content ?? "") !== "").length).toBe(expected.outputTokens);
    expect(d.at(-1)).toMatchObject({ delta: {}, finish_reason: "stop" });
    expect(d.slice(0, -1).every((x) => x.finish_reason === null)).toBe(true);
  });

  it("honours maxOutputTokens exactly (finish_reason length)", async () => {
    const body = bodies[0] as ChatBody;
    const { completion, usage } = await scripted.complete(body, limits(3));
    expect(usage.outputTokens).toBe(3);
    expect(choice(completion).finish_reason).toBe("length");
    expect(DEFAULT_SCRIPTED_REPLY.startsWith(choice(completion).message.content ?? "?")).toBe(true);
    const streamed = await collect(scripted.stream(body, limits(3)));
    expect(streamed.usage.outputTokens).toBe(3);
    expect(deltas(streamed.chunks).at(-1)?.finish_reason).toBe("length");
  });

  it("stops on a stop string", async () => {
    const { completion, usage } = await scripted.complete({ ...(bodies[0] as ChatBody), stop: [" 0G"] }, limits());
    expect(choice(completion).message.content).toBe("Hello from");
    expect(choice(completion).finish_reason).toBe("stop");
    expect(usage.outputTokens).toBe(3); // "Hello", " from", " 0G": sampled, so billed
  });

  it("stops promptly when aborted mid-stream and returns the usage produced, without throwing", async () => {
    const body = bodies[0] as ChatBody;
    const full = await replyTokenCount(DEFAULT_SCRIPTED_REPLY);
    const controller = new AbortController();
    const { chunks, usage } = await collect(scripted.stream(body, limits(64, controller.signal)), (_c, n) => {
      if (n === 1) controller.abort();
    });
    expect(chunks.length).toBeGreaterThanOrEqual(1);
    expect(usage.inputTokens).toBe(await scripted.countInputTokens(body));
    expect(usage.outputTokens).toBeGreaterThanOrEqual(1);
    expect(usage.outputTokens).toBeLessThan(full);
    // An abort before anything is generated bills no output.
    const early = new AbortController();
    early.abort();
    const none = await collect(scripted.stream(body, limits(64, early.signal)));
    expect(none.chunks).toEqual([]);
    expect(none.usage.outputTokens).toBe(0);
    // The sequence went back to the pool clean.
    expect(choice((await scripted.complete(body, limits())).completion).message.content).toBe(DEFAULT_SCRIPTED_REPLY);
  });

  it("serves concurrent requests on parallel sequences without cross-talk", async () => {
    const [a, b, c] = await Promise.all([
      scripted.complete(bodies[0] as ChatBody, limits()),
      scripted.complete(bodies[1] as ChatBody, limits()),
      scripted.complete(bodies[0] as ChatBody, limits(2)), // queued until a sequence is free
    ]);
    expect(choice(a.completion).message.content).toBe(DEFAULT_SCRIPTED_REPLY);
    expect(choice(b.completion).message.content).toBe(DEFAULT_SCRIPTED_REPLY);
    expect(a.usage.inputTokens).toBe(await scripted.countInputTokens(bodies[0] as ChatBody));
    expect(b.usage.inputTokens).toBe(await scripted.countInputTokens(bodies[1] as ChatBody));
    expect(a.usage.outputTokens).toBe(b.usage.outputTokens);
    expect(c.usage.outputTokens).toBe(2);
    expect(choice(c.completion).finish_reason).toBe("length");
  });

  it("queues requests while every sequence is busy; a queued request can be aborted", async () => {
    // `small` has one sequence. A stream whose consumer does not read on holds it (generation runs a few tokens ahead, then waits).
    const body: ChatBody = { messages: [{ role: "user", content: "Hi" }], temperature: 0 };
    const held = small.stream(body, limits());
    const first = await held.next();
    expect(first.done).toBe(false);
    const controller = new AbortController();
    let settled = false;
    const queued = small.complete(body, limits(64, controller.signal)).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    controller.abort();
    const aborted = await queued;
    expect(aborted.usage).toEqual({ inputTokens: await small.countInputTokens(body), outputTokens: 0 });
    // A queued request that is not aborted runs once the sequence is free.
    const waiting = small.complete(body, limits());
    const rest = await collect(held);
    expect(content([first.value as ChatCompletionChunk, ...rest.chunks])).toBe(SMALL_REPLY);
    expect(choice((await waiting).completion).message.content).toBe(SMALL_REPLY);
  });

  it("refuses a prompt longer than the context with a 400, never truncating it", async () => {
    const body: ChatBody = { messages: [{ role: "user", content: "lighthouse keepers ".repeat(100) }], temperature: 0 };
    const count = await small.countInputTokens(body);
    expect(count).toBeGreaterThan(256);
    for (const attempt of [() => small.complete(body, limits()), () => collect(small.stream(body, limits()))]) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BackendError);
      expect((err as BackendError).status).toBe(400);
    }
    // A prompt that fits still works on the same backend.
    const ok = await small.complete({ messages: [{ role: "user", content: "Hi" }], temperature: 0 }, limits());
    expect(choice(ok.completion).message.content).toBe(SMALL_REPLY);
  });

  it("counts a large prompt off the event loop, with the model's own count", async () => {
    // About 1 MiB of prompt: hundreds of milliseconds of tokenizing, which must not hold other connections.
    const content = "lighthouse keepers ".repeat(55_000);
    const body: ChatBody = { messages: [{ role: "user", content }], temperature: 0 };
    let turns = 0;
    let counting = true;
    const spin = () => {
      if (!counting) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const count = await small.countInputTokens(body);
    counting = false;
    // Tokenized on the loop, the count would be done before the first turn; in the worker the loop turns on.
    expect(turns).toBeGreaterThan(1);
    const model = (small as unknown as { model: LlamaModel }).model;
    const { contextText } = resolveChatWrapper(model).generateContextState({
      chatHistory: [
        { type: "user", text: content },
        { type: "model", response: [] },
      ],
    });
    expect(count).toBe(contextText.tokenize(model.tokenizer).length);
  });

  it("refuses malformed tool conversations with a 400 (and cannot count them)", async () => {
    const body: ChatBody = {
      messages: [
        { role: "user", content: "Hi" },
        { role: "tool", tool_call_id: "call_x", content: "{}" },
      ],
    };
    expect(await scripted.countInputTokens(body)).toBeUndefined();
    const err = await scripted.complete(body, limits()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as BackendError).status).toBe(400);
  });

  /**
   * The reply's token count, measured independently of the backend: a plain LlamaChatSession on the same model
   * counts the tokens it generates (onToken). Tokenizing the reply text would not do: the script's pieces
   * ("Hello", " from", ...) are single tokens the model samples, but SentencePiece cannot merge text into them,
   * so `tokenize(reply)` gives one token per character.
   */
  let referenceCount: number | undefined;
  async function replyTokenCount(text: string): Promise<number> {
    if (referenceCount !== undefined) return referenceCount;
    const model = (scripted as unknown as { model: LlamaModel }).model;
    const context = await model.createContext({ contextSize: 1024, sequences: 1, threads: 1 });
    try {
      const session = new LlamaChatSession({ contextSequence: context.getSequence(), chatWrapper: resolveChatWrapper(model) });
      let tokens = 0;
      const reply = await session.prompt("Hi", { temperature: 0, maxTokens: 64, onToken: (t) => (tokens += t.length) });
      expect(reply).toBe(text);
      expect(tokens).toBeLessThan(model.tokenize(text).length);
      referenceCount = tokens;
      return tokens;
    } finally {
      await context.dispose();
    }
  }
});

describe("LlamaBackend (function-call model)", () => {
  const body: ChatBody = {
    model: "test/function-call",
    messages: [{ role: "user", content: "What is the weather like in Paris today?" }],
    tools: [weatherTool],
    temperature: 0,
  };

  it("returns the tool call to the client instead of executing it", async () => {
    const { completion, usage } = await functionCall.complete(body, limits());
    const c = choice(completion);
    expect(c.finish_reason).toBe("tool_calls");
    expect(c.message.content).toBeNull();
    expect(c.message.tool_calls).toEqual([
      {
        id: expect.stringMatching(/^call_[0-9a-f]{24}$/),
        type: "function",
        function: { name: "get_weather", arguments: '{"city":"Paris"}' },
      },
    ]);
    // Ids are random, so they never repeat across requests, nodes or restarts.
    const again = choice((await functionCall.complete(body, limits())).completion);
    expect(again.message.tool_calls?.[0]?.id).not.toBe(c.message.tool_calls?.[0]?.id);
    expect(usage.inputTokens).toBe(await functionCall.countInputTokens(body));
    // The tools are documented in the prompt, so they count as input.
    expect(usage.inputTokens).toBeGreaterThan((await functionCall.countInputTokens({ ...body, tools: undefined })) as number);
    expect(usage.outputTokens).toBeGreaterThan(0);
  });

  it("streams tool-call deltas that reassemble to the same call, with the same usage", async () => {
    const { completion, usage: expected } = await functionCall.complete(body, limits());
    const { chunks, usage } = await collect(functionCall.stream(body, limits()));
    expect(usage).toEqual(expected);
    const calls = toolCalls(chunks);
    const want = choice(completion).message.tool_calls ?? [];
    expect(calls).toHaveLength(1);
    expect(calls[0]?.function).toEqual(want[0]?.function);
    expect(calls[0]?.type).toBe("function");
    expect(calls[0]?.id).toMatch(/^call_[0-9a-f]{24}$/);
    const d = deltas(chunks);
    expect(d[0]?.delta.role).toBe("assistant");
    expect(d.find((x) => x.delta.tool_calls)?.delta.tool_calls?.[0]).toMatchObject({
      index: 0,
      type: "function",
      function: { name: "get_weather" },
    });
    expect(d.at(-1)?.finish_reason).toBe("tool_calls");
    expect(content(chunks)).toBe("");
  });

  it("continues after the client sends the tool result", async () => {
    const first = choice((await functionCall.complete(body, limits())).completion);
    const call = first.message.tool_calls?.[0];
    if (!call) throw new Error("no tool call");
    const followUp: ChatBody = {
      ...body,
      messages: [
        ...body.messages,
        {
          role: "assistant",
          content: null,
          tool_calls: [call as { id: string; type: "function"; function: { name: string; arguments: string } }],
        },
        { role: "tool", tool_call_id: call.id, content: JSON.stringify({ city: "Paris", temperatureC: 21, sky: "clear" }) },
      ],
    };
    const { completion, usage } = await functionCall.complete(followUp, limits());
    expect(choice(completion).finish_reason).toBe("stop");
    expect(choice(completion).message.content).toBe(DEFAULT_FUNCTION_RESULT_REPLY);
    expect(choice(completion).message.tool_calls).toBeUndefined();
    expect(usage.inputTokens).toBe(await functionCall.countInputTokens(followUp));
    const streamed = await collect(functionCall.stream(followUp, limits()));
    expect(content(streamed.chunks)).toBe(DEFAULT_FUNCTION_RESULT_REPLY);
    expect(streamed.usage).toEqual(usage);
  });

  it("returns a tool call cut by the token limit as far as it was generated (finish_reason length)", async () => {
    const full = await functionCall.complete(body, limits());
    const limit = full.usage.outputTokens - 2;
    const { completion, usage } = await functionCall.complete(body, limits(limit));
    expect(usage.outputTokens).toBe(limit);
    const c = choice(completion);
    expect(c.finish_reason).toBe("length");
    const partial = c.message.tool_calls?.[0];
    expect(partial?.function.name).toBe("get_weather");
    expect('{"city":"Paris"}'.startsWith(partial?.function.arguments ?? "?")).toBe(true);
    expect(partial?.function.arguments.length).toBeLessThan('{"city":"Paris"}'.length);
    const streamed = await collect(functionCall.stream(body, limits(limit)));
    expect(streamed.usage).toEqual(usage);
    expect(toolCalls(streamed.chunks)[0]?.function).toEqual(partial?.function);
    expect(deltas(streamed.chunks).at(-1)?.finish_reason).toBe("length");
  });

  it("tool_choice none hides the tools: the model writes the call as plain text", async () => {
    const { completion } = await functionCall.complete({ ...body, tool_choice: "none" }, limits());
    expect(choice(completion).message.content).toBe('||call: get_weather({"city":"Paris"})');
    expect(choice(completion).finish_reason).toBe("stop");
  });
});

describe("LlamaBackend (random model)", () => {
  it("follows a json_schema response_format", async () => {
    const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] };
    const body: ChatBody = {
      messages: [{ role: "user", content: "Is the sea blue?" }],
      temperature: 0,
      response_format: { type: "json_schema", json_schema: { name: "a", schema } },
    };
    const { completion, usage } = await random.complete(body, limits(300));
    expect(choice(completion).finish_reason).toBe("stop");
    const parsed = JSON.parse(choice(completion).message.content ?? "") as { answer: unknown };
    expect(Object.keys(parsed)).toEqual(["answer"]);
    expect(typeof parsed.answer).toBe("string");
    expect(usage.inputTokens).toBe(await random.countInputTokens(body));
    expect(usage.outputTokens).toBeGreaterThan(0);

    // Sampled, with an enum and a boolean: still valid, and the same through the stream.
    const strict = {
      type: "object",
      properties: { answer: { enum: ["yes", "no"] }, sure: { type: "boolean" } },
      required: ["answer", "sure"],
    };
    const sampled: ChatBody = {
      ...body,
      temperature: 0.8,
      seed: 3,
      response_format: { type: "json_schema", json_schema: { name: "b", schema: strict } },
    };
    const result = await random.complete(sampled, limits(300));
    const value = JSON.parse(choice(result.completion).message.content ?? "") as { answer: string; sure: unknown };
    expect(["yes", "no"]).toContain(value.answer);
    expect(typeof value.sure).toBe("boolean");
    const streamed = await collect(random.stream(sampled, limits(300)));
    expect(content(streamed.chunks)).toBe(choice(result.completion).message.content);
    expect(streamed.usage).toEqual(result.usage);
  });

  it("converts schemas to the grammar generator's subset (anyOf, definitions/$ref, type lists)", async () => {
    const schema = {
      type: "object",
      properties: {
        v: { anyOf: [{ type: "integer" }, { type: "boolean" }] },
        w: { $ref: "#/definitions/word" },
        n: { type: ["boolean", "null"], title: "ignored annotation" },
      },
      required: ["v", "w", "n"],
      additionalProperties: false,
      definitions: { word: { type: "string", maxLength: 8 } },
    };
    for (const seed of [1, 2, 3]) {
      const body: ChatBody = {
        messages: [{ role: "user", content: "x" }],
        temperature: 1,
        seed,
        response_format: { type: "json_schema", json_schema: { name: "s", schema } },
      };
      const { completion } = await random.complete(body, limits(300));
      expect(choice(completion).finish_reason).toBe("stop");
      const value = JSON.parse(choice(completion).message.content ?? "") as { v: unknown; w: unknown; n: unknown };
      expect(["number", "boolean"]).toContain(typeof value.v); // node-llama-cpp alone turns anyOf into `null`
      expect(typeof value.w).toBe("string");
      expect((value.w as string).length).toBeLessThanOrEqual(8);
      expect(value.n === null || typeof value.n === "boolean").toBe(true);
    }
  });

  it("refuses schemas it cannot follow, and response_format with tools, with a 400", async () => {
    const refused = async (body: ChatBody): Promise<number | undefined> => {
      expect(await random.countInputTokens(body)).toBeUndefined();
      const err = await random.complete(body, limits()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BackendError);
      return (err as BackendError).status;
    };
    const rf = (schema: Record<string, unknown>, strict?: boolean): ChatBody => ({
      messages: [{ role: "user", content: "x" }],
      response_format: { type: "json_schema", json_schema: { name: "x", schema, ...(strict === undefined ? {} : { strict }) } },
    });
    expect(await refused(rf({ type: "no-such-type" }))).toBe(400);
    expect(await refused(rf({ type: "object", properties: { a: { $ref: "#/$defs/missing" } } }))).toBe(400);
    expect(await refused(rf({ type: "string", pattern: "^a+$" }, true))).toBe(400);
    expect(
      await refused({ messages: [{ role: "user", content: "x" }], tools: [weatherTool], response_format: { type: "json_object" } }),
    ).toBe(400);
    // Without strict, a constraint the grammar cannot enforce is dropped (best effort, as OpenAI's non-strict mode).
    const loose = await random.complete(
      { ...rf({ type: "object", properties: { a: { type: "integer", minimum: 1 } }, required: ["a"] }), temperature: 0 },
      limits(300),
    );
    expect(typeof (JSON.parse(choice(loose.completion).message.content ?? "") as { a: unknown }).a).toBe("number");
  });

  it("json_object keeps the output a JSON prefix under a small limit", async () => {
    const body: ChatBody = {
      messages: [{ role: "user", content: "JSON please" }],
      temperature: 0.8,
      seed: 5,
      response_format: { type: "json_object" },
    };
    const { completion, usage } = await random.complete(body, limits(12));
    expect(usage.outputTokens).toBeLessThanOrEqual(12);
    const text = choice(completion).message.content ?? "";
    expect(text.trimStart().startsWith("{")).toBe(true);
    if (choice(completion).finish_reason === "stop") expect(() => JSON.parse(text)).not.toThrow();
  });

  it("the random model runs to the token limit (its speed is measured by bench:provider)", async () => {
    const body: ChatBody = { messages: [{ role: "user", content: "Tell me anything." }], temperature: 0 };
    const { usage } = await random.complete(body, limits(512));
    expect(usage.outputTokens).toBe(512);
  });
});
