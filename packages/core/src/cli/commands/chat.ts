import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { formatAmount, parseAmount } from "../../amount.js";
import type { ZeroGClient } from "../../client.js";
import { InvalidArgumentError } from "../../errors.js";
import { FileLaneStore } from "../../file-lane-store.js";
import { startGateway } from "../../gateway.js";
import { laneStoreDir } from "../../network-env.js";
import { createPaidFetch, type PaidFetch } from "../../paid-fetch.js";
import { readSseJson } from "../../sse.js";
import { address, clientFrom, homeDir, output, type GlobalOptions } from "../context.js";

/** `chat`, `embed` and `serve`: buying answers or embeddings in a terminal, or for any OpenAI client through the local gateway. */
export function registerChatAndServe(program: Command, globals: () => GlobalOptions): void {
  interface PaidOptions {
    model?: string;
    provider?: string;
    maxTokens: string;
    maxCost?: string;
  }

  async function paidFetchFrom(
    opts: GlobalOptions,
    cmd: PaidOptions,
    client: ZeroGClient,
  ): Promise<{ paid: PaidFetch; store: FileLaneStore }> {
    await client.verifyDeployment();
    const store = await FileLaneStore.open(laneStoreDir(homeDir(opts), client.network));
    const paid = createPaidFetch({
      client,
      store,
      select: {
        ...(cmd.model ? { model: cmd.model } : {}),
        ...(cmd.provider ? { provider: address(cmd.provider, "provider address") } : {}),
      },
      defaultMaxTokens: Number(cmd.maxTokens),
      ...(cmd.maxCost ? { maxCostPerRequest: parseAmount(cmd.maxCost) } : {}),
    });
    return { paid, store };
  }

  program
    .command("chat [prompt...]")
    .description("chat with a model on the network: one-shot with a prompt (or stdin), interactive otherwise; streams to the terminal")
    .option("--model <id>", "model to use")
    .option("--provider <address>", "use only this provider")
    .option("--system <text>", "system prompt")
    .option("--max-tokens <n>", "most tokens per answer", "512")
    .option("--max-cost <amount>", "refuse requests that could cost more than this many 0G")
    .option("--no-stream", "wait for the whole answer")
    .action(async (promptWords: string[], cmd: PaidOptions & { system?: string; stream: boolean }) => {
      const opts = globals();
      const client = await clientFrom(opts);
      const { paid, store } = await paidFetchFrom(opts, cmd, client);
      const history: { role: string; content: string }[] = cmd.system ? [{ role: "system", content: cmd.system }] : [];
      let total = 0n;
      const ask = async (text: string): Promise<string> => {
        history.push({ role: "user", content: text });
        const body = {
          ...(cmd.model ? { model: cmd.model } : {}),
          messages: history,
          max_tokens: Number(cmd.maxTokens),
          stream: cmd.stream,
        };
        const res = await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body: JSON.stringify(body) });
        let answer = "";
        if (cmd.stream) {
          for await (const chunk of readSseJson<{ choices?: { delta?: { content?: string } }[] }>(res.body!)) {
            const delta = chunk.choices?.[0]?.delta?.content ?? "";
            answer += delta;
            if (!opts.json) process.stdout.write(delta);
          }
          if (!opts.json) process.stdout.write("\n");
        } else {
          const json = (await res.json()) as { choices?: { message?: { content?: string } }[] };
          answer = json.choices?.[0]?.message?.content ?? "";
          if (!opts.json) process.stdout.write(answer + "\n");
        }
        const r = paid.receipts[paid.receipts.length - 1];
        if (r) {
          total += r.fee;
          process.stderr.write(
            `[${r.receipt.inputTokens} in + ${r.receipt.outputTokens} out tokens, ${formatAmount(r.fee)}, receipt verified, provider ${r.provider}]\n`,
          );
        }
        history.push({ role: "assistant", content: answer });
        return answer;
      };
      try {
        let prompt = promptWords.join(" ").trim();
        if (!prompt && !process.stdin.isTTY) {
          const chunks: Buffer[] = [];
          for await (const c of process.stdin) chunks.push(c as Buffer);
          prompt = Buffer.concat(chunks).toString("utf8").trim();
        }
        if (prompt) {
          const answer = await ask(prompt);
          if (opts.json)
            output(
              opts,
              {
                answer,
                receipts: paid.receipts.map((r) => ({
                  provider: r.provider,
                  fee: r.fee,
                  inputTokens: r.receipt.inputTokens,
                  outputTokens: r.receipt.outputTokens,
                  ticketDigest: r.ticketDigest,
                })),
              },
              () => "",
            );
        } else {
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          process.stderr.write("Interactive chat; an empty line or Ctrl-D ends it.\n");
          for (;;) {
            const line = await rl.question("> ").catch(() => "");
            if (!line.trim()) break;
            await ask(line);
          }
          rl.close();
          process.stderr.write(`session total ${formatAmount(total)} over ${paid.receipts.length} answers\n`);
        }
      } finally {
        await paid.close();
        await store.close();
      }
    });

  program
    .command("embed [texts...]")
    .description("buy embeddings of the given texts (or of each line of stdin) from an embedding service on the network")
    .option("--model <id>", "embedding model to use")
    .option("--provider <address>", "use only this provider")
    .option("--max-cost <amount>", "refuse requests that could cost more than this many 0G")
    .action(async (texts: string[], cmd: Omit<PaidOptions, "maxTokens">) => {
      const opts = globals();
      let inputs = texts.filter((t) => t.trim() !== "");
      if (inputs.length === 0 && !process.stdin.isTTY) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        inputs = Buffer.concat(chunks)
          .toString("utf8")
          .split("\n")
          .filter((t) => t.trim() !== "");
      }
      if (inputs.length === 0) throw new InvalidArgumentError("give the texts to embed as arguments, or one per line on stdin");
      const client = await clientFrom(opts);
      const { paid, store } = await paidFetchFrom(opts, { ...cmd, maxTokens: "0" }, client);
      try {
        const res = await paid("http://0g.invalid/v1/embeddings", {
          method: "POST",
          body: JSON.stringify({ ...(cmd.model ? { model: cmd.model } : {}), input: inputs }),
        });
        const json = (await res.json()) as { model: string; data: { index: number; embedding: number[] }[] };
        const r = paid.receipts[paid.receipts.length - 1]!;
        const vectors = json.data.sort((a, b) => a.index - b.index).map((d) => d.embedding);
        output(
          opts,
          {
            model: json.model,
            dimensions: vectors[0]?.length ?? 0,
            embeddings: vectors,
            receipt: { provider: r.provider, fee: r.fee, inputTokens: r.receipt.inputTokens, ticketDigest: r.ticketDigest },
          },
          () =>
            vectors
              .map(
                (v, i) =>
                  `${i}\t[${v.length}] ${v
                    .slice(0, 4)
                    .map((x) => x.toFixed(4))
                    .join(" ")} ...\t${inputs[i]!.slice(0, 40)}`,
              )
              .join("\n"),
        );
        process.stderr.write(`[${r.receipt.inputTokens} input tokens, ${formatAmount(r.fee)}, receipt verified, provider ${r.provider}]\n`);
      } finally {
        await paid.close();
        await store.close();
      }
    });

  program
    .command("serve")
    .description("run a local OpenAI-compatible gateway on 127.0.0.1 that pays providers and verifies receipts")
    .option("--port <n>", "port on 127.0.0.1", "4000")
    .option(
      "--token-file <path>",
      "file holding the bearer token local clients must send (else env ZG_GATEWAY_TOKEN; default: a random token, printed)",
    )
    .option("--model <id>", "only this model")
    .option("--provider <address>", "only this provider")
    .option("--max-tokens <n>", "max_tokens for requests without one", "512")
    .option("--max-cost <amount>", "refuse requests that could cost more than this many 0G")
    .action(async (cmd: PaidOptions & { port: string; tokenFile?: string }) => {
      const opts = globals();
      // The token never goes on the command line, where every local user can read it (ps, /proc).
      const fromFile =
        cmd.tokenFile === undefined
          ? undefined
          : (
              await readFile(cmd.tokenFile, "utf8").catch(() => {
                throw new InvalidArgumentError(`cannot read the token file ${cmd.tokenFile}`);
              })
            ).trim();
      if (fromFile === "") throw new InvalidArgumentError(`the token file ${cmd.tokenFile} is empty`);
      const client = await clientFrom(opts);
      const { paid, store } = await paidFetchFrom(opts, cmd, client);
      const token = fromFile ?? process.env.ZG_GATEWAY_TOKEN ?? randomBytes(24).toString("hex");
      const gw = await startGateway({ paidFetch: paid, token, port: Number(cmd.port) });
      output(opts, { url: gw.url, token }, () => `OpenAI-compatible gateway at ${gw.url}\nbearer token ${token}\n(Ctrl-C stops it)`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await gw.close();
      await paid.close();
      await store.close();
    });
}
