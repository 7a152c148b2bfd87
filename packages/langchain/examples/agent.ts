/**
 * A LangChain agent with a tool, paying for its inference on a 0G Compute network.
 *
 * Against the devnet (`npm start -- --keep` records it in $ZG_HOME/devnet.json):
 *
 *   ZG_PRIVATE_KEY=0x... npx tsx --conditions=@0g-compute/source packages/langchain/examples/agent.ts
 *
 * Environment: ZG_PRIVATE_KEY (the payer), ZG_MODEL (default: the first chat model listed in the
 * registry), ZG_FUND (0G to deposit into an empty channel first, e.g. 0.01), ZG_MAX_SPEND (cap for
 * this run, default 0.001), and ZG_NETWORK, ZG_RPC_URL, ZG_ESCROW, ZG_REGISTRY for other networks.
 */
import { pathToFileURL } from "node:url";
import { createAgent, tool } from "langchain";
import { z } from "zod";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  formatAmount,
  keyFromEnv,
  listServices,
  networkFromEnv,
  parseAmount,
  serviceKind,
  ZeroGClient,
  type NetworkConfig,
} from "@0g-compute/core";
import { ChatZeroG, type ZeroGResponseMetadata } from "@0g-compute/langchain";

/** Options of {@link main}; each defaults to the environment. */
export interface AgentExampleOptions {
  network?: NetworkConfig;
  privateKey?: Hex;
  model?: string;
  /** 0G deposited into the channel first when it is empty. */
  fund?: string;
  /** Spending cap for the run, in 0G. */
  maxSpend?: string;
  question?: string;
  log?: (line: string) => void;
}

/** What the run did. */
export interface AgentExampleResult {
  answer: string;
  /** Tools the agent called, with their arguments. */
  toolCalls: { name: string; args: Record<string, unknown> }[];
  /** Paid model calls and their total fee in wei. */
  modelCalls: number;
  costWei: bigint;
}

/** The tool the agent may call. */
const getWeather = tool(async ({ city }: { city: string }) => `It is sunny and 21 °C in ${city}.`, {
  name: "get_weather",
  description: "Current weather in a city.",
  schema: z.object({ city: z.string().describe("The city, e.g. Paris") }),
});

/** Run the agent once and report what it cost. */
export async function main(options: AgentExampleOptions = {}): Promise<AgentExampleResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const network = options.network ?? networkFromEnv();
  const privateKey = options.privateKey ?? keyFromEnv("ZG_PRIVATE_KEY");
  const client = new ZeroGClient({ network, account: privateKeyToAccount(privateKey) });

  // Pick the model, and make sure the channel to its provider holds something.
  const services = (await listServices(client.publicClient, network)).filter((s) => s.active);
  const model = options.model ?? process.env.ZG_MODEL ?? services.find((s) => serviceKind(s) === "chat")?.model;
  const service = services.find((s) => s.model === model);
  if (!model || !service) throw new Error(`no active service${model ? ` offers ${model}` : ""} on ${network.name}`);
  const fund = options.fund ?? process.env.ZG_FUND;
  if (fund && (await client.channel(service.provider)).balance === 0n) {
    log(`Funding the channel to ${service.provider} with ${fund} 0G...`);
    await client.depositAndFund(service.provider, parseAmount(fund));
  }

  const llm = new ChatZeroG({
    network,
    privateKey,
    model,
    provider: service.provider,
    maxSpend: options.maxSpend ?? process.env.ZG_MAX_SPEND ?? "0.001",
    maxTokens: 256,
  });
  try {
    const agent = createAgent({ model: llm, tools: [getWeather], systemPrompt: "You answer weather questions with the get_weather tool." });
    const question = options.question ?? "What is the weather like in Paris today?";
    log(`> ${question}`);
    const { messages } = await agent.invoke({ messages: [{ role: "user", content: question }] });
    const toolCalls = messages.flatMap((m) =>
      "tool_calls" in m && Array.isArray(m.tool_calls)
        ? m.tool_calls.map((c: { name: string; args: Record<string, unknown> }) => ({ name: c.name, args: c.args }))
        : [],
    );
    for (const call of toolCalls) log(`  called ${call.name}(${JSON.stringify(call.args)})`);
    // Every answer the agent paid for carries its fee and whether its receipt verified.
    const paid = messages.filter((m) => m.getType() === "ai").map((m) => m.response_metadata as Partial<ZeroGResponseMetadata>);
    const costWei = paid.reduce((sum, m) => sum + BigInt(m.cost_wei ?? "0"), 0n);
    const answer = messages.at(-1)?.text ?? "";
    log(answer);
    log(
      `${paid.length} paid model calls to ${service.provider}, ${formatAmount(costWei)} in all, every receipt verified: ${paid.every((m) => m.receipt_verified === true)}`,
    );
    return { answer, toolCalls, modelCalls: paid.length, costWei };
  } finally {
    await llm.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
    process.exit(1);
  });
}
