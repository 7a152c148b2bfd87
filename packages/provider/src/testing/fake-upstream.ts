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
  /** Requests received. */
  requests: number;
  /** Bodies received, newest last (for assertions on what the provider forwarded). */
  bodies: Record<string, unknown>[];
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
}

/**
 * Start a fake upstream on 127.0.0.1. Token counts are deterministic: input = words in all message
 * contents + 4 per message; output = words of the reply, cut at `max_tokens`. With `tools` (and a
 * `tool_choice` other than "none") it answers with calls: `get_weather({"city":"Paris"})`, and when
 * `parallel_tool_calls` is not false and a second tool exists, a second call to it with `{}`.
 */
export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const words = (options.reply ?? "Hello from the fake upstream model .").split(" ");
  const fake: FakeUpstream = { url: "", mode: options.mode ?? "ok", slowMs: options.slowMs ?? 50, requests: 0, bodies: [], close: async () => undefined };

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    fake.requests += 1;
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
      messages: { content?: unknown }[];
      max_tokens?: number;
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
      tools?: { function: { name: string } }[];
      tool_choice?: unknown;
      parallel_tool_calls?: boolean;
    };
    fake.bodies.push(body as Record<string, unknown>);
    if (fake.bodies.length > (options.keepBodies ?? 50)) fake.bodies.shift();
    if (fake.mode === "crash") {
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "upstream crashed" } }));
      return;
    }
    const text = (c: unknown) => (typeof c === "string" ? c : Array.isArray(c) ? c.map((p: { text?: string }) => p.text ?? "").join(" ") : "");
    const promptTokens = body.messages.reduce((s, m) => s + text(m.content).split(/\s+/).filter(Boolean).length + 4, 0);
    const max = body.max_tokens ?? words.length;
    const useTools = body.tools && body.tools.length > 0 && body.tool_choice !== "none";
    const toolCalls = useTools
      ? [
          { id: "call_1", type: "function", function: { name: body.tools![0]!.function.name, arguments: "{\"city\":\"Paris\"}" } },
          ...(body.parallel_tool_calls !== false && body.tools!.length > 1 ? [{ id: "call_2", type: "function", function: { name: body.tools![1]!.function.name, arguments: "{}" } }] : []),
        ]
      : [];
    const out = useTools ? toolCalls.length * 8 : Math.min(max, words.length);
    const reply = words.slice(0, out);
    const usage = { prompt_tokens: promptTokens, completion_tokens: out, total_tokens: promptTokens + out };
    const finish = useTools ? "tool_calls" : out < words.length ? "length" : "stop";
    if (!body.stream) {
      if (fake.mode === "slow") await new Promise((r) => setTimeout(r, fake.slowMs * Math.max(1, reply.length)));
      const message = useTools ? { role: "assistant", content: null, tool_calls: toolCalls } : { role: "assistant", content: reply.join(" ") };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "fake-1", object: "chat.completion", created: 0, model: "upstream", choices: [{ index: 0, message, finish_reason: finish }], ...(fake.mode === "no-usage" ? {} : { usage }) }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
    const base = { id: "fake-1", object: "chat.completion.chunk", created: 0, model: "upstream" };
    if (useTools) {
      toolCalls.forEach((call, index) => {
        send({ ...base, choices: [{ index: 0, delta: { role: "assistant", tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] } }] });
        send({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index, function: { arguments: call.function.arguments } }] } }] });
      });
    } else {
      for (let i = 0; i < reply.length; i++) {
        if (res.destroyed) return;
        send({ ...base, choices: [{ index: 0, delta: { ...(i === 0 ? { role: "assistant" } : {}), content: (i === 0 ? "" : " ") + reply[i] } }] });
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
