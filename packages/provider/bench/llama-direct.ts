/**
 * Child process of `bench:provider`: node-llama-cpp driven directly (the provider's llama backend, no HTTP,
 * no payment), streaming, so it can be placed exactly like the provider. Arguments: the model path and the
 * thread count. Prints `ready`; then each stdin line `run <tokens>` streams one answer of up to that many
 * tokens and prints `{ tokens, ms }`.
 */
import { createInterface } from "node:readline";
import { LlamaBackend } from "../src/backends/llama.js";

const [modelPath, threads] = process.argv.slice(2) as [string, string];
const backend = await LlamaBackend.load({ modelPath, modelId: "random", threads: Number(threads), parallel: 1 });
const body = { model: "random", messages: [{ role: "user" as const, content: "count" }], stream: true };

async function run(tokens: number): Promise<{ tokens: number; ms: number }> {
  const t = performance.now();
  const gen = backend.stream({ ...body, max_tokens: tokens }, { maxOutputTokens: tokens, signal: new AbortController().signal });
  let step = await gen.next();
  while (!step.done) step = await gen.next();
  return { tokens: step.value.outputTokens, ms: performance.now() - t };
}

process.stdout.write("ready\n");
createInterface({ input: process.stdin }).on("line", (line) => {
  const m = /^run (\d+)$/.exec(line.trim());
  if (m) void run(Number(m[1])).then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
});
process.once("SIGTERM", () => void backend.close().then(() => process.exit(0)));
