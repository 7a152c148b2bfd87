import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** How the fake upstream behaves; tests switch it at run time. */
export type FakeUpstreamMode = "ok" | "no-usage" | "crash" | "slow";

/** A deterministic OpenAI-compatible server for tests and benchmarks (loopback only). */
export interface FakeUpstream {
  /** Base URL including `/v1`. */
  url: string;
  mode: FakeUpstreamMode;
  /** Delay per word in "slow" mode (ms); tests may change it. */
  slowMs: number;
  /** Fixed delay before every answer (ms); may be changed at run time. */
  latencyMs: number;
  /** Requests received. */
  requests: number;
  /** Bodies received, newest last (for assertions on what the provider forwarded). */
  bodies: Record<string, unknown>[];
  /** The object answered to `response_format: {type: "json_object"}` (no schema to follow); tests may change it. */
  json: unknown;
  /**
   * Seconds of audio the transcription endpoint reports (default: the file's bytes at 16,000 a second,
   * rounded up); tests set it to make the upstream over-report.
   */
  reportedSeconds: number | undefined;
  close(): Promise<void>;
}

/** Options for {@link startFakeUpstream}. */
export interface FakeUpstreamOptions {
  /** The reply, one token per word (default "Hello from the fake upstream model ."). */
  reply?: string;
  mode?: FakeUpstreamMode;
  /** Delay between streamed words in "slow" mode (default 50 ms). */
  slowMs?: number;
  /** Keep only the last N bodies (default 50). */
  keepBodies?: number;
  /** A fixed delay before every answer, like a real model's time to answer (default 0). */
  latencyMs?: number;
  /** The object answered in JSON mode (default `{"reply": "Hello from the fake upstream model ."}`). */
  json?: unknown;
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
};

/**
 * A deterministic value that matches a JSON schema: strings are "Paris", numbers 1 (or the minimum),
 * booleans true, arrays one item, objects every listed property, enums their first value.
 */
export function sampleFromSchema(schema: JsonSchema | undefined): unknown {
  if (!schema || typeof schema !== "object") return {};
  if ("const" in schema) return schema.const;
  if (schema.enum && schema.enum.length > 0) return schema.enum[0];
  const alt = schema.anyOf ?? schema.oneOf;
  if (alt && alt.length > 0) return sampleFromSchema(alt.find((s) => s.type !== "null") ?? alt[0]);
  const type = Array.isArray(schema.type) ? (schema.type.find((t) => t !== "null") ?? schema.type[0]) : schema.type;
  switch (type) {
    case "string":
      return "Paris";
    case "number":
    case "integer":
      return schema.minimum !== undefined && schema.minimum > 1 ? schema.minimum : 1;
    case "boolean":
      return true;
    case "null":
      return null;
    case "array":
      return [sampleFromSchema(schema.items)];
    default:
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, sampleFromSchema(v)]));
  }
}

/** JSON text as tokens: a piece ends after each comma or colon. */
const jsonTokens = (text: string): string[] => text.match(/[^,:]+[,:]?|[,:]/g) ?? [text];

/** Vector size of the fake upstream's embeddings. */
export const FAKE_EMBEDDING_DIMENSIONS = 8;

/**
 * The fake upstream's embedding of a text: a unit vector of {@link FAKE_EMBEDDING_DIMENSIONS} (or
 * `dimensions`) numbers derived from its words (a bag of hashed words), so texts sharing words are close.
 */
export function fakeEmbedding(text: string, dimensions = FAKE_EMBEDDING_DIMENSIONS): number[] {
  const v = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().split(/\W+/).filter(Boolean)) {
    let h = 2166136261;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619) >>> 0;
    v[h % dimensions]! += 1;
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

/**
 * Answer `POST /v1/images/generations`: `n` tiny PNG-like images as `b64_json`, each the bytes of its
 * prompt and index (deterministic). Mode "no-usage" leaves `data` out (nothing reported).
 */
function answerImages(fake: FakeUpstream, body: { prompt?: string; n?: number }, res: ServerResponse): void {
  const n = body.n ?? 1;
  const data = Array.from({ length: n }, (_, i) => ({ b64_json: Buffer.from(`image ${i} of ${body.prompt ?? ""}`).toString("base64") }));
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ created: 0, ...(fake.mode === "no-usage" ? {} : { data }) }));
}

/**
 * Answer `POST /v1/audio/transcriptions` (multipart): the text says how many bytes the file had; `usage`
 * reports the file's seconds at 16,000 bytes a second (or `reportedSeconds`). Mode "no-usage" leaves
 * `usage` out.
 */
async function answerTranscription(fake: FakeUpstream, raw: Buffer, contentType: string, res: ServerResponse): Promise<void> {
  const form = await new Response(raw, { headers: { "content-type": contentType } }).formData();
  const file = form.get("file");
  const size = file && typeof file !== "string" ? file.size : 0;
  const seconds = fake.reportedSeconds ?? Math.ceil(size / 16_000);
  fake.bodies.push({ model: form.get("model"), fileBytes: size });
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      text: `transcribed ${size} bytes`,
      ...(fake.mode === "no-usage" ? {} : { usage: { type: "duration", seconds } }),
    }),
  );
}

/** Answer `POST /v1/embeddings`: input tokens = words + 2 per input. */
function answerEmbeddings(fake: FakeUpstream, body: { input?: unknown; dimensions?: number }, res: ServerResponse): void {
  const inputs = typeof body.input === "string" ? [body.input] : Array.isArray(body.input) ? (body.input as string[]) : [];
  const promptTokens = inputs.reduce((s, t) => s + t.split(/\s+/).filter(Boolean).length + 2, 0);
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      object: "list",
      data: inputs.map((t, index) => ({ object: "embedding", index, embedding: fakeEmbedding(t, body.dimensions) })),
      model: "upstream-embed",
      ...(fake.mode === "no-usage" ? {} : { usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } }),
    }),
  );
}

/**
 * Start a fake upstream on 127.0.0.1. Token counts are deterministic: input = words in all message
 * contents + 4 per message; output = words of the reply, cut at `max_tokens` (and before the first
 * `stop` sequence). With `tools` (and a `tool_choice` other than "none") it answers with calls: the
 * first tool with arguments sampled from its schema (`get_weather({"city":"Paris"})`; a tool without
 * parameters gets `{"city":"Paris"}`), and when `parallel_tool_calls` is not false and a second tool
 * exists, a second call to it (`{}` when it has no properties). A `tool_choice` naming a function
 * calls that one only. After a tool result (the last message has role "tool") it answers in text.
 * `response_format` json_schema answers a sample of the schema ({@link sampleFromSchema}); json_object
 * answers `json`. JSON replies are tokens split after each comma and colon.
 */
export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const words = (options.reply ?? "Hello from the fake upstream model .").split(" ");
  const fake: FakeUpstream = {
    url: "",
    mode: options.mode ?? "ok",
    slowMs: options.slowMs ?? 50,
    latencyMs: options.latencyMs ?? 0,
    requests: 0,
    bodies: [],
    json: options.json ?? { reply: words.join(" ") },
    reportedSeconds: undefined,
    close: async () => undefined,
  };

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    fake.requests += 1;
    const embeddings = req.method === "POST" && req.url?.endsWith("/embeddings");
    if (req.method === "POST" && req.url?.endsWith("/audio/transcriptions")) {
      if (fake.mode === "crash") res.writeHead(500).end();
      else await answerTranscription(fake, Buffer.concat(chunks), req.headers["content-type"] ?? "", res);
      return;
    }
    const images = req.method === "POST" && req.url?.endsWith("/images/generations");
    if (!embeddings && !images && (req.method !== "POST" || !req.url?.endsWith("/chat/completions"))) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
      messages: { role?: string; content?: unknown }[];
      max_tokens?: number;
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
      tools?: { function: { name: string; parameters?: JsonSchema } }[];
      tool_choice?: unknown;
      parallel_tool_calls?: boolean;
      stop?: string | string[];
      response_format?: { type?: string; json_schema?: { schema?: JsonSchema } };
    };
    fake.bodies.push(body as Record<string, unknown>);
    if (fake.bodies.length > (options.keepBodies ?? 50)) fake.bodies.shift();
    if (fake.latencyMs > 0) await new Promise((r) => setTimeout(r, fake.latencyMs));
    if (fake.mode === "crash") {
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "upstream crashed" } }));
      return;
    }
    if (embeddings) {
      answerEmbeddings(fake, body as { input?: unknown; dimensions?: number }, res);
      return;
    }
    if (images) {
      answerImages(fake, body as { prompt?: string; n?: number }, res);
      return;
    }
    const text = (c: unknown) =>
      typeof c === "string" ? c : Array.isArray(c) ? c.map((p: { text?: string }) => p.text ?? "").join(" ") : "";
    const promptTokens = body.messages.reduce((s, m) => s + text(m.content).split(/\s+/).filter(Boolean).length + 4, 0);
    const max = body.max_tokens ?? words.length;
    const afterToolResult = body.messages.at(-1)?.role === "tool";
    const useTools = body.tools && body.tools.length > 0 && body.tool_choice !== "none" && !afterToolResult;
    const named =
      typeof body.tool_choice === "object" && body.tool_choice !== null
        ? (body.tool_choice as { function?: { name?: string } }).function?.name
        : undefined;
    const argsFor = (tool: { function: { parameters?: JsonSchema } }, fallback: unknown) =>
      JSON.stringify(tool.function.parameters ? sampleFromSchema(tool.function.parameters) : fallback);
    const chosen = named ? (body.tools?.filter((t) => t.function.name === named) ?? []) : (body.tools ?? []);
    const toolCalls =
      useTools && chosen.length > 0
        ? [
            {
              id: "call_1",
              type: "function",
              function: { name: chosen[0]!.function.name, arguments: argsFor(chosen[0]!, { city: "Paris" }) },
            },
            ...(!named && body.parallel_tool_calls !== false && chosen.length > 1
              ? [{ id: "call_2", type: "function", function: { name: chosen[1]!.function.name, arguments: argsFor(chosen[1]!, {}) } }]
              : []),
          ]
        : [];
    const rf = body.response_format?.type;
    const replyWords =
      rf === "json_schema"
        ? jsonTokens(JSON.stringify(sampleFromSchema(body.response_format?.json_schema?.schema)))
        : rf === "json_object"
          ? jsonTokens(JSON.stringify(fake.json))
          : words;
    const json = rf === "json_schema" || rf === "json_object";
    const join = (ws: string[]) => ws.join(json ? "" : " ");
    // Cut before the first stop sequence (whole words only), as an OpenAI server does.
    const stops = (typeof body.stop === "string" ? [body.stop] : (body.stop ?? [])).filter((s) => s !== "");
    let full = replyWords;
    for (let n = 1; n <= replyWords.length && stops.length > 0; n++) {
      if (stops.some((s) => join(replyWords.slice(0, n)).includes(s))) {
        full = replyWords.slice(0, n - 1);
        break;
      }
    }
    const out = toolCalls.length > 0 ? toolCalls.length * 8 : Math.min(max, full.length);
    const reply = full.slice(0, out);
    const usage = { prompt_tokens: promptTokens, completion_tokens: out, total_tokens: promptTokens + out };
    const finish = toolCalls.length > 0 ? "tool_calls" : out < full.length ? "length" : "stop";
    if (!body.stream) {
      if (fake.mode === "slow") await new Promise((r) => setTimeout(r, fake.slowMs * Math.max(1, reply.length)));
      const message =
        toolCalls.length > 0 ? { role: "assistant", content: null, tool_calls: toolCalls } : { role: "assistant", content: join(reply) };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "fake-1",
          object: "chat.completion",
          created: 0,
          model: "upstream",
          choices: [{ index: 0, message, finish_reason: finish }],
          ...(fake.mode === "no-usage" ? {} : { usage }),
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
    const base = { id: "fake-1", object: "chat.completion.chunk", created: 0, model: "upstream" };
    if (toolCalls.length > 0) {
      toolCalls.forEach((call, index) => {
        send({
          ...base,
          choices: [
            {
              index: 0,
              delta: {
                role: "assistant",
                tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }],
              },
            },
          ],
        });
        send({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index, function: { arguments: call.function.arguments } }] } }] });
      });
    } else {
      for (let i = 0; i < reply.length; i++) {
        if (res.destroyed) return;
        send({
          ...base,
          choices: [{ index: 0, delta: { ...(i === 0 ? { role: "assistant" } : {}), content: (i === 0 || json ? "" : " ") + reply[i] } }],
        });
        if (fake.mode === "slow") await new Promise((r) => setTimeout(r, fake.slowMs));
      }
    }
    send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] });
    if (body.stream_options?.include_usage && fake.mode !== "no-usage") send({ ...base, choices: [], usage });
    res.end("data: [DONE]\n\n");
  };

  const server = createServer((req, res) => {
    handler(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return fake;
}
