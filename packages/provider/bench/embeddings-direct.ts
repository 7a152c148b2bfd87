/**
 * Child process of `bench:provider`: node-llama-cpp's own embedding API (no provider code, no HTTP, no
 * payment), placed exactly like the provider. Arguments: the model path, the context size and the thread
 * count. Prints `ready`; then each stdin line `run <json array of texts>` embeds the texts one after
 * another and prints `{ embeddings, ms }`.
 */
import { createInterface } from "node:readline";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, contextSize, threads] = process.argv.slice(2) as [string, string, string];
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: Number(threads) });
const model = await llama.loadModel({ modelPath });
const context = await model.createEmbeddingContext({ contextSize: Number(contextSize), threads: Number(threads) });

async function run(texts: string[]): Promise<{ embeddings: number; ms: number }> {
  const t = performance.now();
  for (const text of texts) await context.getEmbeddingFor(text);
  return { embeddings: texts.length, ms: performance.now() - t };
}

process.stdout.write("ready\n");
createInterface({ input: process.stdin }).on("line", (line) => {
  const m = /^run (.*)$/.exec(line.trim());
  if (m) void run(JSON.parse(m[1]!) as string[]).then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
});
process.once("SIGTERM", () => void llama.dispose().then(() => process.exit(0)));
