import { Agent, request, type Dispatcher } from "undici";
import { readSseJson, SseJsonError } from "@0g-compute/core";
import {
  BackendError,
  type Backend,
  type BackendModel,
  type ChatBody,
  type ChatCompletion,
  type ChatCompletionChunk,
  type EmbeddingOptions,
  type EmbeddingResult,
  type ForwardedAnswer,
  type GenerationLimits,
  type Usage,
} from "../backend.js";

/** Options for {@link UpstreamBackend}. */
export interface UpstreamOptions {
  /** Base URL of the OpenAI-compatible server, e.g. `http://127.0.0.1:8000/v1` (vLLM, llama.cpp server, Ollama). */
  baseUrl: string;
  /** Bearer key for the upstream, if it needs one. */
  apiKey?: string;
  /**
   * Models served: the id clients use, the upstream's own name, and the context length. An embedding model
   * has the capabilities `["embeddings"]` and its vector size as `embeddingLength`.
   */
  models: { id: string; upstreamModel?: string; contextLength: number; capabilities?: string[]; embeddingLength?: number }[];
  /**
   * Longest wait for the upstream's answer to start, and then for each next piece of it (default 120 s): a
   * long generation that keeps streaming is never cut, a stalled one is.
   */
  timeoutMs?: number;
}

interface UpstreamUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
}

/**
 * An upstream OpenAI-compatible server, called through one keep-alive connection pool (undici): about a
 * tenth of the CPU per request of the global `fetch`, whose web streams and signals cost more than the
 * payment checks around them. Usage is required on every answer (streams ask for it with
 * `stream_options.include_usage`); an answer without usage is a backend error, never billed on a
 * guess. If the client disconnects mid-stream, the upstream request is aborted and the output
 * produced so far is billed by chunk count (each upstream content chunk carries one token).
 */
export class UpstreamBackend implements Backend {
  readonly kind = "upstream" as const;
  private readonly pool: Agent;
  private readonly url: string;
  private readonly embeddingsUrl: string;
  private readonly baseUrl: string;

  constructor(private readonly options: UpstreamOptions) {
    const timeout = options.timeoutMs ?? 120_000;
    this.pool = new Agent({ keepAliveTimeout: 30_000, headersTimeout: timeout, bodyTimeout: timeout });
    this.url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.embeddingsUrl = `${this.baseUrl}/embeddings`;
  }

  models(): BackendModel[] {
    return this.options.models.map((m) => ({
      id: m.id,
      contextLength: m.contextLength,
      capabilities: m.capabilities ?? ["chat", "stream", "tools", "json_schema"],
      ...(m.embeddingLength === undefined ? {} : { embeddingLength: m.embeddingLength }),
    }));
  }

  async countInputTokens(): Promise<number | undefined> {
    return undefined;
  }

  /** Send the request; a failure to connect or a timeout before the answer starts is a backend error. */
  private async request(body: ChatBody, limits: GenerationLimits, stream: boolean): Promise<Dispatcher.ResponseData> {
    const model = this.options.models.find((m) => m.id === body.model) ?? this.options.models[0];
    const { max_completion_tokens: _drop, ...rest } = body;
    const upstreamBody = {
      ...rest,
      model: model?.upstreamModel ?? model?.id ?? body.model,
      max_tokens: limits.maxOutputTokens,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    };
    try {
      return await request(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}) },
        body: JSON.stringify(upstreamBody),
        signal: limits.signal,
        dispatcher: this.pool,
      });
    } catch (cause) {
      throw new BackendError(`upstream unreachable: ${(cause as Error).message}`, { cause });
    }
  }

  /** The start of a failed answer, for the error (the rest is read and dropped so the connection is reused). */
  private static async failure(res: Dispatcher.ResponseData): Promise<BackendError> {
    const text = await res.body.text().catch(() => "");
    return new BackendError(`upstream answered ${res.statusCode}: ${text.slice(0, 200)}`);
  }

  async complete(body: ChatBody, limits: GenerationLimits): Promise<{ completion: ChatCompletion; usage: Usage }> {
    const res = await this.request(body, limits, false);
    if (res.statusCode < 200 || res.statusCode >= 300) throw await UpstreamBackend.failure(res);
    let text: string;
    try {
      text = await res.body.text();
    } catch (cause) {
      throw new BackendError(`upstream answer failed: ${(cause as Error).message}`, { cause });
    }
    let completion: ChatCompletion & { usage?: UpstreamUsage };
    try {
      completion = JSON.parse(text) as ChatCompletion & { usage?: UpstreamUsage };
    } catch (cause) {
      throw new BackendError("upstream answered invalid JSON", { cause });
    }
    const usage = completion.usage;
    if (typeof usage?.prompt_tokens !== "number" || typeof usage.completion_tokens !== "number") {
      throw new BackendError("upstream answered without usage; refusing to bill on a guess");
    }
    return {
      completion,
      usage: { inputTokens: usage.prompt_tokens, outputTokens: Math.min(usage.completion_tokens, limits.maxOutputTokens) },
    };
  }

  async *stream(body: ChatBody, limits: GenerationLimits): AsyncGenerator<ChatCompletionChunk, Usage> {
    const res = await this.request(body, limits, true);
    if (res.statusCode < 200 || res.statusCode >= 300) throw await UpstreamBackend.failure(res);
    let usage: UpstreamUsage | undefined;
    let contentChunks = 0;
    try {
      for await (const chunk of readSseJson<ChatCompletionChunk & { usage?: UpstreamUsage }>(res.body)) {
        if (chunk.usage) usage = chunk.usage;
        if (Array.isArray(chunk.choices) && chunk.choices.length > 0) {
          // The provider writes its own id, object, created, model and usage.
          const { usage: _u, id: _i, object: _o, created: _c, model: _m, ...rest } = chunk;
          contentChunks += 1;
          yield rest as ChatCompletionChunk;
        }
      }
    } catch (err) {
      if (limits.signal.aborted)
        return { inputTokens: usage?.prompt_tokens ?? 0, outputTokens: Math.min(contentChunks, limits.maxOutputTokens) };
      if (err instanceof SseJsonError) throw new BackendError("upstream streamed invalid JSON", { cause: err });
      throw new BackendError(`upstream stream failed: ${(err as Error).message}`, { cause: err });
    }
    if (limits.signal.aborted)
      return { inputTokens: usage?.prompt_tokens ?? 0, outputTokens: Math.min(contentChunks, limits.maxOutputTokens) };
    if (typeof usage?.prompt_tokens !== "number" || typeof usage.completion_tokens !== "number") {
      throw new BackendError("upstream stream ended without usage; refusing to bill on a guess");
    }
    return { inputTokens: usage.prompt_tokens, outputTokens: Math.min(usage.completion_tokens, limits.maxOutputTokens) };
  }

  /**
   * The upstream's `/v1/embeddings`, asked for float vectors (the provider encodes them as the client
   * asked). Its `usage.prompt_tokens` is required: an answer without it is a backend error, never billed on
   * a guess; so is one with another number of vectors than inputs.
   */
  async embed(inputs: string[], options: EmbeddingOptions): Promise<EmbeddingResult> {
    const model = this.options.models.find((m) => m.capabilities?.includes("embeddings")) ?? this.options.models[0];
    const body = {
      model: model?.upstreamModel ?? model?.id,
      input: inputs,
      encoding_format: "float",
      ...(options.dimensions === undefined ? {} : { dimensions: options.dimensions }),
    };
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.embeddingsUrl, {
        method: "POST",
        headers: { "content-type": "application/json", ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}) },
        body: JSON.stringify(body),
        signal: options.signal,
        dispatcher: this.pool,
      });
    } catch (cause) {
      throw new BackendError(`upstream unreachable: ${(cause as Error).message}`, { cause });
    }
    if (res.statusCode < 200 || res.statusCode >= 300) throw await UpstreamBackend.failure(res);
    let answer: { data?: { index?: number; embedding?: unknown }[]; usage?: UpstreamUsage };
    try {
      answer = JSON.parse(await res.body.text()) as typeof answer;
    } catch (cause) {
      throw new BackendError("upstream answered invalid JSON", { cause });
    }
    if (typeof answer.usage?.prompt_tokens !== "number")
      throw new BackendError("upstream answered without usage; refusing to bill on a guess");
    const data = Array.isArray(answer.data) ? answer.data : [];
    const vectors: Float32Array[] = new Array(inputs.length);
    for (const [i, item] of data.entries()) {
      const index = item.index ?? i;
      const v = item.embedding;
      if (
        !Number.isInteger(index) ||
        index < 0 ||
        index >= inputs.length ||
        vectors[index] ||
        !Array.isArray(v) ||
        v.some((x) => typeof x !== "number")
      )
        throw new BackendError("upstream answered malformed embeddings");
      vectors[index] = Float32Array.from(v as number[]);
    }
    if (data.length !== inputs.length) throw new BackendError(`upstream answered ${data.length} embeddings for ${inputs.length} inputs`);
    return { vectors, inputTokens: answer.usage.prompt_tokens };
  }

  /** Another OpenAI endpoint of the upstream (images, audio...), its model renamed to the upstream's; answered byte for byte. */
  async forward(path: string, body: { json: Record<string, unknown> } | { form: FormData }, signal: AbortSignal): Promise<ForwardedAnswer> {
    const upstreamName = (id: unknown) => {
      const model = this.options.models.find((m) => m.id === id);
      return model?.upstreamModel ?? model?.id ?? String(id);
    };
    let encoded: { bytes: Uint8Array; contentType: string };
    if ("json" in body) {
      encoded = {
        bytes: Buffer.from(JSON.stringify({ ...body.json, model: upstreamName(body.json.model) })),
        contentType: "application/json",
      };
    } else {
      const form = new FormData();
      for (const [name, value] of body.form) form.append(name, name === "model" ? upstreamName(value) : value);
      const multipart = new Response(form);
      encoded = { bytes: new Uint8Array(await multipart.arrayBuffer()), contentType: multipart.headers.get("content-type")! };
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${this.baseUrl}${path}`, {
        method: "POST",
        headers: {
          "content-type": encoded.contentType,
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: encoded.bytes,
        signal,
        dispatcher: this.pool,
      });
    } catch (cause) {
      throw new BackendError(`upstream unreachable: ${(cause as Error).message}`, { cause });
    }
    try {
      const bytes = new Uint8Array(await res.body.arrayBuffer());
      const type = res.headers["content-type"];
      return { status: res.statusCode, bytes, contentType: (Array.isArray(type) ? type[0] : type) ?? "application/octet-stream" };
    } catch (cause) {
      throw new BackendError(`upstream answer failed: ${(cause as Error).message}`, { cause });
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
