import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { LlamaText } from "node-llama-cpp";
import { BackendError } from "../backend.js";

/**
 * The worker's program. It loads the model's vocabulary only (no weights, no context) with the same
 * node-llama-cpp the backend uses, and answers each `{ id, text }` (a serialized LlamaText) with its
 * token count, and each `{ id, plain }` (a string, tokenized as node-llama-cpp tokenizes a plain text
 * input) with its token ids. Kept as source text and evaluated, so that the worker runs the same way from the compiled
 * package and from TypeScript sources under a test runner (a worker does not inherit a loader).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
(async () => {
  const { getLlama, LlamaLogLevel, LlamaText } = await import(workerData.moduleUrl);
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 1 });
  const model = await llama.loadModel({ modelPath: workerData.modelPath, vocabOnly: true });
  parentPort.on("message", ({ id, text, plain }) => {
    try {
      if (plain !== undefined) parentPort.postMessage({ id, ids: Array.from(model.tokenizer(plain, false)) });
      else parentPort.postMessage({ id, tokens: LlamaText.fromJSON(text).tokenize(model.tokenizer).length });
    } catch (err) {
      parentPort.postMessage({ id, error: String((err && err.message) || err) });
    }
  });
  parentPort.postMessage({ ready: true });
})().catch((err) => parentPort.postMessage({ fatal: String((err && err.message) || err) }));
`;

type Reply =
  | { ready: true }
  | { fatal: string }
  | { id: number; tokens: number }
  | { id: number; ids: number[] }
  | { id: number; error: string };

/**
 * Counts the tokens of rendered prompts in a worker thread, off the event loop.
 *
 * Tokenizing is synchronous native work proportional to the prompt: about 0.6 s for a 1 MiB prompt on one
 * core. On the event loop that would stall every connection of the node, including the refusals meant to
 * be cheap, for each large body a client sends. In the worker the loop keeps serving while a prompt is
 * counted; counts are identical to the model's own tokenizer (same vocabulary, same special tokens).
 *
 * @example
 * const tokenizer = await LlamaTokenizer.start("model.gguf");
 * const n = await tokenizer.count(contextText); // contextText: a LlamaText rendered by the chat wrapper
 * await tokenizer.close();
 */
export class LlamaTokenizer {
  private readonly pending = new Map<number, { resolve: (n: number | number[]) => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private failure: BackendError | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on("message", (reply: Reply) => {
      if (!("id" in reply)) return;
      const entry = this.pending.get(reply.id);
      if (!entry) return;
      this.pending.delete(reply.id);
      if ("tokens" in reply) entry.resolve(reply.tokens);
      else if ("ids" in reply) entry.resolve(reply.ids);
      else entry.reject(new BackendError(`cannot tokenize the prompt: ${reply.error}`, { status: 400 }));
    });
    const fail = (err: BackendError) => {
      this.failure ??= err;
      for (const entry of this.pending.values()) entry.reject(this.failure);
      this.pending.clear();
    };
    worker.on("error", (err) => fail(new BackendError(`the tokenizer worker failed: ${err.message}`, { cause: err })));
    worker.on("exit", (code) => fail(new BackendError(`the tokenizer worker stopped (exit code ${code})`)));
  }

  /** Starts the worker and waits until it has loaded the vocabulary of `modelPath`. */
  static async start(modelPath: string): Promise<LlamaTokenizer> {
    const moduleUrl = pathToFileURL(createRequire(import.meta.url).resolve("node-llama-cpp")).href;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { moduleUrl, modelPath } });
    let onMessage: ((reply: Reply) => void) | undefined;
    let onError: ((err: Error) => void) | undefined;
    let onExit: ((code: number) => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        onMessage = (reply) => {
          if ("ready" in reply) resolve();
          else if ("fatal" in reply) reject(new Error(reply.fatal));
        };
        onError = reject;
        onExit = (code) => reject(new Error(`exit code ${code}`));
        worker.on("message", onMessage).on("error", onError).on("exit", onExit);
      });
    } catch (cause) {
      await worker.terminate();
      throw new BackendError(`cannot load the vocabulary of ${modelPath}: ${(cause as Error).message}`, { cause });
    } finally {
      worker.off("message", onMessage!).off("error", onError!).off("exit", onExit!);
    }
    return new LlamaTokenizer(worker);
  }

  /** The number of tokens of `text`, as the model's tokenizer counts them. */
  count(text: LlamaText): Promise<number> {
    return this.ask({ text: text.toJSON() }) as Promise<number>;
  }

  /** The token ids of a plain text, as node-llama-cpp tokenizes a string input (no special tokens added). */
  tokenize(plain: string): Promise<number[]> {
    return this.ask({ plain }) as Promise<number[]>;
  }

  private ask(message: { text: unknown } | { plain: string }): Promise<number | number[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<number | number[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...message });
    });
  }

  /** Stops the worker; counts still pending are refused. */
  async close(): Promise<void> {
    this.failure ??= new BackendError("the llama backend is closed");
    await this.worker.terminate();
  }
}
