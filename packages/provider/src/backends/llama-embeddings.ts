import { getLlama, type Llama, type LlamaEmbeddingContext, type LlamaModel, type Token } from "node-llama-cpp";
import {
  BackendError,
  badRequest,
  type Backend,
  type BackendModel,
  type ChatCompletion,
  type ChatCompletionChunk,
  type EmbeddingOptions,
  type EmbeddingResult,
  type Usage,
} from "../backend.js";
import { LLAMA_LOG_LEVELS } from "./llama.js";
import { LlamaTokenizer } from "./llama-tokenizer.js";

/** Options for {@link LlamaEmbeddingBackend.load}. */
export interface LlamaEmbeddingBackendOptions {
  /** A .gguf file of a model that computes embeddings (pooling set in the file, or the last token's state). */
  modelPath: string;
  /** The id clients send (the registry's model). */
  modelId: string;
  /** CPU threads per evaluation (default 1). */
  threads?: number;
  /** Requests embedded at the same time, each on an embedding context of its own (default 2). */
  parallel?: number;
  /** Context size: the longest input, in tokens (default min(model.trainContextSize, 4096)). */
  contextSize?: number;
  /** llama.cpp log level (default "error"). */
  logLevel?: keyof typeof LLAMA_LOG_LEVELS;
}

/**
 * A request whose inputs add up to at most this many UTF-16 units is tokenized on the event loop (tens of
 * microseconds); a larger one in the worker, so that no request (even one refused after counting) can
 * hold the event loop for long.
 */
const INLINE_TOKENIZE_CHARS = 4096;

/** Scale a vector to unit length (as OpenAI's embeddings are), in place. */
function normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}

/**
 * An embedding model on the embedded llama.cpp (node-llama-cpp's embedding contexts): `POST
 * /v1/embeddings` only; chat requests are refused. Each input is tokenized (a long one in the
 * tokenizer's worker thread), then evaluated as node-llama-cpp evaluates a text (the model's beginning and end tokens
 * added), so {@link countEmbeddingTokens} at admission and the count billed after {@link embed} are the
 * same exact number. Vectors are scaled to unit length.
 *
 * @example
 * const backend = await LlamaEmbeddingBackend.load({ modelPath: "embed.gguf", modelId: "embed-small" });
 * const { vectors, inputTokens } = await backend.embed(["a cat", "a dog"], { signal: AbortSignal.timeout(10_000) });
 * await backend.close();
 */
export class LlamaEmbeddingBackend implements Backend {
  readonly kind = "llama" as const;
  private readonly waiting: Array<{ resolve: (context: LlamaEmbeddingContext) => void; reject: (err: Error) => void }> = [];
  private closed = false;

  private constructor(
    private readonly options: LlamaEmbeddingBackendOptions,
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly contexts: LlamaEmbeddingContext[],
    private readonly free: LlamaEmbeddingContext[],
    private readonly tokenizer: LlamaTokenizer,
    private readonly contextSize: number,
  ) {}

  /** Loads the model and its embedding contexts. */
  static async load(options: LlamaEmbeddingBackendOptions): Promise<LlamaEmbeddingBackend> {
    const threads = options.threads ?? 1;
    const parallel = options.parallel ?? 2;
    if (!Number.isInteger(threads) || threads < 1) throw new BackendError(`threads must be a positive integer, got ${threads}`);
    if (!Number.isInteger(parallel) || parallel < 1) throw new BackendError(`parallel must be a positive integer, got ${parallel}`);
    let llama: Llama | undefined;
    let model: LlamaModel | undefined;
    const contexts: LlamaEmbeddingContext[] = [];
    const tokenizing = LlamaTokenizer.start(options.modelPath);
    tokenizing.catch(() => undefined); // awaited below, on success and on failure
    try {
      llama = await getLlama({ gpu: false, build: "never", logLevel: LLAMA_LOG_LEVELS[options.logLevel ?? "error"], maxThreads: threads });
      model = await llama.loadModel({ modelPath: options.modelPath });
      const contextSize = options.contextSize ?? Math.min(model.trainContextSize, 4096);
      for (let i = 0; i < parallel; i++) contexts.push(await model.createEmbeddingContext({ contextSize, threads }));
      return new LlamaEmbeddingBackend(options, llama, model, contexts, [...contexts], await tokenizing, contextSize);
    } catch (cause) {
      await (await tokenizing.catch(() => undefined))?.close();
      for (const c of contexts) await c.dispose().catch(() => undefined);
      await model?.dispose().catch(() => undefined);
      await llama?.dispose().catch(() => undefined);
      throw new BackendError(`cannot load ${options.modelPath}: ${(cause as Error).message}`, { cause });
    }
  }

  models(): BackendModel[] {
    return [
      {
        id: this.options.modelId,
        contextLength: this.contextSize,
        capabilities: ["embeddings"],
        embeddingLength: this.model.embeddingVectorSize,
      },
    ];
  }

  async countInputTokens(): Promise<number | undefined> {
    return undefined;
  }

  async complete(): Promise<{ completion: ChatCompletion; usage: Usage }> {
    throw badRequest(`${this.options.modelId} is an embedding model: use /v1/embeddings`);
  }

  // biome-ignore lint/correctness/useYield: an embedding model refuses chat before producing anything
  async *stream(): AsyncGenerator<ChatCompletionChunk, Usage> {
    throw badRequest(`${this.options.modelId} is an embedding model: use /v1/embeddings`);
  }

  /**
   * A text's tokens: on the event loop when the request's inputs are short in all (`inline`: less than a
   * hand-off to the worker costs), else in the tokenizer's worker (so a large body never stalls the node).
   * Both use the model's vocabulary the same way.
   */
  private tokenize(text: string, inline: boolean): Promise<number[]> | number[] {
    return inline ? (this.model.tokenize(text, false) as number[]) : this.tokenizer.tokenize(text);
  }

  /** Whether the inputs of one request are short enough, in all, to tokenize on the event loop. */
  private static inline(inputs: string[]): boolean {
    let chars = 0;
    for (const text of inputs) chars += text.length;
    return chars <= INLINE_TOKENIZE_CHARS;
  }

  /** Tokens each input is evaluated as: its text's tokens plus the model's beginning and end tokens. */
  private evaluatedLength(tokens: number[]): number {
    return this.contexts[0]!.calculateInputLength(tokens as Token[]);
  }

  async countEmbeddingTokens(inputs: string[]): Promise<number[]> {
    const inline = LlamaEmbeddingBackend.inline(inputs);
    const tokenized = await Promise.all(inputs.map((text) => this.tokenize(text, inline)));
    return tokenized.map((tokens) => this.evaluatedLength(tokens));
  }

  async embed(inputs: string[], options: EmbeddingOptions): Promise<EmbeddingResult> {
    const inline = LlamaEmbeddingBackend.inline(inputs);
    const context = await this.acquire();
    try {
      const vectors: Float32Array[] = [];
      let inputTokens = 0;
      for (const text of inputs) {
        if (options.signal.aborted) throw new BackendError("the client went away");
        const tokens = await this.tokenize(text, inline);
        const length = this.evaluatedLength(tokens);
        if (length >= this.contextSize) throw badRequest(`an input has ${length} tokens; the context holds ${this.contextSize}`);
        const embedding = await context.getEmbeddingFor(tokens as Token[]);
        vectors.push(normalize(Float32Array.from(embedding.vector)));
        inputTokens += length;
      }
      return { vectors, inputTokens };
    } finally {
      this.release(context);
    }
  }

  private acquire(): Promise<LlamaEmbeddingContext> {
    if (this.closed) return Promise.reject(new BackendError("the llama backend is closed"));
    const context = this.free.pop();
    if (context) return Promise.resolve(context);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(context: LlamaEmbeddingContext): void {
    const next = this.waiting.shift();
    if (next) next.resolve(context);
    else this.free.push(context);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new BackendError("the llama backend is closed"));
    await this.tokenizer.close();
    for (const c of this.contexts) await c.dispose().catch(() => undefined);
    await this.model.dispose().catch(() => undefined);
    await this.llama.dispose().catch(() => undefined);
  }
}
