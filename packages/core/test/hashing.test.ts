import { describe, expect, it } from "@jest/globals";
import { concat, keccak256, toBytes } from "viem";
import { requestHash, responseHash, SseParser, StreamHasher, ZERO_HASH } from "../src/index.js";

const TOOL_DELTA = JSON.stringify({
  id: "c1",
  object: "chat.completion.chunk",
  choices: [
    {
      index: 0,
      delta: { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":' } }] },
    },
  ],
});
// A fixed transcript: CRLF line endings, keep-alive comments, an event/id field, multi-line data, a tool-call delta.
const TRANSCRIPT =
  ": keep-alive\r\n\r\n" +
  'data: {"choices":[{"delta":{"content":"Hel"}}]}\r\n\r\n' +
  'event: message\r\nid: 7\r\ndata: {"choices":[{"delta":{"content":"lo"}}]}\r\n\r\n' +
  ": ping\n\n" +
  `data: ${TOOL_DELTA}\n\n` +
  "data: line one\ndata: line two\r\rdata: [DONE]\n\n";
const EXPECTED_DATA = [
  '{"choices":[{"delta":{"content":"Hel"}}]}',
  '{"choices":[{"delta":{"content":"lo"}}]}',
  TOOL_DELTA,
  "line one\nline two",
  "[DONE]",
];

function hashOf(chunks: string[]): { data: string[]; hash: string } {
  const parser = new SseParser();
  const hasher = new StreamHasher();
  const data: string[] = [];
  for (const chunk of chunks) {
    for (const ev of parser.push(chunk)) {
      data.push(ev.data);
      if (ev.data !== "[DONE]") hasher.update(ev.data);
    }
  }
  return { data, hash: hasher.digest() };
}

/** Deterministic pseudo-random splits (xorshift), so failures reproduce. */
function split(text: string, seed: number): string[] {
  let x = seed || 1;
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const n = 1 + (Math.abs(x) % 9);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

describe("request, response and stream hashing", () => {
  it("requestHash binds the method, path and raw body bytes", () => {
    const body = '{"model":"demo","max_tokens":8}';
    expect(requestHash("/v1/chat/completions", body)).toBe(keccak256(toBytes(`POST /v1/chat/completions\n${body}`)));
    expect(requestHash("/v1/chat/completions", body)).not.toBe(requestHash("/v1/completions", body));
    // Re-serialized JSON (other spacing) is another request.
    expect(requestHash("/v1/chat/completions", body)).not.toBe(
      requestHash("/v1/chat/completions", JSON.stringify(JSON.parse(body), null, 1)),
    );
    expect(requestHash("/v1/x", new TextEncoder().encode("é"))).toBe(requestHash("/v1/x", "é"));
    expect(responseHash("abc")).toBe(keccak256(toBytes("abc")));
  });

  it("parses the transcript per the SSE rules", () => {
    expect(hashOf([TRANSCRIPT]).data).toEqual(EXPECTED_DATA);
  });

  it("the stream hash is the specified chain over data payloads", () => {
    let h = ZERO_HASH as string;
    for (const d of EXPECTED_DATA.slice(0, -1)) h = keccak256(concat([h as `0x${string}`, keccak256(toBytes(d))]));
    expect(hashOf([TRANSCRIPT]).hash).toBe(h);
  });

  it("the same hash whatever the chunk boundaries (100 random splits, one byte at a time, LF-normalised)", () => {
    const reference = hashOf([TRANSCRIPT]).hash;
    for (let seed = 1; seed <= 100; seed++) expect(hashOf(split(TRANSCRIPT, seed)).hash).toBe(reference);
    expect(hashOf([...TRANSCRIPT]).hash).toBe(reference);
    expect(hashOf([TRANSCRIPT.replace(/\r\n|\r/g, "\n")]).hash).toBe(reference);
  });

  it("an unterminated last event is not dispatched; events without data are not either", () => {
    const parser = new SseParser();
    expect(parser.push("event: x\n\ndata: partial")).toEqual([]);
    parser.end();
    expect(parser.push("data:\n\n")).toEqual([{ data: "" }]);
  });
});
