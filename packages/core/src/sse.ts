import { ZeroGError } from "./errors.js";

/** One server-sent event, as the SSE specification parses it. */
export interface SseEvent {
  /** The `data` field, multi-line values joined with `\n`, no trailing newline. */
  data: string;
  /** The `event` field, if any. */
  event?: string;
  /** The `id` field, if any. */
  id?: string;
}

/**
 * Incremental parser for `text/event-stream` (the WHATWG rules): accepts `\n`, `\r\n` and `\r` line
 * endings, ignores comment lines (keep-alives), joins multi-line data with `\n`, and dispatches an event
 * on each blank line that follows at least one `data` line (events without data are not dispatched). Bytes may arrive split anywhere.
 *
 * @example
 * const parser = new SseParser();
 * for await (const chunk of body) for (const ev of parser.push(decoder.decode(chunk, { stream: true }))) handle(ev);
 */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event: string | undefined;
  private id: string | undefined;
  private hasData = false;
  private pendingCr = false;

  /** Feed decoded text; returns the events completed by it. */
  push(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    let input = text;
    if (this.pendingCr) {
      // A "\r" ended the previous chunk; a "\n" starting this one belongs to the same line break.
      if (input.startsWith("\n")) input = input.slice(1);
      this.pendingCr = false;
    }
    this.buffer += input;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      if (match[0] === "\r" && match.index === this.buffer.length - 1) {
        // Could be the first half of "\r\n": consume the line and skip a leading "\n" next time.
        this.pendingCr = true;
      }
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  /** Call at end of stream: dispatches nothing (an unterminated event is dropped, as the spec says). */
  end(): void {
    this.buffer = "";
    this.reset();
  }

  private line(line: string): SseEvent | undefined {
    if (line === "") {
      if (!this.hasData) return undefined;
      const ev: SseEvent = { data: this.data.join("\n") };
      if (this.event !== undefined) ev.event = this.event;
      if (this.id !== undefined) ev.id = this.id;
      this.reset();
      return ev;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      this.data.push(value);
      this.hasData = true;
    } else if (field === "event") {
      this.event = value;
    } else if (field === "id") {
      this.id = value;
    }
    return undefined;
  }

  private reset(): void {
    this.data = [];
    this.event = undefined;
    this.id = undefined;
    this.hasData = false;
  }
}

/** A stream event whose `data` is not JSON, where an OpenAI-style stream must carry JSON. */
export class SseJsonError extends ZeroGError {
  constructor(readonly data: string) {
    super("SSE_NOT_JSON", `a stream event is not JSON: ${data.slice(0, 80)}`);
  }
}

/**
 * The events of an OpenAI-style stream (`text/event-stream` whose events carry JSON), parsed: each event's
 * `data` as JSON, in order, to the end of the body (`data: [DONE]` is skipped). Throws {@link SseJsonError} on an
 * event that is not JSON. One reader for every consumer of such a stream (clients, the provider's upstream).
 *
 * @example
 * for await (const chunk of readSseJson<{ choices: { delta: { content?: string } }[] }>(res.body!)) {
 *   process.stdout.write(chunk.choices[0]?.delta.content ?? "");
 * }
 */
export async function* readSseJson<T = unknown>(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<T, void> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  for await (const bytes of body as AsyncIterable<Uint8Array>) {
    for (const ev of parser.push(decoder.decode(bytes, { stream: true }))) {
      // Read on to the end of the body even after [DONE]: a paying client verifies the receipt when the
      // body ends, and stopping early would cancel the stream before that.
      if (ev.data === "[DONE]") continue;
      let parsed: T;
      try {
        parsed = JSON.parse(ev.data) as T;
      } catch {
        throw new SseJsonError(ev.data);
      }
      yield parsed;
    }
  }
}
