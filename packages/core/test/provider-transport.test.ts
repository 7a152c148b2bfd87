// The transports to providers: undici's (the Node.js default) and fetch's (browsers, injected fetches)
// give the same reply for the same exchange, abort on the caller's signal and reject when nothing listens.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fetchTransport, providerTransport, undiciTransport, type ProviderTransport } from "../src/index.js";

let server: Server;
let base: string;
const seen: { method?: string; headers?: Record<string, unknown>; body?: string }[] = [];

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    seen.push({ method: req.method!, headers: req.headers, body: Buffer.concat(chunks).toString() });
    if (req.url === "/hang") return; // never answers: only an abort ends it
    if (req.url === "/moved") return res.writeHead(308, { location: "/echo" }).end();
    if (req.url === "/stream") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: one\n\n");
      setTimeout(() => res.end("data: two\n\n"), 20);
      return;
    }
    res.setHeader("X-Receipt", "r1");
    res.setHeader("X-Many", ["a", "b"]);
    res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ echo: Buffer.concat(chunks).toString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const transports: [string, ProviderTransport][] = [
  ["undici", undiciTransport],
  ["fetch", fetchTransport(fetch)],
];

describe.each(transports)("%s transport", (_name, transport) => {
  it("sends method, headers and body; answers status, lower-cased headers and the body", async () => {
    const reply = await transport(new URL("/echo", base), {
      method: "POST",
      headers: { "content-type": "application/json", "x-0g-ticket": "t" },
      body: new TextEncoder().encode("héllo"),
    });
    expect(reply.status).toBe(201);
    expect(reply.headers["x-receipt"]).toBe("r1");
    expect(reply.headers["x-many"]).toBe("a, b");
    expect(JSON.parse(await reply.text())).toEqual({ echo: "héllo" });
    const last = seen.at(-1)!;
    expect(last.method).toBe("POST");
    expect(last.headers?.["x-0g-ticket"]).toBe("t");
    expect(last.headers?.["content-length"]).toBe(String(new TextEncoder().encode("héllo").length));
  });

  it("reads a body as bytes, or as a stream of its chunks", async () => {
    const bytes = await (await transport(new URL("/echo", base), { method: "GET", headers: {} })).bytes();
    expect(new TextDecoder().decode(bytes)).toBe(JSON.stringify({ echo: "" }));
    const reply = await transport(new URL("/stream", base), { method: "GET", headers: {} });
    expect(reply.headers["content-type"]).toBe("text/event-stream");
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of reply.stream() as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
    expect(text).toBe("data: one\n\ndata: two\n\n");
  });

  it("rejects when the caller's signal aborts, and when nothing listens", async () => {
    const controller = new AbortController();
    const pending = transport(new URL("/hang", base), { method: "GET", headers: {}, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toThrow();
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(transport(new URL(`http://127.0.0.1:${port}/`), { method: "GET", headers: {} })).rejects.toThrow();
  });
});

describe("undici transport", () => {
  // (Node 20's fetch fails this redirect: it cannot resend a byte body.)
  it("follows a redirect with the same method and body, and names a user agent", async () => {
    const reply = await undiciTransport(new URL("/moved", base), { method: "POST", headers: {}, body: new TextEncoder().encode("again") });
    expect(reply.status).toBe(201);
    expect(JSON.parse(await reply.text())).toEqual({ echo: "again" });
    expect(seen.at(-1)!.headers?.["user-agent"]).toBe("0g-compute");
  });
});

describe("providerTransport", () => {
  it("is undici's in Node.js, and a caller's own fetch when one is passed", async () => {
    expect(providerTransport()).toBe(undiciTransport);
    const calls: string[] = [];
    const own = (async (input: string | URL | Request, init?: RequestInit) => {
      calls.push(`${init?.method} ${String(input)}`);
      return fetch(input, init);
    }) as typeof fetch;
    const reply = await providerTransport(own)(new URL("/echo", base), { method: "GET", headers: {} });
    expect(reply.status).toBe(201);
    await reply.text();
    expect(calls).toEqual([`GET ${base}/echo`]);
  });
});
