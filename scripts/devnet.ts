/**
 * `npm start`: the whole 0G Compute story on this machine, with real parts and nothing downloaded.
 *
 * Starts anvil on 127.0.0.1 and deploys the contracts, generates three small GGUF test models (two chat,
 * one embedding), starts three provider nodes (node-llama-cpp) that register their services on-chain,
 * and funds a demo user. Then, in front of the user: a LangChain agent calls a tool and streams an
 * answer bought from a provider; an MCP client calls the `ask` tool of the MCP server; a tiny
 * retrieval embeds a few sentences (ZeroGEmbeddings, paid) and finds the one closest to a question;
 * every receipt is verified; the providers settle on-chain; the user asks to withdraw, the lock passes (the local chain's clock is
 * advanced), and the user takes the rest back. Prints a report and exits 0, stopping every process
 * it started.
 *
 * Flags:
 *   --keep               leave the network running (Ctrl-C stops it) and print the local gateway URL and
 *                        token, the provider URLs, and an MCP client configuration
 *   --model <file.gguf>  serve a real GGUF model (one provider) instead of the generated ones
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { MemoryVectorStore } from "@langchain/classic/vectorstores/memory";
import { AIMessageChunk, ToolMessage } from "@langchain/core/messages";
import { createAgent, tool } from "langchain";
import { z } from "zod";
import { formatEther, type Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { defaultHome, FileLaneStore, laneStoreDir, parseAmount, startGateway, type Gateway, type VerifiedReceipt } from "@0g-compute/core";
import { ChatZeroG, ZeroGEmbeddings } from "@0g-compute/langchain";
import { BuyerSession, createZeroGMcpServer } from "@0g-compute/mcp-server";
import { startLocalNetwork, type LocalNetwork, type LocalUser } from "@0g-compute/provider/testing";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: flags } = parseArgs({ options: { keep: { type: "boolean", default: false }, model: { type: "string" } }, strict: true });
const say = (line = ""): void => console.log(line);
const og = (wei: bigint): string => `${formatEther(wei)} 0G`;

/** Devnet prices: 1 0G per million input tokens, 2 0G per million output tokens. */
const INPUT_PRICE = 1_000_000_000_000n;
const OUTPUT_PRICE = 2_000_000_000_000n;
const DEPOSIT = parseAmount("1");
const FUND = parseAmount("0.1");

const getWeather = tool(async ({ city }: { city: string }) => `It is sunny and 21 °C in ${city}.`, {
  name: "get_weather",
  description: "Current weather in a city.",
  schema: z.object({ city: z.string().describe("The city, e.g. Paris") }),
});

interface StepCost {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  fee: bigint;
  verified: number;
}

function costOf(receipts: readonly VerifiedReceipt[]): StepCost {
  return receipts.reduce<StepCost>(
    (s, r) => ({
      calls: s.calls + 1,
      inputTokens: s.inputTokens + r.receipt.inputTokens,
      outputTokens: s.outputTokens + r.receipt.outputTokens,
      fee: s.fee + r.fee,
      verified: s.verified + 1,
    }),
    { calls: 0, inputTokens: 0, outputTokens: 0, fee: 0n, verified: 0 },
  );
}

async function main(): Promise<void> {
  const started = Date.now();
  const modelPath = flags.model ? resolve(flags.model) : undefined;
  say(
    `Starting a local network: anvil on 127.0.0.1, the contracts, and ${modelPath ? `a provider serving ${basename(modelPath)}` : "three providers serving generated GGUF test models (two chat, one embedding)"} (node-llama-cpp)...`,
  );
  const net = await startLocalNetwork({
    providers: modelPath
      ? [{ kind: "llama", modelPath, modelId: basename(modelPath).replace(/\.gguf$/i, "") }]
      : [
          { kind: "llama", model: "function-call" },
          { kind: "llama", model: "scripted" },
          { kind: "llama", model: "embedding" },
        ],
    inputPrice: INPUT_PRICE,
    outputPrice: OUTPUT_PRICE,
    node: { autoSettle: flags.keep },
  });
  let gateway: Gateway | undefined;
  const stop = async (): Promise<void> => {
    await gateway?.close().catch(() => undefined);
    await net.stop();
  };
  process.once("SIGINT", () => void stop().then(() => process.exit(130)));
  process.once("SIGTERM", () => void stop().then(() => process.exit(143)));
  try {
    const user = await story(net);
    say();
    say(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    if (flags.keep) {
      gateway = await keepRunning(net, user);
      await new Promise<void>(() => undefined);
    }
  } finally {
    if (!flags.keep) await stop();
  }
}

async function story(net: LocalNetwork): Promise<LocalUser> {
  const [agentProvider, chatProvider] = [net.providers[0]!, net.providers[1] ?? net.providers[0]!];
  const embeddingProvider = net.providers.find((p) => p.model === "test-embedding");
  for (const p of net.providers)
    say(
      `  provider ${p.address}  ${p.model.padEnd(20)} ${p.node.url}  (in ${og(INPUT_PRICE * 1_000_000n)} / out ${og(OUTPUT_PRICE * 1_000_000n)} per 1M tokens)`,
    );
  const user = await net.newUser({ deposit: DEPOSIT, fund: FUND });
  const channels = net.providers.map((p) => p.address);
  say(`  demo user ${user.account.address}: deposited ${og(DEPOSIT)}, funded a channel of ${og(FUND)} to each provider`);
  const before = await user.client.balances(channels);

  // 1. A LangChain agent with a tool, streaming its answer.
  say();
  say(`1. LangChain agent (ChatZeroG on ${agentProvider.model}) with a get_weather tool`);
  const question = "What is the weather like in Paris today?";
  say(`   > ${question}`);
  const llm = new ChatZeroG({
    network: net.network,
    privateKey: user.privateKey,
    model: agentProvider.model,
    provider: agentProvider.address,
    maxSpend: "0.05",
    maxTokens: 128,
    temperature: 0,
  });
  const agent = createAgent({ model: llm, tools: [getWeather], systemPrompt: "You answer weather questions with the get_weather tool." });
  let streamed = "";
  const replies = new Map<string, AIMessageChunk>(); // chunks of each model call, merged
  for await (const [message] of await agent.stream({ messages: [{ role: "user", content: question }] }, { streamMode: "messages" })) {
    if (message instanceof AIMessageChunk) {
      const id = message.id ?? "";
      const merged = replies.get(id);
      replies.set(id, merged ? merged.concat(message) : message);
      if (typeof message.content === "string" && message.content !== "") {
        if (streamed === "") process.stdout.write("   < ");
        process.stdout.write(message.content);
        streamed += message.content;
      }
    } else if (message instanceof ToolMessage) {
      say(`   tool ${message.name ?? "call"} -> ${String(message.content)}`);
    }
  }
  if (streamed !== "") say();
  const toolCalls = [...replies.values()].flatMap((m) => m.tool_calls ?? []).map((c) => `${c.name}(${JSON.stringify(c.args)})`);
  const agentCost = costOf(await llm.receipts());
  await llm.close(); // acknowledges the last receipt
  say(
    `   ${agentCost.calls} paid model calls, ${agentCost.inputTokens} + ${agentCost.outputTokens} tokens, ${og(agentCost.fee)}, receipts verified ${agentCost.verified}/${agentCost.calls}${toolCalls.length ? `; tool calls: ${toolCalls.join(", ")}` : ""}`,
  );

  // 2. An MCP client calling the MCP server's `ask` tool.
  say();
  say(`2. MCP client -> MCP server tool "ask" (${chatProvider.model})`);
  const buyer = new BuyerSession({
    network: net.network,
    account: privateKeyToAccount(user.privateKey),
    caps: { feesPerSession: parseAmount("0.01"), feesPerDay: parseAmount("0.1"), fundsPerSession: 0n, fundsPerDay: 0n },
    model: chatProvider.model,
    provider: chatProvider.address,
  });
  const server = createZeroGMcpServer(buyer);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const mcp = new Client({ name: "0g-devnet-demo", version: "0.1.0" });
  await mcp.connect(clientSide);
  const tools = (await mcp.listTools()).tools.map((t) => t.name);
  say(`   tools: ${tools.join(", ")}`);
  let progressEvents = 0;
  const asked = await mcp.callTool(
    { name: "ask", arguments: { prompt: "Say hello to the network.", max_tokens: 32, temperature: 0 } },
    undefined,
    { onprogress: () => (progressEvents += 1) },
  );
  if (asked.isError) throw new Error(`ask failed: ${JSON.stringify(asked.content)}`);
  const answer = asked.structuredContent as {
    text: string;
    usage: { input_tokens: number; output_tokens: number };
    cost: { wei: string; og: string };
  };
  say(`   < ${answer.text}`);
  const mcpCost = costOf(buyer.receipts);
  await mcp.close();
  await buyer.close();
  say(
    `   ${answer.usage.input_tokens} + ${answer.usage.output_tokens} tokens, ${answer.cost.og} 0G, receipt verified ${mcpCost.verified}/${mcpCost.calls}, ${progressEvents} progress notifications`,
  );

  // 3. Paid embeddings: a tiny retrieval.
  let embedCost: StepCost = { calls: 0, inputTokens: 0, outputTokens: 0, fee: 0n, verified: 0 };
  if (embeddingProvider) {
    say();
    say(`3. Retrieval: ZeroGEmbeddings (${embeddingProvider.model}) into a LangChain MemoryVectorStore`);
    const embeddings = new ZeroGEmbeddings({
      network: net.network,
      privateKey: user.privateKey,
      model: embeddingProvider.model,
      provider: embeddingProvider.address,
      maxSpend: "0.01",
    });
    const docs = [
      "The cat sat on the mat by the kitchen door.",
      "Stock markets fell sharply today after the rate decision.",
      "Rain is expected over the weekend in the north.",
    ];
    const vectors = await MemoryVectorStore.fromTexts(
      docs,
      docs.map((_, i) => ({ i })),
      embeddings,
    );
    const query = "Where did the cat sit?";
    const [best] = await vectors.similaritySearch(query, 1);
    say(`   > ${query}`);
    say(`   < closest of ${docs.length} sentences: "${best?.pageContent ?? ""}"`);
    embedCost = costOf(await embeddings.receipts());
    await embeddings.close();
    say(
      `   ${embedCost.calls} paid embedding requests, ${embedCost.inputTokens} input tokens, ${og(embedCost.fee)}, receipts verified ${embedCost.verified}/${embedCost.calls}`,
    );
  }

  // 4. Settlement on-chain.
  say();
  say(`${embeddingProvider ? 4 : 3}. Providers settle the newest vouchers on-chain`);
  const settlements: { provider: Address; tx?: string; paid: bigint; gas: bigint }[] = [];
  for (const p of net.providers) {
    const run = await p.node.settle();
    settlements.push({ provider: p.address, ...(run.txHash ? { tx: run.txHash } : {}), paid: run.paid, gas: run.gasUsed });
    say(
      `   ${p.model.padEnd(20)} ${run.txHash ? `tx ${run.txHash}  gas ${run.gasUsed}  paid ${og(run.paid)}` : `nothing to settle (${run.reason ?? "settled already"})`}`,
    );
  }

  // 5. Withdrawal: request, lock, complete.
  say();
  const lock = net.chain.deployment.params.lockSeconds;
  say(`${embeddingProvider ? 5 : 4}. The user withdraws what is left (lock: ${lock} s)`);
  let unlockAt = 0n;
  for (const provider of channels) {
    const r = await user.client.requestWithdraw(provider, "all");
    if (r.unlockAt > unlockAt) unlockAt = r.unlockAt;
  }
  const early = await user.client.completeWithdraw(channels[0]!, { toWallet: false }).then(
    () => "completed",
    (e: { code?: string }) => e.code ?? "refused",
  );
  say(`   requested; completing before the unlock is refused (${early})`);
  await net.chain.increaseTime(unlockAt - (await net.chain.now()) + 1n);
  say(`   the local chain's clock moves ${lock} s on`);
  let refunded = 0n;
  for (const provider of channels) refunded += (await user.client.completeWithdraw(provider, { toWallet: false })).amount;
  say(`   refunded ${og(refunded)} to the ledger`);
  const after = await user.client.balances(channels);

  // Report.
  const fees = agentCost.fee + mcpCost.fee + embedCost.fee;
  const paid = settlements.reduce((s, x) => s + x.paid, 0n);
  const gas = settlements.reduce((s, x) => s + x.gas, 0n);
  const funded = FUND * BigInt(channels.length);
  const rows: [string, string][] = [
    ["RPC", `${net.chain.rpcUrl} (chain id ${net.chain.chain.id})`],
    ["providers", net.providers.map((p) => p.node.url).join(" ")],
    ["ledger before / after", `${og(before.ledger)} / ${og(after.ledger)}`],
    [
      "channels before / after",
      `${og(before.channels.reduce((s, c) => s + c.balance, 0n))} / ${og(after.channels.reduce((s, c) => s + c.balance, 0n))}`,
    ],
    ["LangChain agent", `${agentCost.calls} calls, ${agentCost.inputTokens} + ${agentCost.outputTokens} tokens, ${og(agentCost.fee)}`],
    ["MCP ask", `${mcpCost.calls} call, ${mcpCost.inputTokens} + ${mcpCost.outputTokens} tokens, ${og(mcpCost.fee)}`],
    ...(embeddingProvider
      ? [["embeddings", `${embedCost.calls} calls, ${embedCost.inputTokens} input tokens, ${og(embedCost.fee)}`] as [string, string]]
      : []),
    ["fees paid (verified receipts)", `${og(fees)} (${agentCost.verified + mcpCost.verified + embedCost.verified} receipts, all verified)`],
    ["settled on-chain", `${og(paid)} in ${settlements.filter((s) => s.tx).length} transactions, ${gas} gas`],
    ["refunded after the lock", og(refunded)],
    ["funded - fees = refunded", funded - fees === refunded && paid === fees ? "yes" : "NO"],
  ];
  say();
  say("Report");
  for (const [k, v] of rows) say(`  ${k.padEnd(30)} ${v}`);
  if (funded - fees !== refunded || paid !== fees) throw new Error("the books do not balance");
  return user;
}

/** --keep: fund the demo user again, start a gateway for it, and print how to reach everything. */
async function keepRunning(net: LocalNetwork, user: LocalUser): Promise<Gateway> {
  for (const p of net.providers) await user.client.fund(p.address, FUND);
  const home = defaultHome();
  await mkdir(home, { recursive: true, mode: 0o700 });
  const d = net.chain.deployment;
  const record = join(home, "devnet.json");
  await writeFile(
    record,
    JSON.stringify(
      { rpcUrl: net.chain.rpcUrl, chainId: net.chain.chain.id, escrow: d.escrow, registry: d.registry, fromBlock: d.fromBlock.toString() },
      null,
      2,
    ),
  );
  // A new devnet is a new chain whose escrow may sit at the previous one's address: lane state kept from
  // an earlier devnet (nonces, acknowledged fees) belongs to a chain that is gone.
  await rm(laneStoreDir(home, net.network), { recursive: true, force: true });
  const adminTokenFiles: string[] = [];
  for (const [i, p] of net.providers.entries()) {
    const file = join(home, `devnet-provider-${i + 1}.admin-token`);
    await writeFile(file, p.adminToken + "\n", { mode: 0o600 });
    adminTokenFiles.push(file);
  }
  // The gateway keeps the demo user's lanes where the CLI and the MCP server of this home keep them, so all
  // of them can pay from the one key at once.
  const paidFetch = user.paidFetch({ store: await FileLaneStore.open(laneStoreDir(home, net.network)) });
  const token = randomBytes(24).toString("hex");
  const gateway = await startGateway({ paidFetch, token });
  const mcpConfig = {
    mcpServers: {
      "0g-compute": {
        command: "node",
        args: [join(root, "packages", "mcp-server", "bin", "0g-mcp-server.js")],
        env: {
          ZG_NETWORK: "devnet",
          ZG_HOME: home,
          ZG_PRIVATE_KEY: user.privateKey,
          ZG_MCP_SPEND_CAP_SESSION: "0.01",
          ZG_MCP_SPEND_CAP_DAY: "0.1",
        },
      },
    },
  };
  say();
  say("The network keeps running (Ctrl-C stops it):");
  say(`  RPC           ${net.chain.rpcUrl}  (chain id ${net.chain.chain.id}; escrow ${d.escrow}, registry ${d.registry})`);
  for (const [i, p] of net.providers.entries()) {
    say(`  provider      ${p.node.url}  ${p.model}  (payee ${p.address})`);
    say(
      `                admin ${p.node.adminUrl}: npx 0g-provider status --admin-url ${p.node.adminUrl} --admin-token-file ${adminTokenFiles[i]}`,
    );
  }
  say(`  gateway       ${gateway.url}  (OpenAI-compatible; bearer token ${token})`);
  say(`                curl ${gateway.url}/chat/completions -H "authorization: Bearer ${token}" -H "content-type: application/json" \\`);
  const chatModel = net.providers.find((p) => p.model !== "test-embedding")!.model;
  say(`                  -d '{"model":"${chatModel}","messages":[{"role":"user","content":"Hi"}],"max_tokens":32}'`);
  const embedding = net.providers.find((p) => p.model === "test-embedding");
  if (embedding) {
    say(`                curl ${gateway.url}/embeddings -H "authorization: Bearer ${token}" -H "content-type: application/json" \\`);
    say(`                  -d '{"model":"${embedding.model}","input":["a cat on a mat"]}'`);
  }
  say(`  demo user     ${user.account.address}, key ${user.privateKey} (a throwaway devnet key; 0g-compute uses it as ZG_PRIVATE_KEY)`);
  say(`  devnet record ${record} (0g-compute --network devnet, ChatZeroG and the MCP server find the chain through it)`);
  say("  MCP client configuration (e.g. claude_desktop_config.json):");
  for (const line of JSON.stringify(mcpConfig, null, 2).split("\n")) say(`    ${line}`);
  return gateway;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
  process.exit(1);
});
