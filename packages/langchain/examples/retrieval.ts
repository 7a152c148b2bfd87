/**
 * Retrieval on a 0G Compute network: a few sentences embedded with ZeroGEmbeddings into LangChain's
 * MemoryVectorStore, the one closest to a question found, then handed to a chat model (ChatZeroG) as
 * context. Every embedding request and the answer are paid per token from escrow, each with a verified receipt.
 *
 * Against the devnet (`npm start -- --keep` records it in $ZG_HOME/devnet.json):
 *
 *   ZG_PRIVATE_KEY=0x... npx tsx --conditions=@0g-compute/source packages/langchain/examples/retrieval.ts
 *
 * Environment: ZG_PRIVATE_KEY (the payer), ZG_EMBEDDING_MODEL and ZG_MODEL (default: the first embedding
 * and chat models listed), ZG_FUND (0G to deposit into each empty channel first, e.g. 0.01), and
 * ZG_NETWORK, ZG_RPC_URL, ZG_ESCROW, ZG_REGISTRY for other networks.
 */
import { pathToFileURL } from "node:url";
import { MemoryVectorStore } from "@langchain/classic/vectorstores/memory";
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
import { ChatZeroG, ZeroGEmbeddings, type ZeroGResponseMetadata } from "@0g-compute/langchain";

/** Options of {@link main}; each defaults to the environment. */
export interface RetrievalExampleOptions {
  network?: NetworkConfig;
  privateKey?: Hex;
  embeddingModel?: string;
  chatModel?: string;
  /** 0G deposited into each empty channel first. */
  fund?: string;
  question?: string;
  log?: (line: string) => void;
}

/** What the run found and paid. */
export interface RetrievalExampleResult {
  /** The sentence closest to the question. */
  context: string;
  answer: string;
  /** Fees paid for embeddings and for the answer, in wei. */
  embeddingCostWei: bigint;
  answerCostWei: bigint;
}

/** The documents searched. */
export const DOCUMENTS = [
  "The cat sat on the mat by the kitchen door.",
  "Stock markets fell sharply today after the rate decision.",
  "Rain is expected over the weekend in the north.",
  "The train to the airport leaves every twenty minutes.",
];

/** Embed the documents, retrieve the closest to the question, ask the chat model with it. */
export async function main(options: RetrievalExampleOptions = {}): Promise<RetrievalExampleResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const network = options.network ?? networkFromEnv();
  const privateKey = options.privateKey ?? keyFromEnv("ZG_PRIVATE_KEY");
  const client = new ZeroGClient({ network, account: privateKeyToAccount(privateKey) });

  const services = (await listServices(client.publicClient, network)).filter((s) => s.active);
  const pick = (kind: "chat" | "embedding", wanted: string | undefined) => {
    const service = services.find((s) => serviceKind(s) === kind && (wanted === undefined || s.model === wanted));
    if (!service) throw new Error(`no active ${kind} service${wanted ? ` offers ${wanted}` : ""} on ${network.name}`);
    return service;
  };
  const embedder = pick("embedding", options.embeddingModel ?? process.env.ZG_EMBEDDING_MODEL);
  const chat = pick("chat", options.chatModel ?? process.env.ZG_MODEL);
  const fund = options.fund ?? process.env.ZG_FUND;
  for (const provider of new Set([embedder.provider, chat.provider])) {
    if (fund && (await client.channel(provider)).balance === 0n) {
      log(`Funding the channel to ${provider} with ${fund} 0G...`);
      await client.depositAndFund(provider, parseAmount(fund));
    }
  }

  const embeddings = new ZeroGEmbeddings({ network, privateKey, model: embedder.model, provider: embedder.provider, maxSpend: "0.001" });
  const llm = new ChatZeroG({ network, privateKey, model: chat.model, provider: chat.provider, maxSpend: "0.001", maxTokens: 64 });
  try {
    const store = await MemoryVectorStore.fromTexts(
      DOCUMENTS,
      DOCUMENTS.map((_, i) => ({ id: i })),
      embeddings,
    );
    const question = options.question ?? "Where did the cat sit?";
    log(`> ${question}`);
    const [best] = await store.similaritySearch(question, 1);
    const context = best?.pageContent ?? "";
    log(`  closest document: ${context}`);
    const reply = await llm.invoke([
      { role: "system", content: `Answer from this context only: ${context}` },
      { role: "user", content: question },
    ]);
    const answer = reply.text;
    log(answer);
    const embeddingCostWei = (await embeddings.receipts()).reduce((sum, r) => sum + r.fee, 0n);
    const answerCostWei = BigInt((reply.response_metadata as Partial<ZeroGResponseMetadata>).cost_wei ?? "0");
    log(
      `embeddings ${formatAmount(embeddingCostWei)} (${embedder.model}), answer ${formatAmount(answerCostWei)} (${chat.model}); receipts verified`,
    );
    return { context, answer, embeddingCostWei, answerCostWei };
  } finally {
    await embeddings.close();
    await llm.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
    process.exit(1);
  });
}
