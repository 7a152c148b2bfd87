#!/usr/bin/env node
/**
 * Writes a test model:
 *   tsx packages/provider/src/test-model/cli.ts --kind scripted|function-call|random --out path.gguf [--seed N]
 *     [--reply TEXT] [--context-length N]
 * Prints the path and size (and the SHA-256) of the file written.
 */
import { parseArgs } from "node:util";
import { writeTestModel, type TestModelKind, type TestModelOptions } from "./generate.js";

const KINDS: readonly TestModelKind[] = ["scripted", "function-call", "random"];
const USAGE = "usage: cli.ts --kind scripted|function-call|random --out path.gguf [--seed N] [--reply TEXT] [--context-length N]";

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kind: { type: "string" },
      out: { type: "string" },
      seed: { type: "string" },
      reply: { type: "string" },
      "context-length": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const kind = values.kind as TestModelKind | undefined;
  if (kind === undefined || !KINDS.includes(kind) || values.out === undefined) throw new Error(USAGE);
  const options: TestModelOptions = { kind };
  const seed = integer("seed", values.seed);
  const contextLength = integer("context-length", values["context-length"]);
  if (seed !== undefined) options.seed = seed;
  if (contextLength !== undefined) options.contextLength = contextLength;
  if (values.reply !== undefined) options.reply = values.reply;
  const info = await writeTestModel(values.out, options);
  console.log(`${info.path} ${info.bytes} bytes (${(info.bytes / 1024).toFixed(0)} KiB) sha256 ${info.sha256}`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
});
