// Endpoints priced per unit, sold from an upstream: images per image, transcriptions per second of audio
// (multipart). The openai package buys them through core's paid fetch; the fee is what the upstream
// reports, bounded by what the ticket signed for; the receipt binds the exact bytes returned.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import OpenAI, { toFile } from "openai";
import {
  audioSecondsBound,
  IMAGES_PATH,
  RECEIPT_HEADER,
  responseHash,
  TICKET_HEADER,
  TRANSCRIPTIONS_PATH,
  type ZeroGClient,
} from "@0g-compute/core";
import { UpstreamBackend } from "../src/index.js";
import { startFakeUpstream, type FakeUpstream } from "../src/testing/fake-upstream.js";
import { INPUT_PRICE, post, startProviderFixture, type ProviderFixture } from "./helpers.js";

const BASE = "http://0g.invalid/v1";
const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe("images from an upstream, priced per image", () => {
  let upstream: FakeUpstream;
  let f: ProviderFixture;
  let alice: ZeroGClient;
  beforeAll(async () => {
    upstream = await startFakeUpstream();
    f = await startProviderFixture(
      () =>
        new UpstreamBackend({
          baseUrl: upstream.url,
          models: [{ id: "img", upstreamModel: "up-img", contextLength: 1, capabilities: ["images"] }],
        }),
      "img",
      {},
      { name: "images", metadata: { kind: "images", unit: "image" } },
    );
    alice = await f.user(1, 10n ** 16n);
    await f.user(3, 10n ** 16n);
  }, 60_000);
  afterAll(async () => {
    await f?.stop();
    await upstream?.close();
  });

  it("bills the images the upstream returned, with a receipt over the exact bytes", async () => {
    const paid = f.paid(alice);
    const openai = new OpenAI({ baseURL: BASE, apiKey: "x", fetch: paid, maxRetries: 0 });
    const r = await openai.images.generate({ model: "img", prompt: "a cat", n: 2, response_format: "b64_json" });
    expect(r.data).toHaveLength(2);
    expect(Buffer.from(r.data![1]!.b64_json!, "base64").toString()).toBe("image 1 of a cat");
    expect(upstream.bodies.at(-1)).toMatchObject({ model: "up-img", n: 2, prompt: "a cat" });
    const receipt = paid.receipts.at(-1)!;
    expect(receipt.receipt).toMatchObject({ inputTokens: 2, outputTokens: 0 });
    expect(receipt.fee).toBe(2n * INPUT_PRICE);
    await paid.close();
  });

  it("refuses before reserving: n out of range, a ticket that does not cover n images, a chat request", async () => {
    const bob = f.chain.wallet(3).account;
    const send = async (body: string, nonce: bigint, over: Record<string, unknown> = {}, path = IMAGES_PATH) =>
      post(f.node.url, body, await f.rawTicket(bob as never, body, { path, nonce, ...over }), path);
    expect(await code(await send(JSON.stringify({ model: "img", prompt: "x", n: 11 }), 1n))).toBe("invalid_request");
    const two = JSON.stringify({ model: "img", prompt: "x", n: 2 });
    expect(await code(await send(two, 2n, { terms: { maxCost: INPUT_PRICE } }))).toBe("max_cost_too_low");
    const chat = JSON.stringify({ model: "img", messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
    expect(await code(await send(chat, 3n, {}, "/v1/chat/completions"))).toBe("model_not_found");
    expect(f.node.store.lane(bob.address, bob.address).billed).toBe(0n);
  });

  it("bills nothing when the upstream does not say what it produced", async () => {
    upstream.mode = "no-usage";
    try {
      const bob = f.chain.wallet(3).account;
      const body = JSON.stringify({ model: "img", prompt: "x" });
      const res = await post(f.node.url, body, await f.rawTicket(bob as never, body, { path: IMAGES_PATH, nonce: 10n }), IMAGES_PATH);
      expect(res.status).toBe(502);
      expect(await code(res)).toBe("backend_error");
      expect(f.node.store.lane(bob.address, bob.address).billed).toBe(0n);
    } finally {
      upstream.mode = "ok";
    }
  });
});

describe("transcriptions from an upstream, priced per second of audio (multipart)", () => {
  let upstream: FakeUpstream;
  let f: ProviderFixture;
  let alice: ZeroGClient;
  beforeAll(async () => {
    upstream = await startFakeUpstream();
    f = await startProviderFixture(
      () =>
        new UpstreamBackend({
          baseUrl: upstream.url,
          models: [{ id: "stt", upstreamModel: "up-stt", contextLength: 1, capabilities: ["transcription"] }],
        }),
      "stt",
      {},
      { name: "transcription", metadata: { kind: "transcription", unit: "second" } },
    );
    alice = await f.user(1, 10n ** 16n);
    await f.user(3, 10n ** 16n);
  }, 60_000);
  afterAll(async () => {
    await f?.stop();
    await upstream?.close();
  });

  it("forwards the file, bills the seconds the upstream reports, and the receipt binds the bytes returned", async () => {
    const paid = f.paid(alice);
    const openai = new OpenAI({ baseURL: BASE, apiKey: "x", fetch: paid, maxRetries: 0 });
    const audio = Buffer.alloc(48_000, 7); // 3 s at 16 kB/s
    const r = await openai.audio.transcriptions.create({ model: "stt", file: await toFile(audio, "speech.wav") });
    expect(r.text).toBe("transcribed 48000 bytes");
    expect(upstream.bodies.at(-1)).toEqual({ model: "up-stt", fileBytes: 48_000 });
    const receipt = paid.receipts.at(-1)!;
    expect(receipt.receipt).toMatchObject({ inputTokens: 3, outputTokens: 0 });
    expect(receipt.fee).toBe(3n * INPUT_PRICE);
    await paid.close();
  });

  it("never bills more seconds than the file's bytes allow, whatever the upstream reports", async () => {
    upstream.reportedSeconds = 1_000_000;
    try {
      const paid = f.paid(alice);
      const form = new FormData();
      form.append("model", "stt");
      form.append("file", new Blob([Buffer.alloc(5_000)]), "a.wav");
      const res = await paid(`${BASE}${TRANSCRIPTIONS_PATH.slice(3)}`, { method: "POST", body: form });
      expect(res.status).toBe(200);
      const receipt = paid.receipts.at(-1)!;
      expect(receipt.receipt.inputTokens).toBe(audioSecondsBound(5_000));
      // The receipt's hash is over the exact bytes the client received.
      expect(receipt.receipt.responseHash).toBe(responseHash(new Uint8Array(await res.arrayBuffer())));
      await paid.close();
    } finally {
      upstream.reportedSeconds = undefined;
    }
  });

  it("refuses a body that is not multipart, or has no file, before reserving anything", async () => {
    const bob = f.chain.wallet(3).account;
    const json = JSON.stringify({ model: "stt" });
    const res = await post(
      f.node.url,
      json,
      await f.rawTicket(bob as never, json, { path: TRANSCRIPTIONS_PATH, nonce: 1n }),
      TRANSCRIPTIONS_PATH,
    );
    expect(res.status).toBe(400);
    expect(await code(res)).toBe("invalid_request");
    expect(res.headers.get(RECEIPT_HEADER)).toBeNull();
    const form = new FormData();
    form.append("model", "stt");
    const encoded = new Response(form);
    const bytes = new Uint8Array(await encoded.arrayBuffer());
    const noFile = await fetch(`${f.node.url}${TRANSCRIPTIONS_PATH}`, {
      method: "POST",
      headers: {
        "content-type": encoded.headers.get("content-type")!,
        [TICKET_HEADER]: await f.rawTicket(bob as never, Buffer.from(bytes).toString("latin1"), { path: TRANSCRIPTIONS_PATH, nonce: 2n }),
      },
      body: bytes,
    });
    expect(await code(noFile)).toBe("invalid_request");
    expect(f.node.store.lane(bob.address, bob.address).billed).toBe(0n);
  });
});
