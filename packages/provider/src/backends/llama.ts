import { randomBytes } from "node:crypto";
import {
  getLlama,
  LlamaChat,
  LlamaLogLevel,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatModelFunctions,
  type ChatModelResponse,
  type ChatWrapper,
  type GbnfJsonSchema,
  type LLamaChatGenerateResponseOptions,
  type LLamaContextualRepeatPenalty,
  type Llama,
  type LlamaChatResponseFunctionCallParamsChunk,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import {
  BackendError,
  badRequest,
  type Backend,
  type BackendModel,
  type ChatBody,
  type ChatCompletion,
  type ChatCompletionChunk,
  type GenerationLimits,
  type Usage,
} from "../backend.js";
import { parseMaybeJson, toChatHistory, toFunctions } from "./llama-messages.js";
import { toGbnfSchema } from "./llama-json-schema.js";
import { LlamaTokenizer } from "./llama-tokenizer.js";

/** Chunks a stream may produce ahead of its consumer before generation waits. */
const STREAM_LOOKAHEAD = 8;

/** Options for {@link LlamaBackend.load}. */
export interface LlamaBackendOptions {
  /** A .gguf file. */
  modelPath: string;
  /** The id clients send (the registry's model). */
  modelId: string;
  /** CPU threads per evaluation (default 1). More threads than free cores is much slower, not faster. */
  threads?: number;
  /** Requests served at the same time, each on a context of its own (default 2). */
  parallel?: number;
  /** Context size of each request's context (default min(model.trainContextSize, 4096)). llama.cpp may pad it up. */
  contextSize?: number;
  /** GPU offloading (default false: CPU only). */
  gpu?: false | "auto";
  /** llama.cpp log level (default "error"). */
  logLevel?: "disabled" | "fatal" | "error" | "warn" | "info" | "log" | "debug";
}

/** One context sequence, lent to one request at a time. */
interface Slot {
  sequence: LlamaContextSequence;
  /** Called with every token the sampler produces while a request holds the slot. */
  onSampled: ((token: Token) => void) | undefined;
  /** Awaited before each sampling step (streaming backpressure); may end generation by resolving false. */
  beforeSample: (() => Promise<boolean>) | undefined;
}

/** A request converted for node-llama-cpp. */
interface Prepared {
  history: ChatHistoryItem[];
  functions: ChatModelFunctions | undefined;
  /** Tokens of the rendered prompt (template special tokens and function documentation included). */
  inputTokens: number;
  /** `response_format`: any JSON, a JSON schema (node-llama-cpp's subset), or free text. */
  format: "json" | GbnfJsonSchema | undefined;
}

/** A tool call as returned to the client. */
interface ToolCall {
  index: number;
  id: string;
  name: string;
  arguments: string;
}

/** What one generation produced. */
interface RunResult {
  text: string;
  toolCalls: ToolCall[];
  finishReason: "stop" | "length" | "tool_calls";
  aborted: boolean;
  usage: Usage;
}

/** Streaming hooks of one generation. */
interface RunHooks {
  onText?: (text: string) => void;
  onToolCallStart?: (call: { index: number; id: string; name: string }) => void;
  onToolCallArguments?: (index: number, text: string) => void;
  /** Resolves when the consumer is ready for more output (backpressure). */
  ready?: () => Promise<void>;
}

/** node-llama-cpp's FunctionCallParamsGrammar ends function-call params with four newlines. */
const PARAMS_END = "\n".repeat(4);

/** Thrown by the context-shift hook: the conversation no longer fits the context, and nothing may be silently dropped. */
class ContextOverflow extends BackendError {
  constructor() {
    super("the conversation does not fit the model's context", { status: 400 });
  }
}

/** The llama.cpp log levels by name (the `logLevel` option of the llama backends). */
export const LLAMA_LOG_LEVELS: Record<NonNullable<LlamaBackendOptions["logLevel"]>, LlamaLogLevel> = {
  disabled: LlamaLogLevel.disabled,
  fatal: LlamaLogLevel.fatal,
  error: LlamaLogLevel.error,
  warn: LlamaLogLevel.warn,
  info: LlamaLogLevel.info,
  log: LlamaLogLevel.log,
  debug: LlamaLogLevel.debug,
};

/**
 * The embedded llama.cpp engine (node-llama-cpp): one model, `parallel` contexts of one sequence each, and one
 * chat wrapper resolved at load time and shared by every request. Each request takes a free context (or waits
 * for one), runs a fresh {@link LlamaChat} on it and clears it afterwards, so nothing leaks between requests.
 *
 * Why not one context with `parallel` sequences (batched decoding): with node-llama-cpp 3.21.1 answers then leak
 * between concurrent requests. Its contexts keep llama.cpp's default non-unified KV cache, so a batch holding
 * several sequences is split per sequence and its outputs come out of batch order; llama.cpp then reorders the
 * output rows lazily, inside `llama_get_logits_ith`, and node-llama-cpp samples each sequence of the batch in
 * its own worker thread at the same time. Two samplers running that reorder concurrently swap (or tear) the
 * rows, so one request samples its token from another request's logits: 2 of 40 greedy answers differed from
 * serial runs with four sequences, and serializing the sampling calls made them identical. Separate contexts
 * have separate output buffers and never reorder; on CPU they served the same load as batched sequences
 * within noise. A test pins concurrent against serial greedy answers.
 *
 * Token counts are exact: input is the tokenized rendering of the whole prompt by the chat wrapper (special
 * tokens and function documentation included), the same for {@link countInputTokens} and for generation;
 * output is every token the sampler produced (function-call syntax included), except the final end-of-turn
 * token. Tool calls are never executed: generation stops at the call and the call goes back to the client.
 * Prompts are counted in a worker thread ({@link LlamaTokenizer}), so a large body does not hold the event loop.
 */
export class LlamaBackend implements Backend {
  readonly kind = "llama" as const;
  private readonly free: Slot[];
  private readonly waiting: Array<{ resolve: (slot: Slot) => void; reject: (err: unknown) => void }> = [];
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private closed = false;

  private constructor(
    private readonly options: LlamaBackendOptions,
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly contexts: LlamaContext[],
    private readonly wrapper: ChatWrapper,
    private readonly tokenizer: LlamaTokenizer,
    slots: Slot[],
  ) {
    this.free = slots;
  }

  /** Loads the model, creates the context and resolves the chat wrapper once. */
  static async load(options: LlamaBackendOptions): Promise<LlamaBackend> {
    const threads = options.threads ?? 1;
    const parallel = options.parallel ?? 2;
    if (!Number.isInteger(threads) || threads < 1) throw new BackendError(`threads must be a positive integer, got ${threads}`);
    if (!Number.isInteger(parallel) || parallel < 1) throw new BackendError(`parallel must be a positive integer, got ${parallel}`);
    let llama: Llama | undefined;
    let model: LlamaModel | undefined;
    const contexts: LlamaContext[] = [];
    // The vocabulary loads in its worker while the model loads here.
    const tokenizing = LlamaTokenizer.start(options.modelPath);
    tokenizing.catch(() => undefined); // awaited below, on success and on failure
    try {
      llama = await getLlama({
        gpu: options.gpu ?? false,
        build: "never",
        logLevel: LLAMA_LOG_LEVELS[options.logLevel ?? "error"],
        maxThreads: threads,
      });
      model = await llama.loadModel({ modelPath: options.modelPath });
      const contextSize = options.contextSize ?? Math.min(model.trainContextSize, 4096);
      for (let i = 0; i < parallel; i++) contexts.push(await model.createContext({ contextSize, sequences: 1, threads }));
      const wrapper = resolveChatWrapper(model);
      const slots = contexts.map((c) => LlamaBackend.slot(c.getSequence()));
      return new LlamaBackend(options, llama, model, contexts, wrapper, await tokenizing, slots);
    } catch (cause) {
      await (await tokenizing.catch(() => undefined))?.close();
      for (const c of contexts) await c.dispose().catch(() => undefined);
      await model?.dispose().catch(() => undefined);
      await llama?.dispose().catch(() => undefined);
      throw new BackendError(`cannot load ${options.modelPath}: ${(cause as Error).message}`, { cause });
    }
  }

  /**
   * Wraps the sequence's `evaluate` so that the backend sees every sampled token (for exact output counts,
   * function-call syntax included) and can hold generation back while a stream consumer catches up.
   * node-llama-cpp's LlamaChat samples only through `sequence.evaluate`.
   */
  private static slot(sequence: LlamaContextSequence): Slot {
    const slot: Slot = { sequence, onSampled: undefined, beforeSample: undefined };
    const evaluate = sequence.evaluate.bind(sequence);
    type Evaluate = LlamaContextSequence["evaluate"];
    const counted: Evaluate = async function* (tokens, options) {
      const inner = evaluate(tokens, options);
      let input: Token | Token[] | undefined;
      try {
        while (true) {
          if (slot.beforeSample && !(await slot.beforeSample())) return;
          const step = await inner.next(input);
          if (step.done) return;
          slot.onSampled?.(step.value);
          input = (yield step.value) ?? undefined; // the consumer sends a token, tokens or nothing
        }
      } finally {
        await inner.return();
      }
    };
    Object.defineProperty(sequence, "evaluate", { value: counted, configurable: true, writable: true });
    return slot;
  }

  /** Every context has the same size (llama.cpp may pad the requested one up). */
  private get contextSize(): number {
    return Math.min(...this.contexts.map((c) => c.contextSize));
  }

  models(): BackendModel[] {
    return [{ id: this.options.modelId, contextLength: this.contextSize, capabilities: ["chat", "stream", "tools", "json_schema"] }];
  }

  /**
   * The exact input tokens `complete`/`stream` will report for this body. Undefined for a body the backend will
   * refuse with a 400 anyway (e.g. a tool message that answers no call), so that the server still admits it and
   * the refusal comes from `complete`/`stream`, unbilled.
   */
  async countInputTokens(body: ChatBody): Promise<number | undefined> {
    try {
      return (await this.prepare(body)).inputTokens;
    } catch (err) {
      if (err instanceof BackendError && err.status === 400) return undefined;
      throw err;
    }
  }

  async complete(body: ChatBody, limits: GenerationLimits): Promise<{ completion: ChatCompletion; usage: Usage }> {
    const prepared = await this.prepare(body);
    const result = await this.run(body, prepared, limits, limits.signal, {});
    const message: Record<string, unknown> = {
      role: "assistant",
      content: result.toolCalls.length > 0 && result.text === "" ? null : result.text,
    };
    if (result.toolCalls.length > 0) {
      message.tool_calls = result.toolCalls.map((c) => ({
        id: c.id,
        type: "function",
        function: { name: c.name, arguments: c.arguments },
      }));
    }
    const completion: ChatCompletion = {
      id: `chatcmpl-${randomId()}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: this.options.modelId,
      choices: [{ index: 0, message, logprobs: null, finish_reason: result.finishReason }],
    };
    return { completion, usage: result.usage };
  }

  async *stream(body: ChatBody, limits: GenerationLimits): AsyncGenerator<ChatCompletionChunk, Usage> {
    const prepared = await this.prepare(body);
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null): ChatCompletionChunk => ({
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    });

    const queue: ChatCompletionChunk[] = [];
    let wake: (() => void) | undefined;
    let drained: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    let roleSent = false;
    const push = (delta: Record<string, unknown>) => {
      if (!roleSent) {
        roleSent = true;
        queue.push(chunk({ role: "assistant", content: "" }));
      }
      queue.push(chunk(delta));
      notify();
    };
    const stop = new AbortController();
    const signal = AbortSignal.any([limits.signal, stop.signal]);
    const onAbort = () => {
      drained?.();
      notify();
    };
    signal.addEventListener("abort", onAbort);

    const hooks: RunHooks = {
      onText: (text) => {
        if (text !== "") push({ content: text });
      },
      onToolCallStart: ({ index, id: callId, name }) =>
        push({ tool_calls: [{ index, id: callId, type: "function", function: { name, arguments: "" } }] }),
      onToolCallArguments: (index, text) => push({ tool_calls: [{ index, function: { arguments: text } }] }),
      // Generation runs ahead of the consumer by at most STREAM_LOOKAHEAD chunks, so that sending a token
      // overlaps with computing the next one; a slow consumer holds generation back. An abort stops it
      // at the next token whatever the queue holds.
      ready: () =>
        queue.length < STREAM_LOOKAHEAD || signal.aborted
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              drained = resolve;
            }),
    };

    let outcome: { result?: RunResult; error?: unknown } | undefined;
    const running = this.run(body, prepared, limits, signal, hooks).then(
      (result) => (outcome = { result }),
      (error: unknown) => (outcome = { error }),
    );
    void running.finally(notify);

    try {
      while (true) {
        while (queue.length > 0) {
          const next = queue.shift() as ChatCompletionChunk;
          if (queue.length < STREAM_LOOKAHEAD) {
            drained?.();
            drained = undefined;
          }
          yield next;
        }
        if (outcome) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (queue.length > 0 || outcome) resolve();
        });
      }
      await running;
      if (outcome.error !== undefined) throw outcome.error;
      const result = outcome.result as RunResult;
      if (!result.aborted) {
        if (!roleSent) queue.push(chunk({ role: "assistant", content: "" }));
        queue.push(chunk({}, result.finishReason));
        while (queue.length > 0) yield queue.shift() as ChatCompletionChunk;
      }
      return result.usage;
    } finally {
      // The consumer may stop early (return/throw): stop generating, and free the sequence before leaving.
      stop.abort();
      await running;
      signal.removeEventListener("abort", onAbort);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new BackendError("the llama backend is closed"));
    await this.tokenizer.close();
    for (const c of this.contexts) await c.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Converts the request and counts its rendered prompt (in the tokenizer's worker: a large prompt would
   * otherwise hold the event loop); throws 400 for what the model cannot take.
   */
  private async prepare(body: ChatBody): Promise<Prepared> {
    if (this.closed) throw new BackendError("the llama backend is closed");
    const history = toChatHistory(body.messages);
    const functions = toFunctions(body);
    if (functions && body.response_format && body.response_format.type !== "text") {
      throw badRequest("response_format cannot be combined with tools on the embedded llama backend");
    }
    const rf = body.response_format;
    const format =
      !rf || rf.type === "text"
        ? undefined
        : rf.type === "json_object" || rf.json_schema.schema === undefined
          ? "json"
          : toGbnfSchema(rf.json_schema.schema, rf.json_schema.strict === true, "response_format.json_schema.schema");
    const rendered = history.at(-1)?.type === "model" ? history : [...history, { type: "model", response: [] } satisfies ChatModelResponse];
    const { contextText } = this.wrapper.generateContextState({
      chatHistory: rendered,
      ...(functions ? { availableFunctions: functions } : {}),
    });
    const inputTokens = await this.tokenizer.count(contextText);
    return { history, functions, inputTokens, format };
  }

  /** The grammar for `response_format`, cached per schema. */
  private grammarFor(format: Prepared["format"]): Promise<LlamaGrammar> | undefined {
    if (format === undefined) return undefined;
    const key = format === "json" ? "json" : JSON.stringify(format);
    let grammar = this.grammars.get(key);
    if (!grammar) {
      // Typed loosely: the schema comes from the client (already reduced to node-llama-cpp's subset by toGbnfSchema).
      const fromSchema = this.llama.createGrammarForJsonSchema.bind(this.llama) as (schema: GbnfJsonSchema) => Promise<LlamaGrammar>;
      grammar = format === "json" ? this.llama.getGrammarFor("json") : fromSchema(format);
      grammar.catch(() => this.grammars.delete(key));
      this.grammars.set(key, grammar);
    }
    return grammar.catch((cause: unknown) => {
      throw new BackendError(`unsupported response_format schema: ${(cause as Error).message}`, { status: 400, cause });
    });
  }

  private acquire(signal: AbortSignal): Promise<Slot | undefined> {
    if (this.closed) return Promise.reject(new BackendError("the llama backend is closed"));
    const slot = this.free.pop();
    if (slot) return Promise.resolve(slot);
    if (signal.aborted) return Promise.resolve(undefined);
    return new Promise<Slot | undefined>((resolve, reject) => {
      const entry = {
        resolve: (s: Slot) => {
          signal.removeEventListener("abort", onAbort);
          resolve(s);
        },
        reject: (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(undefined);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private release(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) next.resolve(slot);
    else this.free.push(slot);
  }

  /** One generation on a free sequence. */
  private async run(
    body: ChatBody,
    prepared: Prepared,
    limits: GenerationLimits,
    signal: AbortSignal,
    hooks: RunHooks,
  ): Promise<RunResult> {
    const contextSize = this.contextSize;
    const { inputTokens } = prepared;
    // The chat needs at least one free cell after the prompt to generate; never let it shift the context.
    if (inputTokens + 1 >= contextSize) {
      throw badRequest(`the prompt has ${inputTokens} tokens; the context holds ${contextSize}`);
    }
    if (!Number.isInteger(limits.maxOutputTokens) || limits.maxOutputTokens < 1)
      throw badRequest("maxOutputTokens must be a positive integer");
    const maxTokens = Math.min(limits.maxOutputTokens, contextSize - inputTokens);
    const grammar = await this.grammarFor(prepared.format);

    const aborted = (): RunResult => ({
      text: "",
      toolCalls: [],
      finishReason: "stop",
      aborted: true,
      usage: { inputTokens, outputTokens: 0 },
    });
    if (signal.aborted) return aborted();
    const slot = await this.acquire(signal);
    if (!slot) return aborted();

    let sampled = 0;
    let lastToken: Token | undefined;
    let text = "";
    const calls: Array<ToolCall & { buffer: string; sent: string; done: boolean }> = [];
    const callAt = (index: number, name: string) => {
      let call = calls[index];
      if (!call) {
        call = { index, id: `call_${randomId()}`, name, arguments: "", buffer: "", sent: "", done: false };
        calls[index] = call;
        hooks.onToolCallStart?.({ index, id: call.id, name });
      }
      return call;
    };
    let diverged: string | undefined;
    let chat: LlamaChat | undefined;
    try {
      if (slot.sequence.nextTokenIndex !== 0) await slot.sequence.clearHistory();
      slot.onSampled = (token) => {
        sampled += 1;
        lastToken = token;
      };
      slot.beforeSample = async () => {
        if (hooks.ready) await hooks.ready();
        return !signal.aborted;
      };
      chat = new LlamaChat({ contextSequence: slot.sequence, chatWrapper: this.wrapper });
      const penalties = body as { frequency_penalty?: unknown; presence_penalty?: unknown };
      const frequencyPenalty = typeof penalties.frequency_penalty === "number" ? penalties.frequency_penalty : 0;
      const presencePenalty = typeof penalties.presence_penalty === "number" ? penalties.presence_penalty : 0;
      const repeatPenalty: false | LLamaContextualRepeatPenalty =
        frequencyPenalty === 0 && presencePenalty === 0 ? false : { lastTokens: 64, penalty: 1, frequencyPenalty, presencePenalty };
      const stops = (typeof body.stop === "string" ? [body.stop] : (body.stop ?? [])).filter((s) => s !== "");
      const common = {
        signal,
        stopOnAbortSignal: true,
        maxTokens,
        temperature: body.temperature ?? 1,
        topP: body.top_p ?? 1,
        ...(body.seed === undefined ? {} : { seed: body.seed }),
        repeatPenalty,
        ...(stops.length > 0 ? { customStopTriggers: stops } : {}),
        onTextChunk: (chunk: string) => {
          text += chunk;
          hooks.onText?.(chunk);
        },
        // Never drop part of the conversation to make room: refuse instead.
        contextShift: {
          size: (): number => {
            throw new ContextOverflow();
          },
        },
      } satisfies LLamaChatGenerateResponseOptions;
      const withFunctions: LLamaChatGenerateResponseOptions<ChatModelFunctions> | undefined = prepared.functions
        ? {
            ...common,
            functions: prepared.functions,
            ...(body.parallel_tool_calls === false ? { maxParallelFunctionCalls: 1 } : {}),
            onFunctionCallParamsChunk: (c: LlamaChatResponseFunctionCallParamsChunk) => {
              const call = callAt(c.callIndex, c.functionName);
              call.buffer += c.paramsChunk;
              // Stream the params, holding back trailing whitespace: the params end with "\n\n\n\n".
              const safe = call.buffer.replace(/\s+$/, "");
              if (safe.length > call.sent.length && safe.startsWith(call.sent)) {
                hooks.onToolCallArguments?.(call.index, safe.slice(call.sent.length));
                call.sent = safe;
              }
            },
            onFunctionCall: (fc) => {
              const index = calls.filter((c) => c.done).length;
              const call = callAt(index, fc.functionName);
              const end = call.buffer.lastIndexOf(PARAMS_END);
              const raw = end >= 0 ? call.buffer.slice(0, end) : call.buffer.trim();
              call.arguments = raw.trim() === "" || parseMaybeJson(raw) === raw ? JSON.stringify(fc.params ?? {}) : raw;
              call.done = true;
              if (!call.arguments.startsWith(call.sent)) diverged = fc.functionName;
              else if (call.arguments.length > call.sent.length)
                hooks.onToolCallArguments?.(call.index, call.arguments.slice(call.sent.length));
              call.sent = call.arguments;
            },
          }
        : undefined;

      let stopReason: string;
      let response: string | undefined;
      try {
        const res = withFunctions
          ? await chat.generateResponse(prepared.history, withFunctions)
          : await chat.generateResponse(prepared.history, { ...common, ...(grammar ? { grammar } : {}) });
        stopReason = res.metadata.stopReason;
        response = res.response;
      } catch (err) {
        // Function-call syntax is re-tokenized into the context, so a call near the end of the context can
        // overflow it after tokens were sampled: that ends the output like the token limit does.
        if (err instanceof ContextOverflow && sampled > 0) stopReason = "maxTokens";
        else if (!signal.aborted || err instanceof ContextOverflow) throw err;
        else stopReason = "abort";
      }
      if (diverged !== undefined) throw new BackendError(`the streamed arguments of ${diverged} differ from the parsed call`);
      const endedOnStop =
        lastToken !== undefined &&
        (this.model.isEogToken(lastToken) || (stopReason === "stopGenerationTrigger" && this.model.isSpecialToken(lastToken)));
      const outputTokens = Math.min(sampled - (endedOnStop ? 1 : 0), maxTokens);
      // Calls cut short by the token limit or an abort go back as far as they were generated (and streamed).
      const started = calls.filter((c) => c !== undefined);
      const finishReason = stopReason === "maxTokens" ? "length" : started.some((c) => c.done) ? "tool_calls" : "stop";
      return {
        text: response ?? text,
        toolCalls: started.map(({ index, id, name, arguments: args, sent, done }) => ({ index, id, name, arguments: done ? args : sent })),
        finishReason,
        aborted: stopReason === "abort" || signal.aborted,
        usage: { inputTokens, outputTokens },
      };
    } catch (err) {
      if (err instanceof BackendError) throw err;
      throw new BackendError(`llama generation failed: ${(err as Error).message}`, { cause: err });
    } finally {
      slot.onSampled = undefined;
      slot.beforeSample = undefined;
      chat?.dispose({ disposeSequence: false });
      try {
        await slot.sequence.clearHistory();
      } catch {
        // disposed on close
      }
      this.release(slot);
    }
  }
}

function randomId(): string {
  return randomBytes(12).toString("hex");
}
