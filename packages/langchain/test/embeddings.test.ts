/**
 * ZeroGEmbeddings on a local chain with a real embedding model: batching, order, empty texts, caps and
 * configuration errors, and the retrieval example (MemoryVectorStore + ChatZeroG).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startLocalNetwork, type LocalNetwork, type LocalUser } from "@0g-compute/provider/testing";
import { ChatZeroGError, ZeroGEmbeddings, type ZeroGEmbeddingsInput } from "../src/index.js";
import { DOCUMENTS, main } from "../examples/retrieval.js";

describe("ZeroGEmbeddings", () => {
  let net: LocalNetwork;
  let user: LocalUser;
  const made: ZeroGEmbeddings[] = [];
  const make = (fields: Partial<ZeroGEmbeddingsInput> = {}): ZeroGEmbeddings => {
    const e = new ZeroGEmbeddings({ network: net.network, privateKey: user.privateKey, model: "test-embedding", ...fields });
    made.push(e);
    return e;
  };

  beforeAll(async () => {
    net = await startLocalNetwork({
      providers: [
        { kind: "llama", model: "embedding" },
        { kind: "llama", model: "scripted" },
      ],
    });
    user = await net.newUser();
  }, 120_000);
  afterAll(async () => {
    for (const e of made) await e.close();
    await net?.stop();
  });

  it("embeds documents in order, batchSize texts per paid request, and a query like a one-text document", async () => {
    const embeddings = make({ batchSize: 3 });
    const vectors = await embeddings.embedDocuments(DOCUMENTS);
    expect(vectors).toHaveLength(4);
    expect((await embeddings.receipts()).length).toBe(2); // 3 + 1
    const query = await embeddings.embedQuery(DOCUMENTS[2]!);
    for (const [i, x] of query.entries()) expect(x).toBeCloseTo(vectors[2]![i]!, 6);
    expect((await embeddings.receipts()).map((r) => r.receipt.outputTokens)).toEqual([0, 0, 0]);
  });

  it("gives an empty text the zero vector without paying for it", async () => {
    const embeddings = make();
    const [a, empty, b] = await embeddings.embedDocuments(["a cat", "", "a dog"]);
    expect(empty).toEqual(new Array(a!.length).fill(0));
    expect(b!.length).toBe(a!.length);
    expect(await embeddings.embedDocuments([""])).toEqual([[]]);
    expect((await embeddings.receipts()).length).toBe(1);
  });

  it("refuses, before paying, what its caps do not allow", async () => {
    const embeddings = make({ maxCostPerRequest: 1n, maxRetries: 0 });
    await expect(embeddings.embedQuery("a cat on a mat")).rejects.toThrow(/ceiling|every provider failed/);
    expect(await embeddings.receipts()).toHaveLength(0);
  });

  it("checks its configuration", () => {
    expect(() => new ZeroGEmbeddings({ network: net.network })).toThrow(ChatZeroGError);
    expect(() => make({ batchSize: 0 })).toThrow(/batchSize/);
    expect(() => make({ privateKey: "0x12" })).toThrow(/privateKey/);
  });

  it("runs the retrieval example: the closest document, then a paid answer with it as context", async () => {
    const lines: string[] = [];
    const r = await main({
      network: net.network,
      privateKey: user.privateKey,
      question: "Where did the cat sit?",
      log: (l) => lines.push(l),
    });
    expect(r.context).toBe(DOCUMENTS[0]);
    expect(r.answer).toBe("Hello from 0G Compute!");
    expect(r.embeddingCostWei).toBeGreaterThan(0n);
    expect(r.answerCostWei).toBeGreaterThan(0n);
    expect(lines.join("\n")).toMatch(/closest document: The cat sat/);
  });
});
