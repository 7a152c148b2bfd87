import type { Address, Hex, LocalAccount } from "viem";
import {
  decodeHeader,
  formatAmount,
  ProviderError,
  RECEIPT_FIELD,
  RECEIPT_HEADER,
  receiptFromWire,
  type SpendingLimit,
  readSseJson,
  SseJsonError,
  type LaneStore,
  type NetworkConfig,
  type NetworkOverrides,
  type NetworkPreset,
  type SortBy,
  type VerifiedReceipt,
} from "@0g-compute/core";
import type { BaseLanguageModelInput, StructuredOutputMethodOptions } from "@langchain/core/language_models/base";
import {
  BaseChatModel,
  type BaseChatModelCallOptions,
  type BaseChatModelParams,
  type BindToolsInput,
  type LangSmithParams,
} from "@langchain/core/language_models/chat_models";
import {
  createContentParser,
  createFunctionCallingParser,
  assembleStructuredOutputPipeline,
} from "@langchain/core/language_models/structured_output";
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager";
import { AIMessageChunk, type AIMessageChunkFields, type BaseMessage, type UsageMetadata } from "@langchain/core/messages";
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs";
import type { Serialized } from "@langchain/core/load/serializable";
import type { Runnable } from "@langchain/core/runnables";
import { toJsonSchema } from "@langchain/core/utils/json_schema";
import { getSchemaDescription, isInteropZodSchema, type InteropZodType } from "@langchain/core/utils/types";
import { isSerializableSchema, type SerializableSchema } from "@langchain/core/utils/standard_schema";
import {
  completionToMessage,
  contentText,
  deltaToChunk,
  toOpenAIMessages,
  toOpenAITool,
  toOpenAIToolChoice,
  usageMetadata,
  type OpenAICompletion,
  type OpenAIStreamChunk,
  type OpenAITool,
  type OpenAIUsage,
} from "./convert.js";
import {
  type Connection,
  connectionFieldsOf,
  openConnection,
  retryOnlyTransient,
  serializableFields,
  type ZeroGConnectionFields,
} from "./connection.js";
import { ChatZeroGError } from "./errors.js";

/** `response_format` of the OpenAI API: free text, any JSON object, or JSON following a schema. */
export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; json_schema: { name: string; description?: string; schema: Record<string, unknown>; strict?: boolean } };

/** Per-call options of {@link ChatZeroG} (tools, tool choice, stop sequences, JSON output...). */
export interface ChatZeroGCallOptions extends BaseChatModelCallOptions {
  /** Tools the model may call (LangChain tools or OpenAI-format tools); usually set through `bindTools`. */
  tools?: BindToolsInput[];
  /** Whether the model may call several tools in one turn (the provider's default when unset). */
  parallel_tool_calls?: boolean;
  /** JSON output; usually set through `withStructuredOutput`. */
  response_format?: ResponseFormat;
  /** Cap on output tokens for this call. */
  maxTokens?: number;
}

/** Constructor fields of {@link ChatZeroG}: how to pay (see {@link ZeroGConnectionFields}) and how to ask. */
export interface ChatZeroGInput extends BaseChatModelParams, ZeroGConnectionFields {
  temperature?: number;
  topP?: number;
  /** Output token cap per request (default 512); the maximum cost a ticket authorizes follows from it. */
  maxTokens?: number;
  /** Milliseconds before a request is abandoned. */
  timeout?: number;
  /** Stop sequences for every call. */
  stopSequences?: string[];
  /** Alias of `stopSequences`. */
  stop?: string[];
  /** `invoke` streams underneath (callbacks get every token). */
  streaming?: boolean;
}

/** What `response_metadata` carries for a paid answer. */
export interface ZeroGResponseMetadata {
  /** The model that answered. */
  model: string;
  /** The provider paid (address). */
  provider?: Address;
  /** The service id in the registry. */
  service_id?: Hex;
  /** Fee paid for this answer, in wei (decimal string). */
  cost_wei?: string;
  /** The same fee in 0G (decimal string). */
  cost_0g?: string;
  /** The provider's signed receipt was checked (signature, token bounds, fee at the ticket's prices) and acknowledged. */
  receipt_verified: boolean;
  finish_reason?: string | null;
  /** The provider's id for the completion. */
  completion_id?: string;
}

const BASE_URL = "http://0g.invalid/v1/chat/completions";

/**
 * A LangChain.js chat model that buys inference on the 0G Compute network: each request is paid
 * from the user's escrow with a signed ticket, and every answer's signed receipt is verified before
 * its fee is acknowledged. Providers are chosen from the on-chain registry by model, price and
 * latency, with failover to the next one.
 *
 * @example
 * const model = new ChatZeroG({ network: "devnet", privateKey: "0x...", model: "test-scripted", maxSpend: "0.01" });
 * const reply = await model.invoke("Hello");
 * console.log(reply.content, reply.response_metadata.cost_0g);
 * await model.close();
 */
export class ChatZeroG extends BaseChatModel<ChatZeroGCallOptions, AIMessageChunk> implements ChatZeroGInput {
  static override lc_name(): string {
    return "ChatZeroG";
  }

  override lc_serializable = true;

  override get lc_secrets(): { [key: string]: string } | undefined {
    return { privateKey: "ZG_PRIVATE_KEY", sessionKey: "ZG_SESSION_KEY" };
  }

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
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  timeout?: number;
  stopSequences?: string[];
  streaming = false;
  store?: LaneStore;
  onReceipt?: (receipt: VerifiedReceipt) => void;
  fetch?: typeof fetch;

  private connection: Promise<Connection> | undefined;
  private readonly verified = new Map<string, VerifiedReceipt>();

  constructor(fields: ChatZeroGInput = {}) {
    super({ maxRetries: 2, onFailedAttempt: retryOnlyTransient, ...serializableFields(fields) });
    if (!fields.model && !fields.provider)
      throw new ChatZeroGError(
        "CHAT_CONFIG",
        "ChatZeroG needs a model (or a provider address)",
        'pass model: "<model id from the registry>"',
      );
    Object.assign(this, connectionFieldsOf(fields), {
      ...(fields.temperature !== undefined ? { temperature: fields.temperature } : {}),
      ...(fields.topP !== undefined ? { topP: fields.topP } : {}),
      ...(fields.maxTokens !== undefined ? { maxTokens: fields.maxTokens } : {}),
      ...(fields.timeout !== undefined ? { timeout: fields.timeout } : {}),
      ...(fields.streaming !== undefined ? { streaming: fields.streaming } : {}),
    });
    const stop = fields.stop ?? fields.stopSequences;
    if (stop !== undefined) this.stopSequences = stop;
  }

  /** The serialized model (keys replaced by secret references; amounts as decimal strings). */
  override toJSON(): Serialized {
    return JSON.parse(
      JSON.stringify(super.toJSON(), (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value)),
    ) as Serialized;
  }

  _llmType(): string {
    return "0g-compute";
  }

  /** Receipts verified by this model so far, oldest first (empty before the first request). */
  async receipts(): Promise<readonly VerifiedReceipt[]> {
    return this.connection ? (await this.connection).paidFetch.receipts : [];
  }

  /** Spending against `maxSpend` (or the shared limit): cap, spent, reserved, remaining, in wei. */
  spending(): ReturnType<SpendingLimit["status"]> {
    return this.spendingLimit?.status() ?? [];
  }

  /** Send the pending fee acknowledgements to the providers and release timers. Call when done. */
  async close(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    this.connection = undefined;
    await (await connection.catch(() => undefined))?.paidFetch.close();
  }

  override getLsParams(options: this["ParsedCallOptions"]): LangSmithParams {
    const stop = options?.stop ?? this.stopSequences;
    return {
      ls_provider: "0g-compute",
      ls_model_name: this.model ?? this.provider ?? "",
      ls_model_type: "chat",
      ...(this.temperature === undefined ? {} : { ls_temperature: this.temperature }),
      ...((options?.maxTokens ?? this.maxTokens) === undefined ? {} : { ls_max_tokens: (options?.maxTokens ?? this.maxTokens) as number }),
      ...(stop === undefined ? {} : { ls_stop: stop }),
    };
  }

  /** The chat-completions parameters a call sends (without the messages). */
  override invocationParams(options?: this["ParsedCallOptions"]): Record<string, unknown> {
    const stop = options?.stop ?? this.stopSequences;
    const maxTokens = options?.maxTokens ?? this.maxTokens;
    const tools = options?.tools?.map(toOpenAITool);
    const toolChoice = toOpenAIToolChoice(options?.tool_choice);
    return {
      ...(this.model !== undefined ? { model: this.model } : {}),
      ...(this.temperature !== undefined ? { temperature: this.temperature } : {}),
      ...(this.topP !== undefined ? { top_p: this.topP } : {}),
      ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
      ...(stop !== undefined && stop.length > 0 ? { stop } : {}),
      ...(tools !== undefined && tools.length > 0 ? { tools } : {}),
      ...(tools !== undefined && tools.length > 0 && toolChoice !== undefined ? { tool_choice: toolChoice } : {}),
      ...(options?.parallel_tool_calls !== undefined ? { parallel_tool_calls: options.parallel_tool_calls } : {}),
      ...(options?.response_format !== undefined ? { response_format: options.response_format } : {}),
    };
  }

  /**
   * Bind tools (LangChain tools, runnable tools, `{name, description, schema}` or OpenAI-format
   * tools) to the model; `kwargs` may set `tool_choice` and `parallel_tool_calls`.
   *
   * @example
   * const withTools = model.bindTools([getWeather], { tool_choice: "auto" });
   * const reply = await withTools.invoke("Weather in Paris?"); // reply.tool_calls
   */
  override bindTools(
    tools: BindToolsInput[],
    kwargs?: Partial<ChatZeroGCallOptions>,
  ): Runnable<BaseLanguageModelInput, AIMessageChunk, ChatZeroGCallOptions> {
    return this.withConfig({ tools: tools.map(toOpenAITool), ...kwargs } as Partial<ChatZeroGCallOptions>);
  }

  /**
   * Structured output, by a forced function call (`functionCalling`, the default), by the provider's
   * JSON-schema decoding (`jsonSchema`), or by JSON mode (`jsonMode`: describe the shape in the prompt).
   * `includeRaw` returns `{ raw, parsed }`.
   *
   * @example
   * const joke = model.withStructuredOutput(z.object({ setup: z.string(), punchline: z.string() }), { method: "jsonSchema" });
   * const { setup, punchline } = await joke.invoke("Tell me a joke");
   */
  override withStructuredOutput<RunOutput extends Record<string, unknown> = Record<string, unknown>>(
    outputSchema: InteropZodType<RunOutput> | SerializableSchema<RunOutput> | Record<string, unknown>,
    config?: StructuredOutputMethodOptions<false>,
  ): Runnable<BaseLanguageModelInput, RunOutput>;
  override withStructuredOutput<RunOutput extends Record<string, unknown> = Record<string, unknown>>(
    outputSchema: InteropZodType<RunOutput> | SerializableSchema<RunOutput> | Record<string, unknown>,
    config?: StructuredOutputMethodOptions<true>,
  ): Runnable<BaseLanguageModelInput, { raw: BaseMessage; parsed: RunOutput }>;
  override withStructuredOutput<RunOutput extends Record<string, unknown> = Record<string, unknown>>(
    outputSchema: InteropZodType<RunOutput> | SerializableSchema<RunOutput> | Record<string, unknown>,
    config?: StructuredOutputMethodOptions<boolean>,
  ): Runnable<BaseLanguageModelInput, RunOutput> | Runnable<BaseLanguageModelInput, { raw: BaseMessage; parsed: RunOutput }> {
    const method = config?.method ?? "functionCalling";
    const typed = isInteropZodSchema(outputSchema) || isSerializableSchema(outputSchema);
    const jsonSchema = (typed ? toJsonSchema(outputSchema as Parameters<typeof toJsonSchema>[0]) : outputSchema) as Record<string, unknown>;
    const plainName =
      !typed && typeof (outputSchema as { title?: unknown }).title === "string" ? (outputSchema as { title: string }).title : undefined;
    const name = config?.name ?? plainName ?? "extract";
    const description =
      getSchemaDescription(outputSchema as Parameters<typeof getSchemaDescription>[0]) ??
      (typeof jsonSchema.description === "string" ? jsonSchema.description : undefined);
    const tracing = { ls_structured_output_format: { kwargs: { method }, schema: jsonSchema } };
    const schema = outputSchema as InteropZodType<RunOutput>;
    const runName = config?.includeRaw ? "StructuredOutputRunnable" : "StructuredOutput";
    if (method === "functionCalling") {
      const tool: OpenAITool = {
        type: "function",
        function: {
          name,
          ...(description ? { description } : {}),
          parameters: jsonSchema,
          ...(config?.strict !== undefined ? { strict: config.strict } : {}),
        },
      };
      const llm = this.withConfig({
        tools: [tool],
        tool_choice: { type: "function", function: { name } },
        ...tracing,
      } as Partial<ChatZeroGCallOptions>);
      const parser = createFunctionCallingParser<RunOutput>(schema, name);
      return assembleStructuredOutputPipeline<RunOutput>(llm, parser, config?.includeRaw, runName);
    }
    if (method === "jsonSchema" || method === "jsonMode") {
      const response_format: ResponseFormat =
        method === "jsonSchema"
          ? {
              type: "json_schema",
              json_schema: {
                name,
                ...(description ? { description } : {}),
                schema: jsonSchema,
                ...(config?.strict !== undefined ? { strict: config.strict } : {}),
              },
            }
          : { type: "json_object" };
      const llm = this.withConfig({ response_format, ...tracing } as Partial<ChatZeroGCallOptions>);
      const parser = createContentParser<RunOutput>(schema);
      return assembleStructuredOutputPipeline<RunOutput>(llm, parser, config?.includeRaw, runName);
    }
    throw new ChatZeroGError("CHAT_CONFIG", `unknown structured output method "${method}"`, "use functionCalling, jsonSchema or jsonMode");
  }

  // ------------------------------------------------------------------ the paid requests

  private connect(): Promise<Connection> {
    if (!this.connection) {
      const pending = this.openConnection();
      this.connection = pending;
      // A failed start (unreachable RPC, missing key) is retried by the next call.
      pending.catch(() => {
        if (this.connection === pending) this.connection = undefined;
      });
    }
    return this.connection;
  }

  private openConnection(): Promise<Connection> {
    return openConnection(this, (receipt) => {
      this.verified.set(receipt.ticketDigest, receipt);
      // Receipts whose answer was abandoned are never looked up: keep the map bounded.
      if (this.verified.size > 1000) this.verified.delete(this.verified.keys().next().value!);
      this.onReceipt?.(receipt);
    });
  }

  private signalFor(options: this["ParsedCallOptions"]): AbortSignal | undefined {
    const signals = [options.signal, this.timeout !== undefined ? AbortSignal.timeout(this.timeout) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    return signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
  }

  private async post(body: Record<string, unknown>, signal: AbortSignal | undefined): Promise<Response> {
    const { paidFetch } = await this.connect();
    signal?.throwIfAborted();
    return paidFetch(BASE_URL, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });
  }

  /** Response metadata for the answer whose receipt covers ticket `digest`. */
  private paidMetadata(digest: string | undefined, model: string | undefined): ZeroGResponseMetadata {
    const receipt = digest ? this.verified.get(digest) : undefined;
    if (digest) this.verified.delete(digest);
    const meta: ZeroGResponseMetadata = { model: receipt?.model ?? model ?? this.model ?? "", receipt_verified: receipt !== undefined };
    if (receipt) {
      meta.provider = receipt.provider;
      meta.service_id = receipt.serviceId;
      meta.cost_wei = receipt.fee.toString();
      meta.cost_0g = formatAmount(receipt.fee).replace(/ 0G$/, "");
    }
    return meta;
  }

  private body(messages: BaseMessage[], options: this["ParsedCallOptions"], stream: boolean): Record<string, unknown> {
    return {
      ...this.invocationParams(options),
      messages: toOpenAIMessages(messages),
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    };
  }

  async _generate(messages: BaseMessage[], options: this["ParsedCallOptions"], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    options.signal?.throwIfAborted();
    if (this.streaming) {
      let final: ChatGenerationChunk | undefined;
      for await (const chunk of this._streamResponseChunks(messages, options, runManager)) final = final ? final.concat(chunk) : chunk;
      if (!final) throw new ChatZeroGError("CHAT_BAD_RESPONSE", "the stream ended without any chunk");
      return {
        generations: [
          { text: final.text, message: final.message, ...(final.generationInfo ? { generationInfo: final.generationInfo } : {}) },
        ],
        llmOutput: { tokenUsage: tokenUsage(final.message) },
      };
    }
    const signal = this.signalFor(options);
    const body = this.body(messages, options, false);
    const res = await this.caller.callWithOptions(signal ? { signal } : {}, () => this.post(body, signal));
    let completion: OpenAICompletion;
    try {
      completion = (await res.json()) as OpenAICompletion;
    } catch {
      throw new ChatZeroGError("CHAT_BAD_RESPONSE", "the provider's answer is not JSON");
    }
    const header = res.headers.get(RECEIPT_HEADER);
    const digest = header ? receiptFromWire(decodeHeader("receipt", header)).ticketDigest : undefined;
    const message = completionToMessage(completion, { ...this.paidMetadata(digest, completion.model) });
    return { generations: [{ text: contentText(message.content), message }], llmOutput: { tokenUsage: tokenUsage(message) } };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    options.signal?.throwIfAborted();
    const signal = this.signalFor(options);
    const body = this.body(messages, options, true);
    const res = await this.caller.callWithOptions(signal ? { signal } : {}, () => this.post(body, signal));
    if (!res.body) throw new ChatZeroGError("CHAT_BAD_RESPONSE", "the provider sent an empty stream");
    let usage: OpenAIUsage | undefined;
    let digest: string | undefined;
    let model: string | undefined;
    let id: string | undefined;
    type StreamEvent = OpenAIStreamChunk & { error?: { code?: string; message?: string } } & Record<string, unknown>;
    try {
      // The stream ends only after the receipt in its last event has been verified (or it errors).
      for await (const data of readSseJson<StreamEvent>(res.body)) {
        if (data.error)
          throw new ProviderError(502, data.error.code ?? "stream_error", data.error.message ?? "the provider failed mid-stream");
        if (data[RECEIPT_FIELD] !== undefined) digest = receiptFromWire(data[RECEIPT_FIELD]).ticketDigest;
        if (data.usage) usage = data.usage;
        if (data.model) model = data.model;
        if (data.id) id = data.id;
        const delta = deltaToChunk(data);
        if (!delta) continue;
        const chunk = new ChatGenerationChunk({ text: delta.text, message: delta.message });
        yield chunk;
        await runManager?.handleLLMNewToken(delta.text, { prompt: 0, completion: 0 }, undefined, undefined, undefined, { chunk });
      }
    } catch (err) {
      if (err instanceof SseJsonError) throw new ChatZeroGError("CHAT_BAD_RESPONSE", "the provider streamed an event that is not JSON");
      throw err;
    }
    const fields: AIMessageChunkFields = {
      content: "",
      response_metadata: { ...this.paidMetadata(digest, model), ...(id ? { completion_id: id } : {}) },
    };
    // @langchain/core infers this field as `never` under exactOptionalPropertyTypes; it is a UsageMetadata.
    if (usage) (fields as { usage_metadata?: UsageMetadata }).usage_metadata = usageMetadata(usage);
    const final = new AIMessageChunk(fields);
    yield new ChatGenerationChunk({ text: "", message: final });
  }
}

function tokenUsage(message: BaseMessage): { promptTokens: number; completionTokens: number; totalTokens: number } | undefined {
  const usage = (message as { usage_metadata?: { input_tokens: number; output_tokens: number; total_tokens: number } }).usage_metadata;
  return usage ? { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens, totalTokens: usage.total_tokens } : undefined;
}
