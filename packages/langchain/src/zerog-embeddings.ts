import type { Address, Hex, LocalAccount } from "viem";
import {
  formatAmount,
  type LaneStore,
  type NetworkConfig,
  type NetworkOverrides,
  type NetworkPreset,
  type SortBy,
  type SpendingLimit,
  type VerifiedReceipt,
} from "@0g-compute/core";
import { Embeddings, type EmbeddingsParams } from "@langchain/core/embeddings";
import { type Connection, connectionFieldsOf, openConnection, retryOnlyTransient, type ZeroGConnectionFields } from "./connection.js";
import { ChatZeroGError } from "./errors.js";

/** Constructor fields of {@link ZeroGEmbeddings}: how to pay (see {@link ZeroGConnectionFields}) and how to batch. */
export interface ZeroGEmbeddingsInput extends EmbeddingsParams, ZeroGConnectionFields {
  /** Texts per paid request in `embedDocuments` (default 256; at most 2048). */
  batchSize?: number;
  /** Vector size to ask for, where the service's model allows it. */
  dimensions?: number;
  /** Milliseconds before a request is abandoned. */
  timeout?: number;
}

const EMBEDDINGS_URL = "http://0g.invalid/v1/embeddings";

interface EmbeddingsResponse {
  data?: { index?: number; embedding?: unknown }[];
}

/**
 * LangChain.js embeddings bought on the 0G Compute network: each batch of texts is one paid request to an
 * embedding service from the on-chain registry (`POST /v1/embeddings`), billed by its input tokens, with
 * the provider's signed receipt verified before the fee is acknowledged. Works with any LangChain vector
 * store.
 *
 * @example
 * const embeddings = new ZeroGEmbeddings({ network: "devnet", privateKey: "0x...", model: "test-embedding", maxSpend: "0.01" });
 * const store = await MemoryVectorStore.fromTexts(["a cat on a mat", "stocks fell"], [{}, {}], embeddings);
 * const [best] = await store.similaritySearch("where is the cat?", 1);
 * await embeddings.close();
 */
export class ZeroGEmbeddings extends Embeddings implements ZeroGEmbeddingsInput {
  network?: NetworkPreset | "custom" | NetworkConfig;
  networkOverrides?: NetworkOverrides;
  privateKey?: Hex;
  sessionKey?: Hex;
  user?: Address;
  account?: LocalAccount;
  model?: string;
  provider?: Address;
  sortBy?: SortBy;
  maxInputPrice?: bigint;
  maxOutputPrice?: bigint;
  maxSpend?: string | bigint;
  spendingLimit?: SpendingLimit;
  maxCostPerRequest?: string | bigint;
  store?: LaneStore;
  onReceipt?: (receipt: VerifiedReceipt) => void;
  fetch?: typeof fetch;
  batchSize = 256;
  dimensions?: number;
  timeout?: number;

  private connection: Promise<Connection> | undefined;

  constructor(fields: ZeroGEmbeddingsInput = {}) {
    super({ maxRetries: 2, onFailedAttempt: retryOnlyTransient, ...fields });
    if (!fields.model && !fields.provider)
      throw new ChatZeroGError(
        "CHAT_CONFIG",
        "ZeroGEmbeddings needs a model (or a provider address)",
        'pass model: "<embedding model id from the registry>"',
      );
    if (fields.batchSize !== undefined && (!Number.isInteger(fields.batchSize) || fields.batchSize < 1 || fields.batchSize > 2048))
      throw new ChatZeroGError("CHAT_CONFIG", `batchSize must be an integer from 1 to 2048, got ${fields.batchSize}`);
    Object.assign(this, connectionFieldsOf(fields), {
      ...(fields.batchSize !== undefined ? { batchSize: fields.batchSize } : {}),
      ...(fields.dimensions !== undefined ? { dimensions: fields.dimensions } : {}),
      ...(fields.timeout !== undefined ? { timeout: fields.timeout } : {}),
    });
  }

  /** Embed documents, `batchSize` texts per paid request (requests in order, each retried on transient failures). */
  async embedDocuments(documents: string[]): Promise<number[][]> {
    const out: number[][] = [];
    for (let i = 0; i < documents.length; i += this.batchSize) {
      const batch = documents.slice(i, i + this.batchSize);
      out.push(...(await this.caller.call(() => this.embed(batch))));
    }
    return out;
  }

  /** Embed one query text. */
  async embedQuery(document: string): Promise<number[]> {
    const [vector] = await this.caller.call(() => this.embed([document]));
    return vector!;
  }

  /** Receipts verified so far, oldest first (empty before the first request). */
  async receipts(): Promise<readonly VerifiedReceipt[]> {
    return this.connection ? (await this.connection).paidFetch.receipts : [];
  }

  /** What has been paid so far, in 0G (a decimal string). */
  async spent(): Promise<string> {
    const total = (await this.receipts()).reduce((sum, r) => sum + r.fee, 0n);
    return formatAmount(total).replace(/ 0G$/, "");
  }

  /** Send the pending fee acknowledgements to the providers and release timers. Call when done. */
  async close(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    this.connection = undefined;
    await (await connection.catch(() => undefined))?.paidFetch.close();
  }

  private connect(): Promise<Connection> {
    if (!this.connection) {
      const pending = openConnection(this, (receipt) => this.onReceipt?.(receipt));
      this.connection = pending;
      // A failed start (unreachable RPC, missing key) is retried by the next call.
      pending.catch(() => {
        if (this.connection === pending) this.connection = undefined;
      });
    }
    return this.connection;
  }

  private async embed(texts: string[]): Promise<number[][]> {
    // An empty text is not a valid input; its vector is the zero vector, at no cost.
    const nonEmpty = texts.map((t, i) => [t, i] as const).filter(([t]) => t !== "");
    if (nonEmpty.length === 0) return texts.map(() => []);
    const { paidFetch } = await this.connect();
    const res = await paidFetch(EMBEDDINGS_URL, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        ...(this.model !== undefined ? { model: this.model } : {}),
        input: nonEmpty.map(([t]) => t),
        encoding_format: "float",
        ...(this.dimensions !== undefined ? { dimensions: this.dimensions } : {}),
      }),
      ...(this.timeout !== undefined ? { signal: AbortSignal.timeout(this.timeout) } : {}),
    });
    let body: EmbeddingsResponse;
    try {
      body = (await res.json()) as EmbeddingsResponse;
    } catch {
      throw new ChatZeroGError("EMBEDDINGS_BAD_RESPONSE", "the provider's answer is not JSON");
    }
    const vectors: number[][] = new Array(nonEmpty.length);
    for (const [i, item] of (body.data ?? []).entries()) {
      const index = item.index ?? i;
      if (!Array.isArray(item.embedding) || !Number.isInteger(index) || index < 0 || index >= nonEmpty.length)
        throw new ChatZeroGError("EMBEDDINGS_BAD_RESPONSE", "the provider's answer is not an OpenAI embeddings list");
      vectors[index] = item.embedding as number[];
    }
    if ((body.data?.length ?? 0) !== nonEmpty.length || vectors.some((v) => v === undefined))
      throw new ChatZeroGError(
        "EMBEDDINGS_BAD_RESPONSE",
        `the provider answered ${body.data?.length ?? 0} vectors for ${nonEmpty.length} texts`,
      );
    const out: number[][] = texts.map(() => []);
    for (const [k, [, i]] of nonEmpty.entries()) out[i] = vectors[k]!;
    const zero = new Array<number>(vectors[0]!.length).fill(0);
    return out.map((v) => (v.length === 0 ? zero : v));
  }
}
