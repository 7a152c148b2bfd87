// POST /v1/chat/completions, once admitted: the backend's answer (plain or streamed), billed within the
// ticket's bounds, with a receipt stored before it is sent.
import type { Context, Hono } from "hono";
import {
  encodeHeader,
  protocolErrorBody,
  RECEIPT_FIELD,
  RECEIPT_HEADER,
  receiptToWire,
  responseHash,
  StreamHasher,
} from "@0g-compute/core";
import type { Backend, Usage } from "../backend.js";
import { type Admission, CHAT_COMPLETIONS_PATH, chatPricing } from "./admission.js";
import type { ProviderContext } from "./context.js";
import { backendFailure, paidRoute, signAndBill } from "./paid-route.js";
import type { Refusals } from "./refusals.js";
import { sseSink } from "./sse-sink.js";

/** Serves the paid `POST /v1/chat/completions` on `app`: admission, then the answer and its receipt. */
export function chatCompletionsRoute(app: Hono, ctx: ProviderContext, refusals: Refusals): void {
  paidRoute(app, ctx, refusals, CHAT_COMPLETIONS_PATH, chatPricing(ctx), async (c, admission, controller, done) => {
    if (admission.body.stream) return streamResponse(c, admission, controller, done);
    try {
      return await plainResponse(admission, controller.signal);
    } finally {
      done();
    }
  });

  /**
   * Token counts billed: exact input when known, never above the bound the fee limit was computed from;
   * output never above what the ticket pays for, nor above the bytes of the answer (`answerBytes`), which is
   * the client's own bound on output tokens: a count it would refuse is never billed.
   */
  function billable(a: Admission, usage: Usage, answerBytes: number): Usage {
    const input = a.exactInput ?? Math.min(usage.inputTokens, a.inputBound);
    return { inputTokens: input, outputTokens: Math.min(usage.outputTokens, a.maxOutputTokens, answerBytes) };
  }

  async function plainResponse(a: Admission, signal: AbortSignal): Promise<Response> {
    let result: Awaited<ReturnType<Backend["complete"]>>;
    try {
      result = await ctx.backend.complete(a.body, { maxOutputTokens: a.maxOutputTokens, signal });
    } catch (err) {
      return backendFailure(ctx, a, err);
    }
    const answer = { ...result.completion, model: a.service.model };
    const usage = billable(a, result.usage, Buffer.byteLength(JSON.stringify(answer)));
    const completion = {
      ...answer,
      usage: {
        prompt_tokens: usage.inputTokens,
        completion_tokens: usage.outputTokens,
        total_tokens: usage.inputTokens + usage.outputTokens,
      },
    };
    const text = JSON.stringify(completion);
    const receipt = await signAndBill(ctx, a, responseHash(text), usage);
    ctx.metrics.requests.inc({ outcome: "ok" });
    return new Response(text, { headers: { "content-type": "application/json", [RECEIPT_HEADER]: encodeHeader(receiptToWire(receipt)) } });
  }

  /**
   * A streamed answer: each chunk is the backend's `choices` after this stream's fixed `id`, `object`,
   * `created` and `model` (serialized once), hashed as written; then the usage and receipt event and
   * `[DONE]`. Generation waits while the client is not reading.
   */
  function streamResponse(c: Context, a: Admission, controller: AbortController, done: () => void): Response {
    const sink = sseSink(c, () => controller.abort());
    const created = Math.floor(Date.now() / 1000);
    const id = `chatcmpl-${a.digest.slice(2, 26)}`;
    const head = `{"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(a.service.model)}`;
    void (async () => {
      const hasher = new StreamHasher();
      let hashedBytes = 0;
      let produced = false;
      try {
        const gen = ctx.backend.stream(a.body, { maxOutputTokens: a.maxOutputTokens, signal: controller.signal });
        let step = await gen.next();
        while (!step.done) {
          produced = true;
          const data = `${head},${JSON.stringify(step.value).slice(1)}`;
          hasher.update(data);
          hashedBytes += Buffer.byteLength(data);
          sink.event(data);
          await sink.ready();
          step = await gen.next();
        }
        const usage = billable(a, step.value, hashedBytes);
        if (!produced && usage.outputTokens === 0 && controller.signal.aborted) {
          ctx.store.release(a.key);
          ctx.metrics.requests.inc({ outcome: "aborted" });
          return;
        }
        const receipt = await signAndBill(ctx, a, hasher.digest(), usage);
        const usageChunk = {
          choices: [],
          usage: {
            prompt_tokens: usage.inputTokens,
            completion_tokens: usage.outputTokens,
            total_tokens: usage.inputTokens + usage.outputTokens,
          },
          [RECEIPT_FIELD]: receiptToWire(receipt),
        };
        sink.event(`${head},${JSON.stringify(usageChunk).slice(1)}`);
        sink.event("[DONE]");
        ctx.metrics.requests.inc({ outcome: controller.signal.aborted ? "aborted" : "ok" });
      } catch (err) {
        ctx.store.release(a.key);
        ctx.metrics.requests.inc({ outcome: "backend_error" });
        ctx.log("backend_error", { error: (err as Error).message, stream: true });
        sink.event(JSON.stringify(protocolErrorBody("backend_error", `the model backend failed: ${(err as Error).message}`)));
      } finally {
        done();
        sink.end();
      }
    })();
    return sink.response;
  }
}
