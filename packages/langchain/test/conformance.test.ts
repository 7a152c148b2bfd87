/**
 * The project's own conformance suite for ChatZeroG: what LangChain's standard chat-model tests
 * check, test by test (their names in the titles), run against real provider nodes on a local chain.
 * Text goes to the generated test model (node-llama-cpp, real inference); tests that need exact tool
 * calls or JSON go to the deterministic fake upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  AIMessage,
  AIMessageChunk,
  HumanMessage,
  SystemMessage,
  ToolMessage,
  getBufferString,
  type BaseMessage,
  type UsageMetadata,
} from "@langchain/core/messages";
import { ChatPromptTemplate } from "@langchain/core/prompts";
import { RunnableLambda } from "@langchain/core/runnables";
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import { StructuredTool, tool, type StructuredToolParams } from "@langchain/core/tools";
import { toJsonSchema } from "@langchain/core/utils/json_schema";
import { concat } from "@langchain/core/utils/stream";
import { InMemoryCache } from "@langchain/core/caches";
import { z } from "zod";
import { generatePrivateKey } from "viem/accounts";
import { feeFor, MemoryLaneStore, type ZeroGError } from "@0g-compute/core";
import { LOCAL_INPUT_PRICE, LOCAL_OUTPUT_PRICE, startLocalNetwork, type LocalNetwork } from "@0g-compute/provider/testing";
import { ChatZeroG, type ChatZeroGInput } from "../src/index.js";

const adderSchema = z
  .object({ a: z.number().int().describe("The first integer to add."), b: z.number().int().describe("The second integer to add.") })
  .describe("Add two integers");

class AdderTool extends StructuredTool {
  name = "AdderTool";
  description = "Add two integers";
  schema = adderSchema;
  async _call(input: z.infer<typeof adderSchema>): Promise<string> {
    return JSON.stringify({ result: input.a + input.b });
  }
}

const MATH_ADDITION_PROMPT = ChatPromptTemplate.fromMessages([
  ["system", "You are bad at math and must ALWAYS call the {toolName} function."],
  ["human", "What is the sum of 1836281973 and 19973286?"],
]);

const weatherSchema = z.object({ location: z.string().describe("The city name, e.g. San Francisco") });

/** Records the options a chat model run was started with (as LangSmith tracing sees them). */
class OptionsRecorder extends BaseCallbackHandler {
  name = "options-recorder";
  options: Record<string, unknown> | undefined;
  override handleChatModelStart(
    _llm: unknown,
    _messages: BaseMessage[][],
    _runId: string,
    _parent?: string,
    extraParams?: Record<string, unknown>,
  ): void {
    this.options = extraParams?.options as Record<string, unknown>;
  }
}

describe("ChatZeroG conformance (LangChain standard chat-model tests)", () => {
  let net: LocalNetwork;
  let base: ChatZeroGInput; // the generated scripted model
  let upstream: ChatZeroGInput; // the deterministic fake upstream
  const models: ChatZeroG[] = [];
  const make = (fields: ChatZeroGInput): ChatZeroG => {
    const m = new ChatZeroG(fields);
    models.push(m);
    return m;
  };

  beforeAll(async () => {
    net = await startLocalNetwork({ providers: [{ kind: "llama", model: "scripted" }, { kind: "upstream" }] });
    const user = await net.newUser();
    // One lane store for every model of this payer: nonces and acknowledged fees carry over.
    const store = new MemoryLaneStore();
    const common = {
      network: net.network,
      privateKey: user.privateKey,
      store,
      temperature: 0,
      maxTokens: 100,
      timeout: 60_000,
      stopSequences: [],
      maxRetries: 2,
    };
    base = { ...common, model: "test-scripted" };
    upstream = { ...common, model: "fake-upstream" };
  });
  afterAll(async () => {
    for (const m of models) await m.close();
    await net?.stop();
  });

  describe("unit", () => {
    it("testChatModelInit: constructs without touching the network", () => {
      expect(new ChatZeroG({ model: "test-scripted" })).toBeDefined();
    });

    it("testChatModelInitApiKey: constructs with a key, which never lands in the serialized model", () => {
      const key = generatePrivateKey();
      const model = new ChatZeroG({ ...base, privateKey: key, maxSpend: 10n ** 15n });
      const json = JSON.stringify(model);
      expect(json).not.toContain(key.slice(2));
      expect(JSON.parse(json)).toMatchObject({
        lc: 1,
        type: "constructor",
        id: ["langchain", "chat_models", "0g-compute", "ChatZeroG"],
        kwargs: { private_key: { lc: 1, type: "secret", id: ["ZG_PRIVATE_KEY"] }, model: "test-scripted" },
      });
      expect(ChatZeroG.lc_name()).toBe("ChatZeroG");
      expect(model.lc_serializable).toBe(true);
      expect(model.lc_secrets).toEqual({ privateKey: "ZG_PRIVATE_KEY", sessionKey: "ZG_SESSION_KEY" });
      expect(() => new ChatZeroG({ model: "m", privateKey: "0x1234" as `0x${string}` })).toThrow(
        expect.objectContaining({ code: "CHAT_CONFIG" }),
      );
      expect(() => new ChatZeroG({})).toThrow(expect.objectContaining({ code: "CHAT_CONFIG" }));
    });

    it("testChatModelInitStreaming", () => {
      const model = new ChatZeroG({ ...base, streaming: true });
      expect(model.streaming).toBe(true);
    });

    it("testChatModelWithBindTools and testChatModelWithStructuredOutput: defined", () => {
      const model = new ChatZeroG(base);
      expect(model.bindTools([new AdderTool()])).toBeDefined();
      expect(model.withStructuredOutput(adderSchema)).toBeDefined();
    });

    it("testStandardParams: getLsParams has exactly the standard keys", () => {
      const params = new ChatZeroG(base).getLsParams({} as never);
      expect(Object.keys(params).sort()).toEqual([
        "ls_max_tokens",
        "ls_model_name",
        "ls_model_type",
        "ls_provider",
        "ls_stop",
        "ls_temperature",
      ]);
      expect(params).toEqual({
        ls_provider: "0g-compute",
        ls_model_name: "test-scripted",
        ls_model_type: "chat",
        ls_temperature: 0,
        ls_max_tokens: 100,
        ls_stop: [],
      });
    });

    it("an aborted signal rejects invoke and stream before anything is paid", async () => {
      const model = make(base);
      const signal = AbortSignal.abort();
      await expect(model.invoke("Hello", { signal })).rejects.toThrow();
      await expect(
        (async () => {
          for await (const _ of await model.stream("Hello", { signal })) void _;
        })(),
      ).rejects.toThrow();
      expect(await model.receipts()).toHaveLength(0);
    });
  });

  describe("integration", () => {
    it("testInvoke: real inference from the generated model, with usage, cost and a verified receipt", async () => {
      const model = make(base);
      const result = await model.invoke("Hello");
      expect(result).toBeInstanceOf(AIMessage);
      expect(result.text).toBe("Hello from 0G Compute!");
      const receipt = (await model.receipts())[0]!;
      expect(result.usage_metadata).toEqual({
        input_tokens: receipt.receipt.inputTokens,
        output_tokens: receipt.receipt.outputTokens,
        total_tokens: receipt.receipt.inputTokens + receipt.receipt.outputTokens,
      });
      expect(receipt.fee).toBe(
        feeFor(
          { inputPrice: LOCAL_INPUT_PRICE, outputPrice: LOCAL_OUTPUT_PRICE },
          receipt.receipt.inputTokens,
          receipt.receipt.outputTokens,
        ),
      );
      expect(result.response_metadata).toMatchObject({
        model: "test-scripted",
        provider: net.providers[0]!.address,
        cost_wei: receipt.fee.toString(),
        receipt_verified: true,
        finish_reason: "stop",
      });
      expect(Number(result.response_metadata.cost_0g) * 1e18).toBeCloseTo(Number(receipt.fee), -3);
    });

    it("testStream: token by token, each an AIMessageChunk, callbacks get every token", async () => {
      const model = make(base);
      const tokens: string[] = [];
      const chunks: AIMessageChunk[] = [];
      for await (const chunk of await model.stream("Hello", { callbacks: [{ handleLLMNewToken: (t: string) => void tokens.push(t) }] })) {
        expect(chunk).toBeInstanceOf(AIMessageChunk);
        chunks.push(chunk);
      }
      expect(chunks.length).toBeGreaterThan(2);
      expect(chunks.map((c) => c.text).join("")).toBe("Hello from 0G Compute!");
      expect(tokens.join("")).toBe("Hello from 0G Compute!");
    });

    it("testBatch", async () => {
      const model = make(base);
      const results = await model.batch(["Hello", "Hey"]);
      expect(results).toHaveLength(2);
      for (const r of results) {
        expect(r).toBeInstanceOf(AIMessage);
        expect(r.text).toBe("Hello from 0G Compute!");
      }
      expect(new Set(results.map((r) => r.response_metadata.cost_wei)).size).toBeGreaterThan(0);
      expect(results.every((r) => r.response_metadata.receipt_verified === true)).toBe(true);
    });

    it("testConversation and testDoubleMessageConversation", async () => {
      const model = make(base);
      const a = await model.invoke([new HumanMessage("hello"), new AIMessage("hello"), new HumanMessage("how are you")]);
      expect(a.text).not.toBe("");
      const b = await model.invoke([
        new SystemMessage("hello"),
        new SystemMessage("hello"),
        new HumanMessage("hello"),
        new HumanMessage("hello"),
        new AIMessage("hello"),
        new AIMessage("hello"),
        new HumanMessage("how are you"),
      ]);
      expect(b).toBeInstanceOf(AIMessage);
      expect(b.text).not.toBe("");
    });

    it("testUsageMetadata: exact counts from the fake upstream, model in response_metadata", async () => {
      const model = make(upstream);
      const result = await model.invoke("Hello");
      // "Hello" is 1 word + 4 per message; the reply is 7 words.
      expect(result.usage_metadata).toEqual({ input_tokens: 5, output_tokens: 7, total_tokens: 12 });
      expect(result.response_metadata).toMatchObject({
        model: "fake-upstream",
        cost_wei: feeFor({ inputPrice: LOCAL_INPUT_PRICE, outputPrice: LOCAL_OUTPUT_PRICE }, 5, 7).toString(),
        receipt_verified: true,
      });
    });

    it("testUsageMetadataStreaming: usage on the final chunk only", async () => {
      const model = make(upstream);
      let full: AIMessageChunk | undefined;
      let last: AIMessageChunk | undefined;
      let withUsage = 0;
      for await (const chunk of await model.stream("Hello")) {
        if (chunk.usage_metadata) withUsage += 1;
        full = full ? full.concat(chunk) : chunk;
        last = chunk;
      }
      expect(withUsage).toBe(1);
      expect(last?.usage_metadata).toEqual({ input_tokens: 5, output_tokens: 7, total_tokens: 12 });
      expect(full?.usage_metadata).toMatchObject({ input_tokens: 5, output_tokens: 7, total_tokens: 12 });
      expect(full?.text).toBe("Hello from the fake upstream model .");
      expect(full?.response_metadata).toMatchObject({
        model: "fake-upstream",
        receipt_verified: true,
        finish_reason: "stop",
        cost_wei: feeFor({ inputPrice: LOCAL_INPUT_PRICE, outputPrice: LOCAL_OUTPUT_PRICE }, 5, 7).toString(),
      });
    });

    it("testStopSequence: at call time and at construction", async () => {
      const model = make(upstream);
      const r1 = await model.invoke("hi", { stop: ["you"] });
      expect(r1).toBeInstanceOf(AIMessage);
      expect(r1.content).toBeDefined();
      const r2 = await model.invoke("hi", { stop: ["upstream"] });
      expect(r2.text).toBe("Hello from the fake");
      const custom = make({ ...upstream, stop: ["model"] } as ChatZeroGInput);
      expect((await custom.invoke("hi")).text).toBe("Hello from the fake upstream");
      expect(net.providers[1]!.upstream!.bodies.at(-1)).toMatchObject({ stop: ["model"] });
    });

    it("testToolCalling: one call with its name, arguments, id and type", async () => {
      const result = await make(upstream).bindTools([new AdderTool()]).invoke("What is the value of adderTool(1, 2)? Use the tool.");
      expect(result).toBeInstanceOf(AIMessage);
      expect(result.tool_calls).toEqual([{ name: "AdderTool", args: { a: 1, b: 1 }, id: "call_1", type: "tool_call" }]);
      expect(result.response_metadata).toMatchObject({ finish_reason: "tool_calls", receipt_verified: true });
    });

    it("testBindToolsWithRunnableToolLike", async () => {
      const runnableLike = RunnableLambda.from((_: unknown) => undefined).asTool({
        name: "math_addition",
        description: "Add two integers",
        schema: adderSchema,
      });
      const result = await MATH_ADDITION_PROMPT.pipe(make(upstream).bindTools([runnableLike])).invoke({ toolName: "math_addition" });
      expect(result.tool_calls).toHaveLength(1);
      expect(result.tool_calls![0]).toMatchObject({
        name: "math_addition",
        args: { a: expect.any(Number), b: expect.any(Number) },
        type: "tool_call",
      });
      expect(result.tool_calls![0]!.id).toBeDefined();
    });

    it("testBindToolsWithOpenAIFormattedTools", async () => {
      const model = make(upstream).bindTools([
        {
          type: "function",
          function: {
            name: "math_addition",
            description: "Add two integers",
            parameters: toJsonSchema(adderSchema) as Record<string, unknown>,
          },
        },
      ]);
      const result = await MATH_ADDITION_PROMPT.pipe(model).invoke({ toolName: "math_addition" });
      expect(result.tool_calls?.[0]?.name).toBe("math_addition");
      // The OpenAI-format tool went to the provider as given.
      expect(net.providers[1]!.upstream!.bodies.at(-1)).toMatchObject({
        tools: [{ type: "function", function: { name: "math_addition" } }],
      });
    });

    const adderHistory = async (aiContent: AIMessage["content"]): Promise<BaseMessage[]> => {
      const result = await new AdderTool().invoke({ a: 1, b: 2 });
      return [
        new HumanMessage("What is 1 + 2"),
        new AIMessage({ content: aiContent, tool_calls: [{ name: "AdderTool", args: { a: 1, b: 2 }, id: "abc123", type: "tool_call" }] }),
        new ToolMessage(result, "abc123", "AdderTool"),
      ];
    };

    it("testToolMessageHistoriesStringContent", async () => {
      const result = await make(upstream)
        .bindTools([new AdderTool()])
        .invoke(await adderHistory(""));
      expect(result).toBeInstanceOf(AIMessage);
      expect(result.content).toBeDefined();
      expect(net.providers[1]!.upstream!.bodies.at(-1)!.messages).toEqual([
        { role: "user", content: "What is 1 + 2" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "abc123", type: "function", function: { name: "AdderTool", arguments: '{"a":1,"b":2}' } }],
        },
        { role: "tool", content: '{"result":3}', tool_call_id: "abc123" },
      ]);
    });

    it("testToolMessageHistoriesListContent", async () => {
      const history = await adderHistory([
        { type: "text", text: "some text" },
        { type: "tool_use", id: "abc123", name: "AdderTool", input: { a: 1, b: 2 } },
      ]);
      history[2] = new ToolMessage({ content: [{ type: "text", text: '{"result":3}' }], tool_call_id: "abc123", name: "AdderTool" });
      const result = await make(upstream).bindTools([new AdderTool()]).invoke(history);
      expect(result).toBeInstanceOf(AIMessage);
      expect(result.content).toBeDefined();
      const sent = net.providers[1]!.upstream!.bodies.at(-1)!.messages as Record<string, unknown>[];
      expect(sent[1]).toMatchObject({ role: "assistant", content: "some text", tool_calls: [{ id: "abc123" }] });
      expect(sent[2]).toEqual({ role: "tool", content: '{"result":3}', tool_call_id: "abc123" });
    });

    it("testStructuredFewShotExamples", async () => {
      const history = [...(await adderHistory("")), new AIMessage('{"result":3}'), new HumanMessage("What is 3 + 4")];
      const result = await make(upstream).bindTools([new AdderTool()]).invoke(history);
      expect(result).toBeInstanceOf(AIMessage);
    });

    it("testWithStructuredOutput: functionCalling by default, traced as such", async () => {
      const recorder = new OptionsRecorder();
      const result = await MATH_ADDITION_PROMPT.pipe(make(upstream).withStructuredOutput(adderSchema, { name: "math_addition" })).invoke(
        { toolName: "math_addition" },
        { callbacks: [recorder] },
      );
      expect(result).toEqual({ a: 1, b: 1 });
      expect(recorder.options?.ls_structured_output_format).toEqual({
        kwargs: { method: "functionCalling" },
        schema: toJsonSchema(adderSchema),
      });
      expect(net.providers[1]!.upstream!.bodies.at(-1)).toMatchObject({
        tool_choice: { type: "function", function: { name: "math_addition" } },
      });
    });

    it("testWithStructuredOutputIncludeRaw", async () => {
      const recorder = new OptionsRecorder();
      const result = await MATH_ADDITION_PROMPT.pipe(
        make(upstream).withStructuredOutput(adderSchema, { name: "math_addition", includeRaw: true }),
      ).invoke({ toolName: "math_addition" }, { callbacks: [recorder] });
      expect(result.raw).toBeInstanceOf(AIMessage);
      expect(result.parsed).toEqual({ a: 1, b: 1 });
      expect(recorder.options?.ls_structured_output_format).toMatchObject({ kwargs: { method: "functionCalling" } });
    });

    it("withStructuredOutput: jsonSchema and jsonMode methods", async () => {
      const joke = z.object({ setup: z.string(), punchline: z.string(), rating: z.number().int() });
      const viaSchema = await make(upstream).withStructuredOutput(joke, { method: "jsonSchema", name: "joke" }).invoke("Tell me a joke");
      expect(viaSchema).toEqual({ setup: "Paris", punchline: "Paris", rating: 1 });
      expect(net.providers[1]!.upstream!.bodies.at(-1)).toMatchObject({
        response_format: { type: "json_schema", json_schema: { name: "joke", schema: toJsonSchema(joke) } },
      });

      const fake = net.providers[1]!.upstream!;
      fake.json = { setup: "Why?", punchline: "Because.", rating: 3 };
      const viaJsonMode = await make(upstream)
        .withStructuredOutput(joke, { method: "jsonMode", includeRaw: true })
        .invoke("Tell me a joke as JSON with setup, punchline and rating");
      expect(viaJsonMode.parsed).toEqual({ setup: "Why?", punchline: "Because.", rating: 3 });
      expect(viaJsonMode.raw.response_metadata).toMatchObject({ receipt_verified: true });
      expect(fake.bodies.at(-1)).toMatchObject({ response_format: { type: "json_object" } });

      // Streaming the structured output parses the JSON as it arrives.
      let last: unknown;
      for await (const partial of await make(upstream).withStructuredOutput(joke, { method: "jsonSchema" }).stream("joke")) last = partial;
      expect(last).toEqual({ setup: "Paris", punchline: "Paris", rating: 1 });
    });

    it("testCacheComplexMessageTypes: a cache hit pays nothing", async () => {
      const model = make({ ...upstream, cache: new InMemoryCache() });
      const human = new HumanMessage({ content: [{ type: "text", text: "Hello there!" }] });
      const prompt = getBufferString([human]);
      const llmKey = model._getSerializedCacheKeyParametersForCall({} as never);
      await model.invoke([human]);
      const cached = await model.cache!.lookup(prompt, llmKey);
      expect(cached).toHaveLength(1);
      const cachedMessage = (cached![0] as unknown as { message: AIMessage }).message;
      const paidBefore = (await model.receipts()).length;
      const result = await model.invoke([human]);
      expect(result).toEqual(cachedMessage);
      expect(await model.cache!.lookup(prompt, llmKey)).toEqual(cached);
      expect((await model.receipts()).length).toBe(paidBefore);
    });

    it("testStreamTokensWithToolCalls: tool call and usage in the concatenated stream", async () => {
      let result: AIMessageChunk | undefined;
      for await (const chunk of await MATH_ADDITION_PROMPT.pipe(make(upstream).bindTools([new AdderTool()])).stream({
        toolName: "math_addition",
      }))
        result = result ? result.concat(chunk) : chunk;
      expect(result?.tool_calls?.[0]).toMatchObject({ name: "AdderTool", args: { a: 1, b: 1 } });
      const usage = (result as { usage_metadata?: UsageMetadata } | undefined)?.usage_metadata; // typed `never` by @langchain/core under exactOptionalPropertyTypes
      expect(usage?.input_tokens).toBeGreaterThan(0);
      expect(usage?.output_tokens).toBeGreaterThan(0);
    });

    const weatherTool = tool((_: z.infer<typeof weatherSchema>) => "The weather in San Francisco is 70 degrees and sunny.", {
      name: "get_current_weather",
      schema: weatherSchema,
      description: "Get the current weather for a location.",
    });

    it("testModelCanUseToolUseAIMessage", async () => {
      const model = make(upstream).bindTools([weatherTool]);
      const messages: BaseMessage[] = [
        new HumanMessage("What's the weather like in San Francisco right now? Use the 'get_current_weather' tool to find the answer."),
      ];
      const result = await model.invoke(messages);
      expect(result.tool_calls?.[0]?.name).toBe("get_current_weather");
      messages.push(
        result,
        new ToolMessage({
          tool_call_id: result.tool_calls![0]!.id!,
          name: "get_current_weather",
          content: await weatherTool.invoke(result.tool_calls![0]!.args as z.infer<typeof weatherSchema>),
        }),
      );
      const final = await model.invoke(messages);
      expect(final.content).not.toBe("");
    });

    it("testModelCanUseToolUseAIMessageWithStreaming", async () => {
      const model = make(upstream).bindTools([weatherTool]);
      const messages: BaseMessage[] = [
        new HumanMessage("What's the weather like in San Francisco right now? Use the 'get_current_weather' tool to find the answer."),
      ];
      let result: AIMessageChunk | undefined;
      for await (const chunk of await model.stream(messages)) result = result ? concat(result, chunk) : chunk;
      expect(result?.tool_calls?.[0]?.name).toBe("get_current_weather");
      messages.push(result!, new ToolMessage({ tool_call_id: result!.tool_calls![0]!.id!, name: "get_current_weather", content: "sunny" }));
      let final: AIMessageChunk | undefined;
      for await (const chunk of await model.stream(messages)) final = final ? concat(final, chunk) : chunk;
      expect(final?.content).not.toBe("");
    });

    it("testInvokeMoreComplexTools", async () => {
      const complexSchema = z.object({
        decision: z.enum(["UseAPI", "UseFallback"]),
        explanation: z.string(),
        apiDetails: z.object({
          serviceName: z.string(),
          endpointName: z.string(),
          parameters: z.record(z.string(), z.unknown()),
          extractionPath: z.string(),
        }),
      });
      const prompt = ChatPromptTemplate.fromMessages([
        ["system", "You're a helpful assistant. Always use the {toolName} tool."],
        ["human", "I want to use the UseAPI because it's faster. Service name: {serviceName}"],
      ]);
      const result = await prompt
        .pipe(make(upstream).withStructuredOutput(complexSchema, { name: "service_tool" }))
        .invoke({ toolName: "service_tool", serviceName: "MyService" });
      expect(result.decision).toBe("UseAPI");
      expect(result.explanation).toBeDefined();
      expect(typeof result.apiDetails).toBe("object");
    });

    it("testParallelToolCalling: invoke, stream (each call its own index and id), and a history of parallel calls", async () => {
      const timeTool = tool((_: z.infer<typeof weatherSchema>) => "no-op", {
        name: "get_current_time",
        description: "Get the current time in a given location",
        schema: weatherSchema,
      });
      const weather = tool((_: z.infer<typeof weatherSchema>) => "no-op", {
        name: "get_current_weather",
        description: "Get the current weather in a given location",
        schema: weatherSchema,
      });
      const model = make(upstream).bindTools([weather, timeTool]);
      const prompt = "What's the weather and current time in San Francisco? Ensure you ALWAYS call both tools.";
      const invoked = await model.invoke(prompt);
      expect(invoked.tool_calls?.map((c) => c.name)).toEqual(["get_current_weather", "get_current_time"]);

      const chunks: AIMessageChunk[] = [];
      for await (const chunk of await model.stream(prompt)) chunks.push(chunk);
      const streamed = chunks.reduce((a, b) => concat(a, b));
      expect(streamed.tool_calls?.map((c) => [c.name, c.id, c.args])).toEqual([
        ["get_current_weather", "call_1", { location: "Paris" }],
        ["get_current_time", "call_2", { location: "Paris" }],
      ]);
      const pieces = chunks.flatMap((c) => c.tool_call_chunks ?? []);
      expect(pieces.filter((p) => p.id !== undefined).map((p) => [p.index, p.id])).toEqual([
        [0, "call_1"],
        [1, "call_2"],
      ]);

      const history = [
        new HumanMessage(prompt),
        invoked,
        new ToolMessage({ name: "get_current_weather", tool_call_id: invoked.tool_calls![0]!.id!, content: "24 degrees with hail." }),
        new ToolMessage({ name: "get_current_time", tool_call_id: invoked.tool_calls![1]!.id!, content: "12:02 PM." }),
      ];
      const answer = await model.invoke(history);
      expect(answer.tool_calls ?? []).toHaveLength(0);
      expect(answer.text).not.toBe("");

      // parallel_tool_calls: false gets one call.
      const single = await make(upstream).bindTools([weather, timeTool], { parallel_tool_calls: false }).invoke(prompt);
      expect(single.tool_calls).toHaveLength(1);
    });

    it("testModelCanAcceptStructuredToolParamsSchema and tool_choice naming a tool", async () => {
      const params: StructuredToolParams = {
        name: "get_current_weather",
        description: "Get the current weather in a given location",
        schema: weatherSchema,
      };
      const other: StructuredToolParams = { name: "get_current_time", description: "Time", schema: weatherSchema };
      const result = await make(upstream).bindTools([params]).invoke("What's the weather like in San Francisco today?");
      expect(result.tool_calls?.length).toBeGreaterThanOrEqual(1);
      expect(result.tool_calls?.[0]?.name).toBe("get_current_weather");
      expect(result.tool_calls?.[0]?.args).toHaveProperty("location");
      const chosen = await make(upstream).bindTools([params, other], { tool_choice: "get_current_time" }).invoke("time?");
      expect(chosen.tool_calls?.map((c) => c.name)).toEqual(["get_current_time"]);
      const none = await make(upstream).bindTools([params, other], { tool_choice: "none" }).invoke("time?");
      expect(none.tool_calls).toHaveLength(0);
      expect(none.text).toBe("Hello from the fake upstream model .");
    });

    it("testStreamTools", async () => {
      const params: StructuredToolParams = {
        name: "get_current_weather",
        description: "Get the current weather in a given location",
        schema: weatherSchema,
      };
      let full: AIMessageChunk | undefined;
      for await (const chunk of await make(upstream).bindTools([params]).stream("What's the weather like in San Francisco today?"))
        full = full ? concat(full, chunk) : chunk;
      expect(full?.tool_calls?.length).toBeGreaterThanOrEqual(1);
      expect(full?.tool_calls?.[0]?.name).toBe("get_current_weather");
      expect(full?.tool_calls?.[0]?.args).toHaveProperty("location");
    });

    it("a spending cap refuses a request before anything is sent (SPENDING_LIMIT)", async () => {
      const model = make({ ...upstream, maxSpend: 1000n });
      const served = net.providers[1]!.upstream!.requests;
      await expect(model.invoke("Hello")).rejects.toMatchObject({ code: "SPENDING_LIMIT" } satisfies Partial<ZeroGError>);
      expect(net.providers[1]!.upstream!.requests).toBe(served);
      expect(model.spending()[0]).toMatchObject({ cap: 1000n, spent: 0n });
    });
  });
});
