// Child process for benchmarks: the same upstream backend with no payment layer at all, the baseline the
// paid provider is compared with. Arguments: upstream URL, model, and `hono` (default: the provider's own
// HTTP stack) or `bare` (node:http with nothing in between). Prints its URL.
import { createServer } from "node:http";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { type ChatBody, chatBodySchema } from "../backend.js";
import { UpstreamBackend } from "../backends/upstream.js";

const [upstreamUrl, model, stack = "hono"] = process.argv.slice(2) as [string, string, string?];
const backend = new UpstreamBackend({ baseUrl: upstreamUrl, models: [{ id: model, contextLength: 2048 }] });

async function answer(text: string, signal: AbortSignal): Promise<string> {
  const body: ChatBody = chatBodySchema.parse(JSON.parse(text));
  const { completion, usage } = await backend.complete(body, { maxOutputTokens: body.max_tokens ?? 16, signal });
  return JSON.stringify({ ...completion, usage: { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens } });
}

const listening = (port: number) => process.stdout.write(`http://127.0.0.1:${port}\n`);
if (stack === "bare") {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const aborted = new AbortController();
      res.once("close", () => aborted.abort());
      answer(Buffer.concat(chunks).toString(), aborted.signal).then(
        (json) => res.writeHead(200, { "content-type": "application/json" }).end(json),
        () => res.writeHead(502).end(),
      );
    });
  });
  server.listen(0, "127.0.0.1", () => listening((server.address() as { port: number }).port));
} else {
  const app = new Hono();
  app.post("/v1/chat/completions", async (c) =>
    c.body(await answer(await c.req.text(), c.req.raw.signal), 200, { "content-type": "application/json" }),
  );
  serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => listening(info.port));
}
process.once("SIGTERM", () => process.exit(0));
