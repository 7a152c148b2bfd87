import { InvalidArgumentError } from "./errors.js";
import type { Terms } from "./ticket.js";
import { MAX_UINT128 } from "./uint.js";

/**
 * How many input tokens a chat request may be billed for, and what its ticket may cost. Client and
 * provider compute both from the same bytes with the same functions, so a receipt the client would refuse
 * can never be billed: the provider refuses a request whose rendered prompt is longer than this bound
 * before it reserves anything.
 *
 * Why bytes bound tokens: every token of a tokenizer's vocabulary renders to at least one byte (byte
 * fallback, BPE merges), except the special tokens a chat template puts around messages, which stand for
 * many bytes each. So the tokens of a rendered prompt are at most its bytes, and the prompt's bytes are the
 * request's bytes (message texts, tool schemas) plus what the template adds. The allowances below are that
 * addition, measured over node-llama-cpp's chat wrappers (ChatML, Llama 3 / 3.1 / 3.2, Qwen, Mistral,
 * Gemma, DeepSeek, Functionary, Harmony and others): at most 251 bytes without tools; with tools, 1,394
 * bytes for two functions and 2,293 for twenty (Llama 3.1 renders each function with ~60 bytes more than
 * its JSON). See docs/protocol.md, "Maximum cost".
 */

/** Tokens any chat template may add around the messages (role markers, BOS, default system lines, dates). */
export const TEMPLATE_TOKEN_ALLOWANCE = 256;
/** Tokens a template may add when tools are offered (function-calling instructions). */
export const TOOLS_TOKEN_ALLOWANCE = 1536;
/** Tokens a template may add per tool offered, beyond the tool's own JSON. */
export const TOKENS_PER_TOOL = 128;
/** Tokens a server may add for `response_format` json_object / json_schema (instructions to answer in JSON). */
export const RESPONSE_FORMAT_TOKEN_ALLOWANCE = 256;
/** `max_tokens` the SDK sets on a request that has none. */
export const DEFAULT_MAX_TOKENS = 512;

/** The parts of a chat request that decide its input bound (any OpenAI chat-completions body). */
export interface ChatRequestShape {
  tools?: unknown;
  tool_choice?: unknown;
  response_format?: unknown;
}

/**
 * The most input tokens a chat request of `rawBytes` bytes (the exact bytes sent, which the ticket's
 * request hash covers) can be billed for: its bytes plus the template's allowance, more when it offers
 * tools or asks for a JSON response format.
 *
 * @example
 * const raw = new TextEncoder().encode(JSON.stringify(body));
 * const bound = inputTokenBound(body, raw.length); // e.g. 2,100 + 256 + 1,536 + 2 × 128 with two tools
 */
export function inputTokenBound(body: ChatRequestShape, rawBytes: number): number {
  let bound = rawBytes + TEMPLATE_TOKEN_ALLOWANCE;
  const tools = Array.isArray(body.tools) ? body.tools.length : 0;
  if (tools > 0 && body.tool_choice !== "none") bound += TOOLS_TOKEN_ALLOWANCE + TOKENS_PER_TOOL * tools;
  const format = body.response_format;
  if (format && typeof format === "object" && "type" in format && (format.type === "json_object" || format.type === "json_schema")) {
    bound += RESPONSE_FORMAT_TOKEN_ALLOWANCE;
  }
  return bound;
}

/** The path of the paid embeddings endpoint, as hashed into a ticket's request hash. */
export const EMBEDDINGS_PATH = "/v1/embeddings";

/**
 * The most input tokens an embeddings request of `rawBytes` bytes (the exact bytes sent) can be billed
 * for: its bytes. Each input travels as a JSON string; every token of its text renders to at least one of
 * the text's bytes, and the string's two quotes cover the at most two special tokens (beginning and end)
 * an embedding model adds around an input. An embeddings request has no output tokens, so its maximum
 * cost is this bound at the input price (`maxCostFor(prices, bound, 0)`).
 *
 * @example
 * const raw = new TextEncoder().encode(JSON.stringify({ model: "embed", input: ["a cat", "a dog"] }));
 * const maxCost = maxCostFor(service, embeddingInputTokenBound(raw.length), 0);
 */
export function embeddingInputTokenBound(rawBytes: number): number {
  return rawBytes;
}

/** The path of the paid image-generation endpoint (services of kind "images", priced per image). */
export const IMAGES_PATH = "/v1/images/generations";
/** The path of the paid transcription endpoint (services of kind "transcription", priced per second of audio). */
export const TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions";
/** Most images one request may ask for. */
export const MAX_IMAGES_PER_REQUEST = 10;
/**
 * Bytes of audio per second at the lowest bitrate a transcription is priced for (4 kbit/s, below speech
 * codecs at usable quality): a file of B bytes is billed for at most ceil(B / 500) seconds.
 */
export const AUDIO_BYTES_PER_SECOND_FLOOR = 500;

/**
 * The most images an image request can be billed for: its `n` (default 1). Throws
 * {@link InvalidArgumentError} for an `n` that is not an integer from 1 to {@link MAX_IMAGES_PER_REQUEST}.
 *
 * @example
 * const maxCost = maxCostFor(service, imageUnitBound({ prompt: "a cat", n: 2 }), 0); // 2 x the price per image
 */
export function imageUnitBound(body: { n?: unknown }): number {
  const n = body.n ?? 1;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_IMAGES_PER_REQUEST)
    throw new InvalidArgumentError(`n must be an integer from 1 to ${MAX_IMAGES_PER_REQUEST}`);
  return n;
}

/**
 * The most seconds a transcription of an audio file of `fileBytes` bytes can be billed for (at least 1):
 * the file's bytes at {@link AUDIO_BYTES_PER_SECOND_FLOOR}. The provider bills what its upstream reports,
 * never more than this.
 *
 * @example
 * audioSecondsBound(480_000); // 960: a 30 s WAV at 16 kB/s is billed 30, never more than 960
 */
export function audioSecondsBound(fileBytes: number): number {
  return Math.max(1, Math.ceil(fileBytes / AUDIO_BYTES_PER_SECOND_FLOOR));
}

/** A transcription request as both sides read it from the bytes the ticket hashes. */
export interface TranscriptionRequest {
  form: FormData;
  model: string;
  /** The most seconds it can be billed for ({@link audioSecondsBound} of its file). */
  seconds: number;
}

/**
 * Read a transcription request (`multipart/form-data` with a `file` and a `model`) from its exact bytes.
 * Throws {@link InvalidArgumentError} when it is not one.
 *
 * @example
 * const { model, seconds } = await readTranscriptionRequest(bytes, "multipart/form-data; boundary=...");
 */
export async function readTranscriptionRequest(bytes: Uint8Array<ArrayBuffer>, contentType: string): Promise<TranscriptionRequest> {
  let form: FormData;
  try {
    if (!/^multipart\/form-data;/i.test(contentType)) throw new Error("not multipart");
    form = await new Response(bytes, { headers: { "content-type": contentType } }).formData();
  } catch {
    throw new InvalidArgumentError("a transcription request is multipart/form-data with a file and a model");
  }
  const file = form.get("file");
  const model = form.get("model");
  if (!file || typeof file === "string") throw new InvalidArgumentError("the transcription request has no audio file");
  if (typeof model !== "string" || model === "") throw new InvalidArgumentError("the transcription request names no model");
  return { form, model, seconds: audioSecondsBound(file.size) };
}

/**
 * The maximum cost a ticket authorizes: the input bound and `maxTokens` at the service's prices.
 * Throws {@link InvalidArgumentError} when it would not fit the ticket's uint128.
 */
export function maxCostFor(prices: Pick<Terms, "inputPrice" | "outputPrice">, inputBound: number, maxTokens: number): bigint {
  const cost = BigInt(inputBound) * prices.inputPrice + BigInt(maxTokens) * prices.outputPrice;
  if (cost > MAX_UINT128) throw new InvalidArgumentError(`the request's maximum cost ${cost} does not fit a ticket`, "lower max_tokens");
  return cost;
}

/**
 * Output tokens a ticket still pays for once `inputTokens` are billed: at most `maxTokens`, and at most
 * what its `maxCost` leaves at its output price. 0 when the input alone exceeds the maximum cost.
 */
export function affordableOutputTokens(
  terms: Pick<Terms, "inputPrice" | "outputPrice" | "maxCost">,
  inputTokens: number,
  maxTokens: number,
): number {
  const inputFee = BigInt(inputTokens) * terms.inputPrice;
  if (inputFee > terms.maxCost) return 0;
  if (terms.outputPrice === 0n) return maxTokens;
  const affordable = (terms.maxCost - inputFee) / terms.outputPrice;
  return affordable < BigInt(maxTokens) ? Number(affordable) : maxTokens;
}

/**
 * `max_tokens` (or `max_completion_tokens`) of a request: a positive safe integer. Throws
 * {@link InvalidArgumentError} for anything else (`1e30`, `-1`, `"64"`); undefined when absent.
 */
export function requestedMaxTokens(body: { max_tokens?: unknown; max_completion_tokens?: unknown }): number | undefined {
  for (const field of ["max_completion_tokens", "max_tokens"] as const) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw new InvalidArgumentError(
        `${field} must be a positive integer, got ${JSON.stringify(value)}`,
        "set max_tokens to the most tokens the answer may have",
      );
    }
    return value;
  }
  return undefined;
}
