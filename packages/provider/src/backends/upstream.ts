import { readSseJson, SseJsonError } from "@0g-compute/core";
import {
  BackendError,
  type Backend,
  type BackendModel,
  type ChatBody,
  type ChatCompletion,
  type ChatCompletionChunk,
  type GenerationLimits,
  type Usage,
} from "../backend.js";

/** Options for {@link UpstreamBackend}. */
export interface UpstreamOptions {
  /** Base URL of the OpenAI-compatible server, e.g. `http://127.0.0.1:8000/v1` (vLLM, llama.cpp server, Ollama). */
  baseUrl: string;
  /** Bearer key for the upstream, if it needs one. */
  apiKey?: string;
  /** Models served: the id clients use, the upstream's own name, and the context length. */
  models: { id: string; upstreamModel?: string; contextLength: number; capabilities?: string[] }[];
  /** Per-request timeout before the first byte (default 120 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

interface UpstreamUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
}

/**
 * An upstream OpenAI-compatible server. Usage is required on every answer (streams ask for it with
 * `stream_options.include_usage`); an answer without usage is a backend error, never billed on a
 * guess. If the client disconnects mid-stream, the upstream request is aborted and the output
 * produced so far is billed by chunk count (each upstream content chunk carries one token).
 */
export class UpstreamBackend implements Backend {
  readonly kind = "upstream" as const;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: UpstreamOptions) {
    this.doFetch = options.fetch ?? fetch;
  }

  models(): BackendModel[] {
    return this.options.models.map((m) => ({
      id: m.id,
      contextLength: m.contextLength,
      capabilities: m.capabilities ?? ["chat", "stream", "tools", "json_schema"],
    }));
  }

  async countInputTokens(): Promise<number | undefined> {
    return undefined;
  }

  private request(body: ChatBody, limits: GenerationLimits, stream: boolean): Promise<Response> {
    const model = this.options.models.find((m) => m.id === body.model) ?? this.options.models[0];
    const { max_completion_tokens: _drop, ...rest } = body;
    const upstreamBody = {
      ...rest,
      model: model?.upstreamModel ?? model?.id ?? body.model,
      max_tokens: limits.maxOutputTokens,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    };
    const signal = AbortSignal.any([limits.signal, AbortSignal.timeout(this.options.timeoutMs ?? 120_000)]);
    return this.doFetch(`${this.options.baseUrl.replace(/\/+$/, "")}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}) },
      body: JSON.stringify(upstreamBody),
      signal,
    });
  }

  async complete(body: ChatBody, limits: GenerationLimits): Promise<{ completion: ChatCompletion; usage: Usage }> {
    let res: Response;
    try {
      res = await this.request(body, limits, false);
    } catch (cause) {
      throw new BackendError(`upstream unreachable: ${(cause as Error).message}`, { cause });
    }
    const text = await res.text();
    if (!res.ok) throw new BackendError(`upstream answered ${res.status}: ${text.slice(0, 200)}`);
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
    let res: Response;
    try {
      res = await this.request(body, limits, true);
    } catch (cause) {
      throw new BackendError(`upstream unreachable: ${(cause as Error).message}`, { cause });
    }
    if (!res.ok || !res.body) throw new BackendError(`upstream answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    let usage: UpstreamUsage | undefined;
    let contentChunks = 0;
    try {
      for await (const chunk of readSseJson<ChatCompletionChunk & { usage?: UpstreamUsage }>(res.body)) {
        if (chunk.usage) usage = chunk.usage;
        if (Array.isArray(chunk.choices) && chunk.choices.length > 0) {
          const { usage: _u, ...rest } = chunk;
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

  async close(): Promise<void> {
    // Nothing held open.
  }
}
