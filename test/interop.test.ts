// Stock clients against a network like the one `npm start -- --keep` leaves running: the official `openai`
// package (6.x and 5.x) and LangChain's ChatOpenAI through the local gateway, and several ChatZeroG
// instances on one key, all after the chain's clock has moved past the wall clock and new blocks were mined
// (the kept devnet moves it to pass the withdrawal lock).
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import OpenAI5 from "openai5";
import { ChatOpenAI } from "@langchain/openai";
import { tool } from "@langchain/core/tools";
import { z } from "zod";
import { FileLaneStore, startGateway, unixSeconds, type Gateway, type PaidFetch } from "@0g-compute/core";
import { ChatZeroG } from "@0g-compute/langchain";
import { startLocalNetwork, type LocalNetwork, type LocalUser } from "@0g-compute/provider/testing";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const CHAT = "test-scripted";
const TOOLS = "test-function-call";
const UPSTREAM = "fake-upstream";
const REPLY = "Hello from 0G Compute!";

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Current weather in a city.",
    parameters: { type: "object", properties: { city: { type: "string", description: "The city, e.g. Paris" } }, required: ["city"] },
  },
};
const timeTool = {
  type: "function" as const,
  function: {
    name: "get_time",
    description: "Local time in a city.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};
const ask = (content: string) => [{ role: "user" as const, content }];

let net: LocalNetwork;
let user: LocalUser;
let home: string;
let store: FileLaneStore;
let paid: PaidFetch;
let gateway: Gateway;
let token: string;
let openai: OpenAI;

/** Every lane the user opened has been acknowledged up to what it was billed. */
async function allAcknowledged(u: LocalUser): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const lanes = net.providers.map((p) => p.node.store.lane(u.account.address, u.account.address));
    if (lanes.every((l) => l.acked === l.billed)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `unacknowledged fees remain: ${net.providers
      .map((p) => {
        const l = p.node.store.lane(u.account.address, u.account.address);
        return `${l.billed - l.acked}`;
      })
      .join(", ")}`,
  );
}

beforeAll(async () => {
  net = await startLocalNetwork({
    providers: [{ kind: "llama", model: "scripted" }, { kind: "llama", model: "function-call" }, { kind: "upstream" }],
    node: { autoSettle: true },
  });
  // As the kept devnet does after its story: the chain's clock jumps past the lock, and every later block
  // (this user's deposit, the providers' own settlements) is stamped ahead of the wall clock.
  await net.chain.increaseTime(600n);
  user = await net.newUser({ deposit: 10n ** 18n, fund: 10n ** 17n });
  expect(await net.chain.now()).toBeGreaterThan(unixSeconds() + 500n);
  home = await mkdtemp(join(tmpdir(), "0g-interop-"));
  await writeFile(
    join(home, "devnet.json"),
    JSON.stringify({
      rpcUrl: net.chain.rpcUrl,
      chainId: net.chain.chain.id,
      escrow: net.network.escrow,
      registry: net.network.registry,
      fromBlock: net.network.fromBlock.toString(),
    }),
  );
  store = await FileLaneStore.open(join(home, "lanes"));
  paid = user.paidFetch({ store });
  token = randomBytes(24).toString("hex");
  gateway = await startGateway({ paidFetch: paid, token });
  openai = new OpenAI({ baseURL: gateway.url, apiKey: token, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  await paid?.close();
  await store?.close();
  await net?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("the openai package through the gateway", () => {
  it("chat, and a stream that ends with usage", async () => {
    const plain = await openai.chat.completions.create({ model: CHAT, messages: ask("Hi"), max_tokens: 32 });
    expect(plain.choices[0]!.message.content).toBe(REPLY);
    expect(plain.usage!.prompt_tokens).toBeGreaterThan(0);
    const stream = await openai.chat.completions.create({
      model: CHAT,
      messages: ask("Hi"),
      max_tokens: 32,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(REPLY);
    expect(usage).toEqual(plain.usage);
  });

  it("tools with a small max_tokens: auto, required and a named tool_choice; the call's id is unique", async () => {
    const ids = new Set<string>();
    for (const tool_choice of ["auto", "required", { type: "function", function: { name: "get_weather" } }] as const) {
      const r = await openai.chat.completions.create({
        model: TOOLS,
        messages: ask("What is the weather like in Paris today?"),
        tools: [weatherTool],
        tool_choice,
        max_tokens: 24,
      });
      expect(r.choices[0]!.finish_reason).toBe("tool_calls");
      const call = r.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(call.function).toEqual({ name: "get_weather", arguments: '{"city":"Paris"}' });
      expect(call.id).toMatch(/^call_[0-9a-f]{24}$/);
      ids.add(call.id);
      // The tool definitions count as input: the maximum cost covered them, and the receipt was accepted.
      expect(r.usage!.prompt_tokens).toBeGreaterThan(100);
    }
    expect(ids.size).toBe(3);
  });

  it("a tool result goes back and the model answers; streamed tool calls reassemble", async () => {
    const first = await openai.chat.completions.create({
      model: TOOLS,
      messages: ask("What is the weather like in Paris today?"),
      tools: [weatherTool],
      max_tokens: 32,
    });
    const call = first.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    const second = await openai.chat.completions.create({
      model: TOOLS,
      messages: [
        ...ask("What is the weather like in Paris today?"),
        first.choices[0]!.message,
        { role: "tool", tool_call_id: call.id, content: "Sunny, 21 °C." },
      ],
      tools: [weatherTool],
      max_tokens: 32,
    });
    expect(second.choices[0]!.message.content).toBe("Done.");

    const stream = await openai.chat.completions.create({
      model: TOOLS,
      messages: ask("What is the weather like in Paris today?"),
      tools: [weatherTool],
      max_tokens: 32,
      stream: true,
    });
    let name = "";
    let args = "";
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta?.tool_calls?.[0];
      name += delta?.function?.name ?? "";
      args += delta?.function?.arguments ?? "";
    }
    expect([name, args]).toEqual(["get_weather", '{"city":"Paris"}']);
  });

  it("parallel tool calls and response_format json_schema (upstream provider)", async () => {
    const r = await openai.chat.completions.create({
      model: UPSTREAM,
      messages: ask("Weather and time in Paris?"),
      tools: [weatherTool, timeTool],
      parallel_tool_calls: true,
      max_tokens: 32,
    });
    expect(r.choices[0]!.message.tool_calls!.map((c) => (c as OpenAI.ChatCompletionMessageFunctionToolCall).function.name)).toEqual([
      "get_weather",
      "get_time",
    ]);
    const schema = {
      type: "object",
      properties: { city: { type: "string" }, sunny: { type: "boolean" } },
      required: ["city", "sunny"],
      additionalProperties: false,
    };
    const structured = await openai.chat.completions.create({
      model: UPSTREAM,
      messages: ask("Describe Paris."),
      response_format: { type: "json_schema", json_schema: { name: "weather", schema, strict: true } },
      max_tokens: 32,
    });
    expect(JSON.parse(structured.choices[0]!.message.content!)).toEqual({ city: "Paris", sunny: true });
  });

  it("response_format json_schema on the embedded llama backend: the answer follows the schema", async () => {
    const schema = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false };
    const r = await openai.chat.completions.create({
      model: CHAT,
      messages: ask("Is it sunny?"),
      response_format: { type: "json_schema", json_schema: { name: "answer", schema, strict: true } },
      max_tokens: 48,
    });
    const parsed = JSON.parse(r.choices[0]!.message.content!) as { ok: unknown };
    expect(Object.keys(parsed)).toEqual(["ok"]);
    expect(typeof parsed.ok).toBe("boolean");
  });

  it("errors are OpenAI-shaped with the right status, and nothing is billed for them", async () => {
    const billed = () => net.providers.reduce((s, p) => s + p.node.store.lane(user.account.address, user.account.address).billed, 0n);
    const before = billed();
    const unknown = await openai.chat.completions
      .create({ model: "no-such-model", messages: ask("Hi"), max_tokens: 8 })
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown).toMatchObject({ status: 404, code: "model_not_found" });
    const huge = await openai.chat.completions.create({ model: CHAT, messages: ask("Hi"), max_tokens: 1e30 }).catch((e: unknown) => e);
    expect(huge).toBeInstanceOf(OpenAI.BadRequestError);
    expect(huge).toMatchObject({ status: 400, code: "invalid_request" });
    const noModel = await openai.chat.completions
      .create({ messages: ask("Hi"), max_tokens: 8 } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(noModel).toMatchObject({ status: 400, code: "model_required" });
    const legacy = await openai.completions.create({ model: CHAT, prompt: "Hi", max_tokens: 8 }).catch((e: unknown) => e);
    expect(legacy).toMatchObject({ status: 404, code: "not_found" });
    const wrongToken = await new OpenAI({ baseURL: gateway.url, apiKey: "wrong", maxRetries: 0 }).chat.completions
      .create({ model: CHAT, messages: ask("Hi"), max_tokens: 8 })
      .catch((e: unknown) => e);
    expect(wrongToken).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(billed()).toBe(before);
  });

  it("the 5.x client too: chat, stream and tools", async () => {
    const old = new OpenAI5({ baseURL: gateway.url, apiKey: token, maxRetries: 0 });
    expect((await old.chat.completions.create({ model: CHAT, messages: ask("Hi"), max_tokens: 32 })).choices[0]!.message.content).toBe(
      REPLY,
    );
    let text = "";
    for await (const chunk of await old.chat.completions.create({ model: CHAT, messages: ask("Hi"), max_tokens: 32, stream: true }))
      text += chunk.choices[0]?.delta?.content ?? "";
    expect(text).toBe(REPLY);
    const r = await old.chat.completions.create({
      model: TOOLS,
      messages: ask("What is the weather like in Paris today?"),
      tools: [weatherTool],
      max_tokens: 24,
    });
    expect(r.choices[0]!.message.tool_calls?.[0]).toMatchObject({ type: "function", function: { name: "get_weather" } });
  });
});

describe("LangChain's ChatOpenAI through the gateway", () => {
  const chatOpenAI = (model: string) =>
    new ChatOpenAI({ model, apiKey: token, configuration: { baseURL: gateway.url }, maxTokens: 48, temperature: 0, maxRetries: 0 });
  const getWeather = tool(async ({ city }: { city: string }) => `Sunny in ${city}`, {
    name: "get_weather",
    description: "Current weather in a city.",
    schema: z.object({ city: z.string().describe("The city, e.g. Paris") }),
  });

  it("invoke and stream", async () => {
    expect((await chatOpenAI(CHAT).invoke("Hi")).content).toBe(REPLY);
    let text = "";
    for await (const chunk of await chatOpenAI(CHAT).stream("Hi")) text += chunk.text;
    expect(text).toBe(REPLY);
  });

  it("bindTools and withStructuredOutput", async () => {
    const called = await chatOpenAI(TOOLS).bindTools([getWeather]).invoke("What is the weather like in Paris today?");
    expect(called.tool_calls).toEqual([expect.objectContaining({ name: "get_weather", args: { city: "Paris" } })]);
    const structured = await chatOpenAI(UPSTREAM)
      .withStructuredOutput(z.object({ city: z.string(), sunny: z.boolean() }))
      .invoke("Describe Paris.");
    expect(structured).toEqual({ city: "Paris", sunny: true });
  });
});

describe("ChatZeroG: many instances on one key", () => {
  it("batch from four instances at once: every call answered, no nonce collision, every fee acknowledged", async () => {
    const u = await net.newUser({ deposit: 10n ** 18n, fund: 10n ** 17n });
    const models = Array.from(
      { length: 4 },
      () => new ChatZeroG({ network: net.network, privateKey: u.privateKey, model: CHAT, maxTokens: 32 }),
    );
    const results = await Promise.all(models.map((m) => m.batch(["one", "two", "three"])));
    expect(results.flat().map((r) => r.content)).toEqual(Array(12).fill(REPLY));
    expect(results.flat().every((r) => r.response_metadata.receipt_verified === true)).toBe(true);
    // Nobody called close(): the acknowledgements go out on their own.
    await allAcknowledged(u);
    await Promise.all(models.map((m) => m.close()));
  });

  it("a process that never calls close() still acknowledges its last fee before it exits", async () => {
    const u = await net.newUser({ deposit: 10n ** 18n, fund: 10n ** 17n });
    const script = `
      import { ChatZeroG } from "@0g-compute/langchain";
      const model = new ChatZeroG({ model: "${CHAT}", maxTokens: 16 });
      const reply = await model.invoke("Hi");
      process.stdout.write(String(reply.content));
    `;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ["--conditions=@0g-compute/source", "--import", "tsx", "--input-type=module", "-e", script], {
        cwd: root,
        env: { PATH: process.env.PATH, HOME: home, ZG_HOME: home, ZG_NETWORK: "devnet", ZG_PRIVATE_KEY: u.privateKey },
        stdio: ["ignore", "pipe", "inherit"],
      });
      let stdout = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.once("error", reject);
      child.once("exit", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`exit ${code}`))));
    });
    expect(out).toBe(REPLY);
    const lane = net.providers[0]!.node.store.lane(u.account.address, u.account.address);
    expect(lane.billed).toBeGreaterThan(0n);
    expect(lane.acked).toBe(lane.billed); // acknowledged by the exiting process, not by a later one
  });

  it("a client whose lane state was shared by the gateway: every fee of the run is acknowledged", async () => {
    await paid.close();
    await allAcknowledged(user);
  });
});
