// OpenAI requests as node-llama-cpp sees them: tools as functions, messages (tool calls and their results
// included) as a chat history; a conversation that does not hold together is a 400 before anything is reserved.
import { describe, expect, it } from "@jest/globals";
import { BackendError, type ChatBody, type ChatMessage } from "../src/backend.js";
import { toChatHistory, toFunctions } from "../src/backends/llama-messages.js";

const weather = {
  type: "function" as const,
  function: { name: "weather", description: "the weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
};
const clock = { type: "function" as const, function: { name: "clock", parameters: { type: "object", properties: {} } } };
const body = (extra: Partial<ChatBody>): ChatBody => ({ model: "m", messages: [{ role: "user", content: "hi" }], ...extra }) as ChatBody;
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).status).toBe(400);
    return (err as Error).message;
  }
  throw new Error("accepted");
};

describe("tools as functions", () => {
  it("offers every tool, a named one alone, or none", () => {
    const all = toFunctions(body({ tools: [weather, clock] }))!;
    expect(Object.keys(all)).toEqual(["weather", "clock"]);
    expect(all.weather).toEqual({ description: "the weather", params: { type: "object", properties: { city: { type: "string" } } } });
    expect(all.clock).toEqual({}); // no arguments: no params grammar
    expect(
      Object.keys(toFunctions(body({ tools: [weather, clock], tool_choice: { type: "function", function: { name: "clock" } } }))!),
    ).toEqual(["clock"]);
    expect(toFunctions(body({ tools: [weather], tool_choice: "none" }))).toBeUndefined();
    expect(toFunctions(body({}))).toBeUndefined();
  });

  it("refuses a named choice that is not offered and a tool defined twice", () => {
    expect(refusal(() => toFunctions(body({ tools: [weather], tool_choice: { type: "function", function: { name: "clock" } } })))).toMatch(
      /not among the tools/,
    );
    expect(refusal(() => toFunctions(body({ tools: [weather, weather] })))).toMatch(/defined twice/);
  });
});

describe("messages as a chat history", () => {
  const call = (id: string, name: string, args: string) => ({ id, type: "function" as const, function: { name, arguments: args } });

  it("turns tool calls and their results into function calls of one model response", () => {
    const messages: ChatMessage[] = [
      { role: "system", content: "be brief" },
      { role: "user", content: "weather and time?" },
      { role: "assistant", content: "", tool_calls: [call("a", "weather", '{"city":"Oslo"}'), call("b", "clock", "{}")] },
      { role: "tool", tool_call_id: "b", content: "12:00" },
      { role: "tool", tool_call_id: "a", content: '{"sky":"clear"}' },
      { role: "assistant", content: "Clear, noon." },
      { role: "user", content: [{ type: "text", text: "thanks" }] },
    ] as ChatMessage[];
    expect(toChatHistory(messages)).toEqual([
      { type: "system", text: "be brief" },
      { type: "user", text: "weather and time?" },
      {
        type: "model",
        response: [
          { type: "functionCall", name: "weather", params: { city: "Oslo" }, result: { sky: "clear" } },
          { type: "functionCall", name: "clock", params: {}, result: "12:00" },
          "Clear, noon.",
        ],
      },
      { type: "user", text: "thanks" },
    ]);
  });

  it("refuses tool calls left unanswered, answers to no call, and ids used twice", () => {
    const asked = { role: "assistant", content: "", tool_calls: [call("a", "weather", "{}")] } as ChatMessage;
    expect(refusal(() => toChatHistory([asked, { role: "user", content: "?" }]))).toMatch(/without a tool message: a/);
    expect(refusal(() => toChatHistory([asked]))).toMatch(/without a tool message/);
    expect(refusal(() => toChatHistory([{ role: "tool", tool_call_id: "a", content: "x" } as ChatMessage]))).toMatch(
      /must answer a tool call/,
    );
    expect(refusal(() => toChatHistory([asked, { role: "tool", tool_call_id: "z", content: "x" } as ChatMessage]))).toMatch(
      /unknown tool call z/,
    );
    const twice = { role: "assistant", content: "", tool_calls: [call("a", "weather", "{}"), call("a", "clock", "{}")] } as ChatMessage;
    expect(refusal(() => toChatHistory([twice]))).toMatch(/used twice/);
    // One pending call: a tool message without an id answers it.
    expect(toChatHistory([asked, { role: "tool", content: "sunny" } as ChatMessage])[0]).toMatchObject({
      response: [{ name: "weather", result: "sunny" }],
    });
  });
});
