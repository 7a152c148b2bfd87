import { z } from "zod";
import { ZeroGError } from "@0g-compute/core";

/** An OpenAI chat message, as accepted on the wire (content as a string or a list of text parts). */
export const messageSchema = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string(), text: z.string().optional() })), z.null()]).optional(),
  name: z.string().optional(),
  tool_call_id: z.string().optional(),
  tool_calls: z
    .array(
      z.looseObject({ id: z.string(), type: z.literal("function"), function: z.looseObject({ name: z.string(), arguments: z.string() }) }),
    )
    .optional(),
});

/** The tool definition of the OpenAI API. */
export const toolSchema = z.looseObject({
  type: z.literal("function"),
  function: z.looseObject({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** The subset of `POST /v1/chat/completions` the provider serves; unknown fields pass through to upstreams. */
export const chatBodySchema = z.looseObject({
  model: z.string().min(1).optional(),
  messages: z.array(messageSchema).min(1),
  max_tokens: z.number().int().positive().optional(),
  max_completion_tokens: z.number().int().positive().optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  seed: z.number().int().optional(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).optional(),
  stream: z.boolean().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).optional(),
  tools: z.array(toolSchema).optional(),
  tool_choice: z
    .union([
      z.enum(["none", "auto", "required"]),
      z.looseObject({ type: z.literal("function"), function: z.looseObject({ name: z.string() }) }),
    ])
    .optional(),
  parallel_tool_calls: z.boolean().optional(),
  response_format: z
    .union([
      z.looseObject({ type: z.literal("text") }),
      z.looseObject({ type: z.literal("json_object") }),
      z.looseObject({
        type: z.literal("json_schema"),
        json_schema: z.looseObject({
          name: z.string().optional(),
          schema: z.record(z.string(), z.unknown()).optional(),
          strict: z.boolean().optional(),
        }),
      }),
    ])
    .optional(),
  n: z.literal(1).optional(),
});
export type ChatBody = z.infer<typeof chatBodySchema>;

/** Most inputs one embeddings request may carry (OpenAI's own limit). */
export const MAX_EMBEDDING_INPUTS = 2048;

/**
 * `POST /v1/embeddings` as the provider serves it: one text or a list of texts (token-id inputs are
 * refused), vectors as JSON floats or base64 (little-endian float32), `dimensions` where the model allows it.
 */
export const embeddingsBodySchema = z.looseObject({
  model: z.string().min(1).optional(),
  input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(MAX_EMBEDDING_INPUTS)]),
  encoding_format: z.enum(["float", "base64"]).optional(),
  dimensions: z.number().int().positive().optional(),
  user: z.string().optional(),
});
export type EmbeddingsBody = z.infer<typeof embeddingsBodySchema>;
export type ChatMessage = z.infer<typeof messageSchema>;

/** A model a backend serves. */
export interface BackendModel {
  /** The model id clients send (the registry's `model`). */
  id: string;
  contextLength: number;
  /** e.g. ["chat", "tools", "json_schema", "stream"], or ["embeddings"] for an embedding model. */
  capabilities: string[];
  /** An embedding model's vector size. */
  embeddingLength?: number;
}

/** Token counts of one generation. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

/** Limits for one generation. */
export interface GenerationLimits {
  /** Hard limit on output tokens (from `max_tokens` and what `maxCost` allows). */
  maxOutputTokens: number;
  /** Fires when the client goes away: stop generating, and bill only what was produced. */
  signal: AbortSignal;
}

/** A chat completion object (OpenAI shape); `usage` is set by the provider. */
export type ChatCompletion = Record<string, unknown> & { choices: unknown[] };
/**
 * A streamed chunk: its `choices` (and any other field of the OpenAI shape) without `id`, `object`,
 * `created`, `model` and `usage`, which the provider writes itself once per stream.
 */
export type ChatCompletionChunk = Record<string, unknown> & { choices: unknown[] };

/** What an embedding backend returned: one vector per input, in order, and the input tokens it used. */
export interface EmbeddingResult {
  vectors: Float32Array[];
  inputTokens: number;
}

/** Options of one embeddings request. */
export interface EmbeddingOptions {
  /** Fires when the client goes away: stop, and bill nothing. */
  signal: AbortSignal;
  /** The vector size asked for (checked against the model at admission; upstreams decide themselves). */
  dimensions?: number;
}

/** An upstream's answer to a forwarded request, byte for byte. */
export interface ForwardedAnswer {
  status: number;
  bytes: Uint8Array;
  contentType: string;
}

/**
 * An inference engine behind the provider: the embedded llama.cpp or an upstream OpenAI-compatible
 * server. The provider handles money; a backend only generates and counts tokens exactly.
 */
export interface Backend {
  readonly kind: "llama" | "upstream";
  models(): BackendModel[];
  /** Exact input tokens before generating, when the backend can tell (llama); undefined otherwise. */
  countInputTokens(body: ChatBody): Promise<number | undefined>;
  /** One whole completion. */
  complete(body: ChatBody, limits: GenerationLimits): Promise<{ completion: ChatCompletion; usage: Usage }>;
  /** A stream of chunks (no usage chunk); returns the usage when done or aborted. */
  stream(body: ChatBody, limits: GenerationLimits): AsyncGenerator<ChatCompletionChunk, Usage>;
  /** Exact tokens of each input of an embeddings request, when the backend can tell (llama); set only by embedding backends. */
  countEmbeddingTokens?(inputs: string[]): Promise<number[] | undefined>;
  /** Embeddings of `inputs`, in order; set only by backends that serve an embedding model. */
  embed?(inputs: string[], options: EmbeddingOptions): Promise<EmbeddingResult>;
  /**
   * Send a request to another OpenAI endpoint of the upstream (`path` under its base URL, e.g.
   * `/images/generations`), a JSON body or a multipart form whose `model` names one of {@link models},
   * and return its answer untouched; set only by upstream backends.
   */
  forward?(path: string, body: { json: Record<string, unknown> } | { form: FormData }, signal: AbortSignal): Promise<ForwardedAnswer>;
  close(): Promise<void>;
}

/** The backend failed (crashed, refused, answered without usage). The request is not billed unless output was produced. */
export class BackendError extends ZeroGError {
  constructor(message: string, options: { cause?: unknown; status?: number } = {}) {
    super("BACKEND_ERROR", message, options.cause === undefined ? {} : { cause: options.cause });
    this.status = options.status ?? 502;
  }
  readonly status: number;
}

/** A request the backend cannot serve as given: answered `400 invalid_request`, before anything is reserved. */
export function badRequest(message: string): BackendError {
  return new BackendError(message, { status: 400 });
}

/** Text of a message's content (string or text parts). */
export function messageText(m: ChatMessage): string {
  if (typeof m.content === "string") return m.content;
  if (Array.isArray(m.content)) return m.content.map((p) => p.text ?? "").join("");
  return "";
}
