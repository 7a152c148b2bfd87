/**
 * Generator of small, deterministic GGUF models (llama architecture, SentencePiece vocabulary with byte
 * fallback, ChatML chat template) that node-llama-cpp loads and runs. They exist for tests of a provider
 * node that serves local GGUF models; they know nothing and cost nothing to run.
 *
 * Kinds:
 * - "scripted": greedy decoding replies with a fixed text (`reply`) and then ends the turn with
 *   <|im_end|>, whatever the prompt.
 * - "function-call": greedy decoding emits node-llama-cpp's generic function-call syntax
 *   (`||call: get_weather({"city":"Paris"})`, the ChatML chat wrapper's syntax), so that
 *   `LlamaChatSession.prompt(..., { functions })` calls the function; after the function result it
 *   replies `reply` (default "Done.") and ends the turn.
 * - "random": seeded random weights and a larger vocabulary, for throughput tests.
 *
 * How the scripted kinds work: every attention and feed-forward block writes zeros into the residual
 * stream (its output projections are zero), so the final hidden state is the token embedding of the
 * last token alone, and the next-token logits depend only on the previous token: a bigram table.
 * Each token's embedding is a one-hot vector naming its successor's "class"; after RMSNorm that
 * component is sqrt(n_embd) (8 for 64 dims), and the output projection maps class k to its token with
 * weight LOGIT_GAIN, so the scripted successor wins by a logit margin of about 8 * LOGIT_GAIN = 32 over
 * every other token (which all get 0). Tokens outside the script lead to the script's first token,
 * which makes the reply independent of the prompt. A token may also have a runner-up successor (logit
 * about half the successor's), which greedy decoding picks where a grammar forbids the successor: that
 * is how one model writes a plain-text call without functions and follows node-llama-cpp's grammars with
 * them.
 */
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { bool, encodeGguf, f32, f32Array, i32Array, str, strArray, u32, type GgufMetadataValue, type GgufTensor } from "./gguf.js";

export type TestModelKind = "scripted" | "function-call" | "random" | "embedding";

/** A JSON value, for the arguments of the scripted function call. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The function call that a "function-call" model makes. */
export interface TestModelFunctionCall {
  /** Function name (no spaces). */
  name: string;
  /**
   * Call arguments, written as compact JSON (`JSON.stringify`). List properties in the same order as the
   * function's params schema: node-llama-cpp's JSON grammar fixes the order of an object's properties.
   */
  arguments: { [key: string]: JsonValue };
}

export interface TestModelOptions {
  kind: TestModelKind;
  /**
   * A uint32 (default 1). "random": the PRNG seed of the weights. Every kind records it in `general.name`, so
   * different seeds always give different files (and hashes) that behave the same for the scripted kinds.
   */
  seed?: number;
  /** "scripted": the reply text (default {@link DEFAULT_SCRIPTED_REPLY}). "function-call": the text after the function result (default {@link DEFAULT_FUNCTION_RESULT_REPLY}). */
  reply?: string;
  /** Training context length written to `llama.context_length` (default 2048). */
  contextLength?: number;
  /** "function-call": the call to make (default {@link DEFAULT_FUNCTION_CALL}). */
  functionCall?: TestModelFunctionCall;
  /**
   * "random": "tiny" (4 layers x 128, ~3.5 MB, over 1,000 tokens/s: for tests) or "bench" (6 layers x 384,
   * ~45 MB: per-token compute closer to a real small model, so throughput benchmarks are not dominated
   * by per-token overheads). "embedding": "tiny" (1 layer x 128) or "bench" (6 layers x 384, the same
   * bag-of-tokens vectors at the compute of a small embedding model).
   */
  size?: "tiny" | "bench";
}

export interface TestModelInfo {
  path: string;
  bytes: number;
  /** 0x-prefixed hex SHA-256 of the file. */
  sha256: string;
  kind: TestModelKind;
  /** The scripted reply ("scripted") or the text after the function result ("function-call"). */
  reply?: string;
  /** "function-call": the call the model makes, and its raw text as generated. */
  functionCall?: TestModelFunctionCall & { text: string };
  contextLength: number;
  /** Number of tokens in the vocabulary. */
  vocabSize: number;
  /** Milliseconds spent building and writing the file. */
  generationMs: number;
}

export const DEFAULT_SCRIPTED_REPLY = "Hello from 0G Compute!";
export const DEFAULT_FUNCTION_RESULT_REPLY = "Done.";
export const DEFAULT_FUNCTION_CALL: TestModelFunctionCall = Object.freeze({
  name: "get_weather",
  arguments: Object.freeze({ city: "Paris" }),
});
export const DEFAULT_CONTEXT_LENGTH = 2048;
/** Size of the vectors of the "embedding" kind. */
export const EMBEDDING_TEST_MODEL_DIMENSIONS = 128;

/** ChatML, as most instruction-tuned models ship it. node-llama-cpp resolves it to its ChatMLChatWrapper. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** node-llama-cpp's generic function-call syntax (ChatWrapper.defaultSettings.functions, used by ChatMLChatWrapper). */
const CALL_PREFIX = "||call: ";
const CALL_PARAMS_PREFIX = "(";
const CALL_SUFFIX = ")";
/** FunctionCallParamsGrammar ends the params JSON with four newlines. */
const PARAMS_END = "\n\n\n\n";

/** Gain of the output projection: the scripted successor's logit is about 8 * LOGIT_GAIN (64 dims). */
const LOGIT_GAIN = 4;
/** Embedding weight of a runner-up successor's class: its logit is half the successor's, far above the rest. */
const RUNNER_UP = 0.5;
const RMS_EPSILON = 1e-5;

// ---------------------------------------------------------------------------------------------
// Vocabulary (SentencePiece "llama" tokenizer model)
// ---------------------------------------------------------------------------------------------

/** llama.cpp token types (llama_token_type). */
const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, BYTE: 6 } as const;
type TokenTypeId = (typeof TokenType)[keyof typeof TokenType];

/** SentencePiece writes a space as U+2581. */
const SPACE = "\u2581";
const spm = (text: string): string => text.replaceAll(" ", SPACE);
const byteToken = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;

const UNK = "<unk>";
const BOS = "<s>";
const EOS_TEXT = "</s>";
const IM_START = "<|im_start|>";
const IM_END = "<|im_end|>";

class Vocabulary {
  readonly tokens: string[] = [];
  readonly scores: number[] = [];
  readonly types: TokenTypeId[] = [];
  private readonly ids = new Map<string, number>();

  /** Adds a token (or returns the existing one with that text). Scores rank SentencePiece merges: higher first. */
  add(text: string, type: TokenTypeId = TokenType.NORMAL, score?: number): number {
    const existing = this.ids.get(text);
    if (existing !== undefined) return existing;
    const id = this.tokens.length;
    this.tokens.push(text);
    this.scores.push(score ?? (type === TokenType.NORMAL ? -id : 0));
    this.types.push(type);
    this.ids.set(text, id);
    return id;
  }

  id(text: string): number {
    const id = this.ids.get(text);
    if (id === undefined) throw new Error(`token ${JSON.stringify(text)} is not in the vocabulary`);
    return id;
  }

  has(text: string): boolean {
    return this.ids.has(text);
  }

  get size(): number {
    return this.tokens.length;
  }

  /**
   * Adds `text` and every prefix of it, so SentencePiece's pairwise merges reach the whole text from its
   * characters (a token is only produced by tokenization if it can be built by merging two tokens).
   */
  addMergeable(text: string, score: number): number {
    const chars = Array.from(text);
    let id = -1;
    for (let i = 2; i <= chars.length; i++) id = this.add(chars.slice(0, i).join(""), TokenType.NORMAL, score + i / 100);
    return id;
  }
}

/**
 * The base vocabulary shared by every kind: <unk>, <s>, </s>, 256 byte-fallback tokens, the ChatML control
 * tokens, the space and printable ASCII characters, and the mergeable ChatML role headers ("assistant\n" is a
 * single token, so the token that ends a generation prompt differs from a lone "\n").
 */
function baseVocabulary(): Vocabulary {
  const v = new Vocabulary();
  v.add(UNK, TokenType.UNKNOWN);
  v.add(BOS, TokenType.CONTROL);
  v.add(EOS_TEXT, TokenType.CONTROL);
  for (let b = 0; b < 256; b++) v.add(byteToken(b), TokenType.BYTE);
  v.add(IM_START, TokenType.CONTROL);
  v.add(IM_END, TokenType.CONTROL);
  v.add(SPACE, TokenType.NORMAL, -1);
  for (let c = 0x21; c < 0x7f; c++) v.add(String.fromCharCode(c), TokenType.NORMAL, -1);
  for (const role of ["system\n", "user\n", "assistant\n"]) v.addMergeable(role, 0);
  return v;
}

/** Letters used to fill the random model's vocabulary with mergeable pieces. */
const LETTERS = "etaoinshrdlcumwfgypbvkjxqz";

/** Adds SentencePiece-style word pieces (letter pairs, with and without a leading space) up to `size` tokens. */
function fillVocabulary(v: Vocabulary, size: number): void {
  const candidates: string[] = [];
  for (const a of LETTERS) candidates.push(SPACE + a);
  for (const a of LETTERS) for (const b of LETTERS) candidates.push(a + b);
  for (const a of LETTERS) for (const b of LETTERS) candidates.push(SPACE + a + b);
  for (const a of LETTERS) for (const b of LETTERS) candidates.push(a.toUpperCase() + b);
  for (const text of candidates) {
    if (v.size >= size) return;
    v.add(text, TokenType.NORMAL, -v.size);
  }
}

// ---------------------------------------------------------------------------------------------
// Scripts: bigram tables that drive the scripted kinds
// ---------------------------------------------------------------------------------------------

/**
 * A bigram table: the successor of some tokens, and one successor for every other token. `second` holds
 * runner-up successors: when a grammar forbids a token's successor, greedy decoding picks the runner-up.
 */
interface Script {
  next: Map<number, number>;
  second: Map<number, number>;
  fallback: number;
}

class ScriptBuilder {
  private readonly next = new Map<number, number>();
  private readonly second = new Map<number, number>();
  /** Texts taken by the script, so that reply pieces never reuse a token that already has a successor. */
  private readonly taken = new Set<string>();

  constructor(private readonly vocab: Vocabulary) {
    for (const t of [UNK, BOS, EOS_TEXT, IM_START, IM_END, SPACE, "\n", "assistant\n"]) this.taken.add(t);
  }

  /** Marks token texts as used by the script. */
  reserve(...texts: string[]): void {
    for (const t of texts) this.taken.add(t);
  }

  /**
   * Cuts `text` into pieces that are new to the script (words and punctuation runs, merged with their
   * neighbours where a piece would repeat), each becoming one token (added to the vocabulary if needed).
   */
  pieces(text: string): string[] {
    if (text === "") throw new Error("a scripted text must not be empty");
    const words = text.match(/\s*[\p{L}\p{N}_]+|\s*[^\s\p{L}\p{N}_]+|\s+/gu) ?? [text];
    const out: string[] = [];
    let i = 0;
    while (i < words.length) {
      let piece = words[i++] ?? "";
      while (this.taken.has(spm(piece)) && i < words.length) piece += words[i++] ?? "";
      while (this.taken.has(spm(piece)) && out.length > 0) piece = (out.pop() ?? "") + piece;
      if (this.taken.has(spm(piece))) throw new Error(`cannot cut ${JSON.stringify(text)} into distinct pieces`);
      this.taken.add(spm(piece));
      out.push(spm(piece));
    }
    return out;
  }

  /** Links each token text to the next one; creates tokens for texts not in the vocabulary yet. */
  chain(...texts: string[]): void {
    const ids = texts.map((t) => this.vocab.add(t));
    for (let k = 0; k + 1 < ids.length; k++) {
      const from = ids[k] as number;
      const to = ids[k + 1] as number;
      const prev = this.next.get(from);
      if (prev !== undefined && prev !== to)
        throw new Error(`script conflict: ${JSON.stringify(texts[k])} already leads to ${JSON.stringify(this.vocab.tokens[prev])}`);
      this.next.set(from, to);
    }
  }

  /** Sets the runner-up successor of `from`: what greedy decoding picks where a grammar forbids the successor. */
  runnerUp(from: string, to: string): void {
    this.second.set(this.vocab.id(from), this.vocab.add(to));
  }

  build(fallbackText: string): Script {
    return { next: this.next, second: this.second, fallback: this.vocab.id(fallbackText) };
  }
}

/** "scripted": any token -> reply pieces -> <|im_end|>. */
function scriptedScript(vocab: Vocabulary, reply: string): Script {
  const b = new ScriptBuilder(vocab);
  const pieces = b.pieces(reply);
  b.chain(...pieces, IM_END);
  return b.build(pieces[0] as string);
}

/**
 * "function-call". Without a grammar the model writes the call as plain text and ends the turn:
 *   any token -> "||call: " -> "get_weather" -> "(" -> `{"` -> `city` -> `":"` -> `Paris` -> `"}` -> ")" -> <|im_end|>
 * With `functions`, node-llama-cpp's function-calling loop (LlamaChat) sees these transitions:
 * 1. free text after "<|im_start|>assistant\n" (one token): the model writes "||call: " (one token) and the
 *    function-call syntax detector fires;
 * 2. the function name, under the grammar `[ ]? "get_weather" [\n]`, with the context re-rendered to end with
 *    the tokenized prefix (..., ":", " "): " " (or the generated prefix token) -> "get_weather" -> "\n": the
 *    grammar forbids "(", so greedy decoding takes the runner-up "\n";
 * 3. the params, under the JSON-schema grammar followed by "\n\n\n\n", with the context re-rendered to end
 *    with "get_weather(": "(" -> `{"` -> ... -> `"}` -> "\n\n\n\n" (the runner-up; the grammar forbids ")");
 * 4. after the result is appended ("\n||result: ...\n") the last token is a lone "\n" (the byte token <0x0A>,
 *    as "\n" has no normal token, unlike "assistant\n" and "\n\n\n\n"): "\n" -> `reply` pieces -> <|im_end|>.
 */
function functionCallScript(vocab: Vocabulary, call: TestModelFunctionCall, reply: string): Script {
  if (/\s/.test(call.name) || call.name === "") throw new Error(`invalid function name ${JSON.stringify(call.name)}`);
  const b = new ScriptBuilder(vocab);
  const prefix = spm(CALL_PREFIX);
  const name = spm(call.name);
  const newline = byteToken(0x0a);
  b.reserve(prefix, name, PARAMS_END, CALL_PARAMS_PREFIX, CALL_SUFFIX, newline);
  const args = b.pieces(JSON.stringify(call.arguments));
  const lastArg = args[args.length - 1] as string;
  b.chain(prefix, name, CALL_PARAMS_PREFIX, ...args, CALL_SUFFIX, IM_END);
  b.chain(SPACE, name);
  b.runnerUp(name, newline);
  b.runnerUp(lastArg, PARAMS_END);
  b.chain(PARAMS_END, IM_END);
  b.chain(newline, ...b.pieces(reply), IM_END);
  return b.build(prefix);
}

/** The text of the call as node-llama-cpp renders it. */
function functionCallText(call: TestModelFunctionCall): string {
  return `${CALL_PREFIX}${call.name}${CALL_PARAMS_PREFIX}${JSON.stringify(call.arguments)}${CALL_SUFFIX}`;
}

// ---------------------------------------------------------------------------------------------
// Weights
// ---------------------------------------------------------------------------------------------

interface Architecture {
  embedding: number;
  layers: number;
  feedForward: number;
  heads: number;
  kvHeads: number;
}

/** Deterministic PRNG (mulberry32), uniform floats in [0, 1). No transcendental functions, so bit-exact everywhere. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Fill = (name: string, length: number, fanIn: number) => Float32Array;

/**
 * The tensors of a llama model; `fill` supplies the matrices, norms are ones. Without `output`,
 * llama.cpp ties the output projection to token_embd.
 */
function llamaTensors(arch: Architecture, vocabSize: number, fill: Fill, tokenEmbd: Float32Array, output?: Float32Array): GgufTensor[] {
  const d = arch.embedding;
  const headDim = d / arch.heads;
  const kv = headDim * arch.kvHeads;
  const ff = arch.feedForward;
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  const tensors: GgufTensor[] = [{ name: "token_embd.weight", dims: [d, vocabSize], data: tokenEmbd }];
  for (let l = 0; l < arch.layers; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      { name: `${p}attn_norm.weight`, dims: [d], data: ones(d) },
      { name: `${p}attn_q.weight`, dims: [d, d], data: fill(`${p}attn_q`, d * d, d) },
      { name: `${p}attn_k.weight`, dims: [d, kv], data: fill(`${p}attn_k`, d * kv, d) },
      { name: `${p}attn_v.weight`, dims: [d, kv], data: fill(`${p}attn_v`, d * kv, d) },
      { name: `${p}attn_output.weight`, dims: [d, d], data: fill(`${p}attn_output`, d * d, d) },
      { name: `${p}ffn_norm.weight`, dims: [d], data: ones(d) },
      { name: `${p}ffn_gate.weight`, dims: [d, ff], data: fill(`${p}ffn_gate`, d * ff, d) },
      { name: `${p}ffn_up.weight`, dims: [d, ff], data: fill(`${p}ffn_up`, d * ff, d) },
      { name: `${p}ffn_down.weight`, dims: [ff, d], data: fill(`${p}ffn_down`, ff * d, ff) },
    );
  }
  tensors.push({ name: "output_norm.weight", dims: [d], data: ones(d) });
  if (output !== undefined) tensors.push({ name: "output.weight", dims: [d, vocabSize], data: output });
  return tensors;
}

/**
 * Bigram weights for a script. Classes are the distinct successor tokens; token t's embedding is the
 * one-hot vector of its successor's class (plus RUNNER_UP on its runner-up's class), and the output row of
 * the class-k token is LOGIT_GAIN * e_k. Attention and feed-forward weights are zero, so neither block
 * changes the residual stream.
 */
function scriptedTensors(arch: Architecture, vocab: Vocabulary, script: Script): GgufTensor[] {
  const d = arch.embedding;
  const V = vocab.size;
  const classOf = new Map<number, number>();
  const classIndex = (token: number): number => {
    let k = classOf.get(token);
    if (k === undefined) {
      k = classOf.size;
      classOf.set(token, k);
    }
    return k;
  };
  const embd = new Float32Array(d * V);
  for (let t = 0; t < V; t++) {
    embd[t * d + classIndex(script.next.get(t) ?? script.fallback)] = 1;
    const second = script.second.get(t);
    if (second !== undefined) embd[t * d + classIndex(second)] = RUNNER_UP;
  }
  if (classOf.size > d) throw new Error(`script needs ${classOf.size} classes, more than ${d} dims`);
  const output = new Float32Array(d * V);
  for (const [token, k] of classOf) output[token * d + k] = LOGIT_GAIN;
  return llamaTensors(arch, V, (_name, length) => new Float32Array(length), embd, output);
}

/**
 * Uniform random weights with unit-variance outputs (scaled by 1/sqrt(fan-in)) and a tied output projection.
 * Control, unknown and byte tokens get zero embeddings, hence zero logits, below the largest of ~1,700
 * random logits: greedy decoding never ends the turn and always writes printable pieces, so a throughput
 * test runs to its token limit.
 */
function randomTensors(arch: Architecture, vocab: Vocabulary, seed: number): GgufTensor[] {
  const rand = mulberry32(seed);
  const uniform = (length: number, scale: number): Float32Array => {
    const a = new Float32Array(length);
    for (let i = 0; i < length; i++) a[i] = (rand() * 2 - 1) * scale;
    return a;
  };
  const d = arch.embedding;
  const embd = uniform(d * vocab.size, 0.5);
  vocab.types.forEach((type, t) => {
    if (type !== TokenType.NORMAL) embd.fill(0, t * d, (t + 1) * d);
  });
  return llamaTensors(arch, vocab.size, (_name, length, fanIn) => uniform(length, Math.sqrt(3 / fanIn)), embd);
}

/**
 * An embedding model whose vectors mean something: every printable token gets a random unit-scale
 * embedding, control tokens a zero one, and attention and feed-forward weights are zero, so each token's
 * final hidden state is its own normalized embedding and llama.cpp's mean pooling
 * (`llama.pooling_type` = 1) returns the average over the text's tokens: a bag of tokens. Texts that
 * share words (and so tokens) have a high cosine similarity; unrelated texts are nearly orthogonal.
 */
function embeddingTensors(arch: Architecture, vocab: Vocabulary, seed: number): GgufTensor[] {
  const rand = mulberry32(seed);
  const d = arch.embedding;
  const embd = new Float32Array(d * vocab.size);
  for (let i = 0; i < embd.length; i++) embd[i] = rand() * 2 - 1;
  vocab.types.forEach((type, t) => {
    if (type === TokenType.CONTROL || type === TokenType.UNKNOWN) embd.fill(0, t * d, (t + 1) * d);
  });
  return llamaTensors(arch, vocab.size, (_name, length) => new Float32Array(length), embd);
}

// ---------------------------------------------------------------------------------------------
// Model assembly
// ---------------------------------------------------------------------------------------------

function metadata(arch: Architecture, vocab: Vocabulary, name: string, contextLength: number): Array<readonly [string, GgufMetadataValue]> {
  const headDim = arch.embedding / arch.heads;
  return [
    ["general.architecture", str("llama")],
    ["general.name", str(name)],
    ["general.file_type", u32(0)], // all F32
    ["llama.context_length", u32(contextLength)],
    ["llama.embedding_length", u32(arch.embedding)],
    ["llama.block_count", u32(arch.layers)],
    ["llama.feed_forward_length", u32(arch.feedForward)],
    ["llama.attention.head_count", u32(arch.heads)],
    ["llama.attention.head_count_kv", u32(arch.kvHeads)],
    ["llama.rope.dimension_count", u32(headDim)],
    ["llama.rope.freq_base", f32(10000)],
    ["llama.attention.layer_norm_rms_epsilon", f32(RMS_EPSILON)],
    ["llama.vocab_size", u32(vocab.size)],
    ["tokenizer.ggml.model", str("llama")],
    ["tokenizer.ggml.tokens", strArray(vocab.tokens)],
    ["tokenizer.ggml.scores", f32Array(vocab.scores)],
    ["tokenizer.ggml.token_type", i32Array(vocab.types)],
    ["tokenizer.ggml.bos_token_id", u32(vocab.id(BOS))],
    ["tokenizer.ggml.eos_token_id", u32(vocab.id(IM_END))],
    ["tokenizer.ggml.unknown_token_id", u32(vocab.id(UNK))],
    ["tokenizer.ggml.padding_token_id", u32(vocab.id(UNK))],
    ["tokenizer.ggml.add_bos_token", bool(true)],
    ["tokenizer.ggml.add_eos_token", bool(false)],
    // No implicit leading space: text round-trips exactly through tokenize/detokenize.
    ["tokenizer.ggml.add_space_prefix", bool(false)],
    ["tokenizer.chat_template", str(CHATML_TEMPLATE)],
  ];
}

/** A model image in memory, with what the generator knows about it. */
export interface BuiltTestModel {
  data: Uint8Array;
  kind: TestModelKind;
  reply?: string;
  functionCall?: TestModelFunctionCall & { text: string };
  contextLength: number;
  vocabSize: number;
}

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/** Builds a test model in memory (see {@link writeTestModel}). */
export function buildTestModel(options: TestModelOptions): BuiltTestModel {
  const contextLength = options.contextLength ?? DEFAULT_CONTEXT_LENGTH;
  if (!Number.isInteger(contextLength) || contextLength < 16 || contextLength > 2 ** 24)
    throw new Error(`contextLength must be an integer in [16, 2^24], got ${contextLength}`);
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`seed must be a uint32, got ${seed}`);

  switch (options.kind) {
    case "random": {
      const vocab = baseVocabulary();
      fillVocabulary(vocab, 2048);
      const arch: Architecture =
        options.size === "bench"
          ? { embedding: 384, layers: 6, feedForward: 1024, heads: 6, kvHeads: 2 }
          : { embedding: 128, layers: 4, feedForward: 256, heads: 4, kvHeads: 2 };
      const data = encodeGguf({
        metadata: metadata(arch, vocab, `0g-test-random-${options.size ?? "tiny"}-s${seed}`, contextLength),
        tensors: randomTensors(arch, vocab, seed),
      });
      return { data, kind: "random", contextLength, vocabSize: vocab.size };
    }
    case "embedding": {
      const vocab = baseVocabulary();
      fillVocabulary(vocab, 2048);
      const arch: Architecture =
        options.size === "bench"
          ? { embedding: 384, layers: 6, feedForward: 1024, heads: 6, kvHeads: 2 }
          : { embedding: EMBEDDING_TEST_MODEL_DIMENSIONS, layers: 1, feedForward: 64, heads: 4, kvHeads: 4 };
      const data = encodeGguf({
        metadata: [
          ...metadata(arch, vocab, `0g-test-embedding-${options.size ?? "tiny"}-s${seed}`, contextLength),
          ["llama.pooling_type", u32(1)], // mean
        ],
        tensors: embeddingTensors(arch, vocab, seed),
      });
      return { data, kind: "embedding", contextLength, vocabSize: vocab.size };
    }
    case "scripted":
    case "function-call": {
      const vocab = baseVocabulary();
      let reply: string;
      let script: Script;
      let functionCall: (TestModelFunctionCall & { text: string }) | undefined;
      if (options.kind === "scripted") {
        reply = options.reply ?? DEFAULT_SCRIPTED_REPLY;
        script = scriptedScript(vocab, reply);
      } else {
        reply = options.reply ?? DEFAULT_FUNCTION_RESULT_REPLY;
        const call = options.functionCall ?? DEFAULT_FUNCTION_CALL;
        script = functionCallScript(vocab, call, reply);
        functionCall = { name: call.name, arguments: call.arguments, text: functionCallText(call) };
      }
      const classes = new Set([script.fallback, ...script.next.values(), ...script.second.values()]).size;
      const embedding = Math.max(64, roundUp(classes, 32));
      const arch: Architecture = { embedding, layers: 2, feedForward: 2 * embedding, heads: embedding / 32, kvHeads: embedding / 32 };
      const data = encodeGguf({
        metadata: metadata(arch, vocab, `0g-test-${options.kind}-s${seed}`, contextLength),
        tensors: scriptedTensors(arch, vocab, script),
      });
      return { data, kind: options.kind, reply, ...(functionCall ? { functionCall } : {}), contextLength, vocabSize: vocab.size };
    }
    default:
      throw new Error(`unknown test model kind ${String((options as { kind: unknown }).kind)}`);
  }
}

/** Writes a deterministic test model to `path`: the same options always give a byte-identical file. */
export async function writeTestModel(path: string, options: TestModelOptions): Promise<TestModelInfo> {
  const started = performance.now();
  const built = buildTestModel(options);
  await writeFile(path, built.data);
  const sha256 = "0x" + createHash("sha256").update(built.data).digest("hex");
  const { data, ...rest } = built;
  return { path, bytes: data.byteLength, sha256, ...rest, generationMs: performance.now() - started };
}
