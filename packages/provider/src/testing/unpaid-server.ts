// Child process for benchmarks: the same upstream backend behind the same HTTP stack, with no payment
// layer at all. The baseline the paid provider is compared with. Prints its URL.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { chatBodySchema } from "../backend.js";
import { UpstreamBackend } from "../backends/upstream.js";

const [upstreamUrl, model] = process.argv.slice(2) as [string, string];
const backend = new UpstreamBackend({ baseUrl: upstreamUrl, models: [{ id: model, contextLength: 2048 }] });
const app = new Hono();
app.post("/v1/chat/completions", async (c) => {
  const body = chatBodySchema.parse(JSON.parse(await c.req.text()));
  const { completion, usage } = await backend.complete(body, { maxOutputTokens: body.max_tokens ?? 16, signal: c.req.raw.signal });
  return c.json({ ...completion, usage: { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens } });
});
serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => process.stdout.write(`http://127.0.0.1:${info.port}\n`));
process.once("SIGTERM", () => process.exit(0));
