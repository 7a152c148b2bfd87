/**
 * ChatZeroG inside agents and graphs (createAgent from `langchain`, a LangGraph StateGraph), the
 * devnet example, failover between providers, session keys and aborts, on a local chain.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createAgent } from "langchain";
import { type AIMessage, AIMessageChunk, type ToolMessage, type BaseMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { ToolNode } from "@langchain/langgraph/prebuilt";
import { z } from "zod";
import { parseEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { MemoryLaneStore } from "@0g-compute/core";
import { startLocalNetwork, type LocalNetwork, type LocalUser } from "@0g-compute/provider/testing";
import { ChatZeroG, type ChatZeroGInput } from "../src/index.js";
import { main } from "../examples/agent.js";

describe("ChatZeroG in agents and graphs", () => {
  let net: LocalNetwork;
  let user: LocalUser;
  let store: MemoryLaneStore;
  const models: ChatZeroG[] = [];
  const make = (fields: Partial<ChatZeroGInput>): ChatZeroG => {
    const m = new ChatZeroG({ network: net.network, privateKey: user.privateKey, store, maxTokens: 64, ...fields });
    models.push(m);
    return m;
  };
  const weatherCalls: string[] = [];
  const getWeather = tool(
    async ({ city }: { city: string }) => {
      weatherCalls.push(city);
      return `Sunny, 21 degrees in ${city}.`;
    },
    { name: "get_weather", description: "Current weather in a city.", schema: z.object({ city: z.string() }) },
  );

  beforeAll(async () => {
    // 0: real inference, a model that calls get_weather; 1 and 2: two providers of the same fake-upstream model.
    net = await startLocalNetwork({ providers: [{ kind: "llama", model: "function-call" }, { kind: "upstream" }, { kind: "upstream" }] });
    user = await net.newUser();
    store = new MemoryLaneStore();
  });
  afterAll(async () => {
    for (const m of models) await m.close();
    await net?.stop();
  });

  it("createAgent: the generated function-call model calls the tool, reads its result and answers", async () => {
    weatherCalls.length = 0;
    const agent = createAgent({ model: make({ model: "test-function-call" }), tools: [getWeather] });
    const { messages } = await agent.invoke({ messages: [{ role: "user", content: "What is the weather like in Paris today?" }] });
    expect(weatherCalls).toEqual(["Paris"]);
    const kinds = messages.map((m: BaseMessage) => m.getType());
    expect(kinds).toEqual(["human", "ai", "tool", "ai"]);
    expect((messages[1] as AIMessage).tool_calls).toMatchObject([{ name: "get_weather", args: { city: "Paris" } }]);
    expect((messages[2] as ToolMessage).content).toBe("Sunny, 21 degrees in Paris.");
    expect(messages[3]!.text).toBe("Done.");
    for (const m of [messages[1]!, messages[3]!])
      expect(m.response_metadata).toMatchObject({
        model: "test-function-call",
        provider: net.providers[0]!.address,
        receipt_verified: true,
      });
  });

  it("createAgent: parallel tool calls over the fake upstream, each answered by its tool", async () => {
    const clock = tool(async ({ city }: { city: string }) => `12:00 in ${city}`, {
      name: "get_time",
      description: "Time in a city.",
      schema: z.object({ city: z.string() }),
    });
    weatherCalls.length = 0;
    const agent = createAgent({ model: make({ model: "fake-upstream" }), tools: [getWeather, clock] });
    const { messages } = await agent.invoke({ messages: [{ role: "user", content: "Weather and time in Paris?" }] });
    expect(weatherCalls).toEqual(["Paris"]);
    const toolMessages = messages.filter((m: BaseMessage) => m.getType() === "tool") as ToolMessage[];
    expect(toolMessages.map((m) => [m.name, m.tool_call_id, m.content])).toEqual([
      ["get_weather", "call_1", "Sunny, 21 degrees in Paris."],
      ["get_time", "call_2", "12:00 in Paris"],
    ]);
    expect(messages.at(-1)!.text).toBe("Hello from the fake upstream model .");
  });

  it("LangGraph: a StateGraph with a model node and a ToolNode, streaming the model's tokens", async () => {
    const model = make({ model: "test-function-call" }).bindTools([getWeather]);
    const graph = new StateGraph(MessagesAnnotation)
      .addNode("model", async (state) => ({ messages: [await model.invoke(state.messages)] }))
      .addNode("tools", new ToolNode([getWeather]))
      .addEdge(START, "model")
      .addConditionalEdges("model", (state) => ((state.messages.at(-1) as AIMessage).tool_calls?.length ? "tools" : END))
      .addEdge("tools", "model")
      .compile();
    const tokens: string[] = [];
    let final: BaseMessage[] = [];
    for await (const [mode, payload] of await graph.stream(
      { messages: [{ role: "user", content: "What is the weather like in Paris today?" }] },
      { streamMode: ["messages", "values"] },
    )) {
      if (mode === "messages") {
        const [chunk] = payload as [BaseMessage, unknown];
        if (AIMessageChunk.isInstance(chunk) && chunk.text) tokens.push(chunk.text);
      } else {
        final = (payload as { messages: BaseMessage[] }).messages;
      }
    }
    expect(final.map((m) => m.getType())).toEqual(["human", "ai", "tool", "ai"]);
    expect(final.at(-1)!.text).toBe("Done.");
    expect(tokens.join("")).toBe("Done.");
  });

  it("the devnet example runs an agent with a tool and reports what it cost", async () => {
    const lines: string[] = [];
    const result = await main({
      network: net.network,
      privateKey: user.privateKey,
      model: "test-function-call",
      log: (l) => lines.push(l),
    });
    expect(result.toolCalls).toEqual([{ name: "get_weather", args: { city: "Paris" } }]);
    expect(result.answer).toBe("Done.");
    expect(result.modelCalls).toBe(2);
    expect(result.costWei).toBeGreaterThan(0n);
    expect(lines.at(-1)).toContain("every receipt verified: true");
  });

  it("the example funds an empty channel first when asked", async () => {
    const fresh = await net.newUser({ deposit: 0n, fund: 0n });
    const result = await main({
      network: net.network,
      privateKey: fresh.privateKey,
      model: "fake-upstream",
      fund: "0.01",
      log: () => undefined,
    });
    expect(result.modelCalls).toBe(2);
    const channels = await Promise.all([1, 2].map((i) => fresh.client.channel(net.providers[i]!.address)));
    expect(channels.filter((c) => c.balance > 0n)).toHaveLength(1);
  });

  it("fails over to the next provider of the model when one is down", async () => {
    const model = make({ model: "fake-upstream" });
    const first = await model.invoke("Hello");
    const answered = first.response_metadata.provider as string;
    const down = net.providers.find((p) => p.address === answered)!;
    const other = net.providers.find((p) => p.model === "fake-upstream" && p.address !== answered)!;
    await down.kill();
    try {
      const second = await model.invoke("Hello");
      expect(second.response_metadata).toMatchObject({ provider: other.address, receipt_verified: true });
      expect(second.text).toBe("Hello from the fake upstream model .");
    } finally {
      await down.restart();
    }
  });

  it("pays with a session key the user authorized for the channel", async () => {
    const sessionKey = generatePrivateKey();
    const provider = net.providers[1]!.address;
    const validUntil = BigInt(Math.floor(Date.now() / 1000) + 3600);
    await user.client.authorizeSessionKey(provider, privateKeyToAccount(sessionKey).address, parseEther("0.01"), validUntil);
    const model = new ChatZeroG({
      network: net.network,
      sessionKey,
      user: user.account.address,
      model: "fake-upstream",
      provider,
      maxTokens: 16,
    });
    models.push(model);
    const reply = await model.invoke("Hello");
    expect(reply.response_metadata).toMatchObject({ provider, receipt_verified: true });
    expect(await model.receipts()).toHaveLength(1);
    // The session key's lane on the user's channel carries the fee.
    await model.close();
    expect(JSON.stringify(model)).not.toContain(sessionKey.slice(2));
  });

  it("an abort mid-stream stops the stream with an error", async () => {
    const fake = net.providers[1]!.upstream!;
    const fake2 = net.providers[2]!.upstream!;
    fake.mode = fake2.mode = "slow";
    try {
      const controller = new AbortController();
      const model = make({ model: "fake-upstream" });
      const seen: string[] = [];
      await expect(
        (async () => {
          for await (const chunk of await model.stream("Hello", { signal: controller.signal })) {
            seen.push(chunk.text);
            if (chunk.text !== "") controller.abort();
          }
        })(),
      ).rejects.toThrow();
      expect(seen.join("")).toBe("Hello");
    } finally {
      fake.mode = fake2.mode = "ok";
    }
  });
});
