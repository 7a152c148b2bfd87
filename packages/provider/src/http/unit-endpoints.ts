// Other OpenAI endpoints sold from an upstream, priced per unit instead of per token: images
// (`POST /v1/images/generations`, per image) and transcriptions (`POST /v1/audio/transcriptions`, per
// second of audio, multipart). The listing's input price is the price per unit and a receipt's
// `inputTokens` counts units; the units billed are what the upstream reports, never more than the bound
// the client computed from the same bytes; the receipt hashes the exact bytes returned.
import type { Hono } from "hono";
import { z } from "zod";
import {
  AdmissionError,
  encodeHeader,
  IMAGES_PATH,
  imageUnitBound,
  MAX_IMAGES_PER_REQUEST,
  RECEIPT_HEADER,
  readTranscriptionRequest,
  receiptToWire,
  responseHash,
  TRANSCRIPTIONS_PATH,
  type TranscriptionRequest,
} from "@0g-compute/core";
import { BackendError, type ForwardedAnswer } from "../backend.js";
import { describeIssues, parseJsonBody, type Pricing, servedModel } from "./admission.js";
import type { ProviderContext } from "./context.js";
import { backendFailure, paidRoute, signAndBill } from "./paid-route.js";
import type { Refusals } from "./refusals.js";

/** `POST /v1/images/generations` as sold: a prompt, `n` images (1 to 10); other fields go to the upstream. */
const imagesBodySchema = z.looseObject({
  model: z.string().min(1).optional(),
  prompt: z.string().min(1),
  n: z.number().int().min(1).max(MAX_IMAGES_PER_REQUEST).optional(),
});

/** What a unit endpoint admitted: the body to forward. */
type UnitRequest = { json: Record<string, unknown> } | { form: FormData };

/** Units of each endpoint, as its upstream reports them in its answer (undefined: not reported). */
const reportedUnits: Record<string, (answer: unknown) => number | undefined> = {
  // One image per entry of `data`.
  [IMAGES_PATH]: (answer) => {
    const data = (answer as { data?: unknown } | null)?.data;
    return Array.isArray(data) ? data.length : undefined;
  },
  // Seconds of audio: `usage` of type duration (OpenAI's whisper), or the verbose format's `duration`.
  [TRANSCRIPTIONS_PATH]: (answer) => {
    const a = answer as { usage?: { type?: string; seconds?: unknown }; duration?: unknown } | null;
    const seconds = a?.usage?.type === "duration" ? a.usage.seconds : a?.duration;
    return typeof seconds === "number" && Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds) : undefined;
  },
};

/** Refuse a ticket whose maximum cost does not cover `units` at its price per unit. */
function checkCovered(units: number, ticket: Parameters<Pricing<unknown>>[2]): void {
  const needed = BigInt(units) * ticket.terms.inputPrice;
  if (needed > ticket.terms.maxCost)
    throw new AdmissionError("max_cost_too_low", "maxCost does not cover the units this request can be billed for", {
      needed: needed.toString(),
      maxCost: ticket.terms.maxCost.toString(),
    });
}

function imagesPricing(ctx: ProviderContext): Pricing<UnitRequest> {
  return async (raw, service, ticket) => {
    const parsed = imagesBodySchema.safeParse(parseJsonBody(raw));
    if (!parsed.success) throw new AdmissionError("invalid_request", describeIssues(parsed.error.issues));
    servedModel(ctx, service, parsed.data.model, "images");
    const units = imageUnitBound(parsed.data);
    checkCovered(units, ticket);
    return { body: { json: { ...parsed.data, model: service.model } }, exactInput: undefined, inputBound: units, maxOutputTokens: 0 };
  };
}

function transcriptionPricing(ctx: ProviderContext): Pricing<UnitRequest> {
  return async (raw, service, ticket, contentType) => {
    let request: TranscriptionRequest;
    try {
      request = await readTranscriptionRequest(raw as Uint8Array<ArrayBuffer>, contentType);
    } catch (err) {
      throw new AdmissionError("invalid_request", (err as Error).message);
    }
    servedModel(ctx, service, request.model, "transcription");
    checkCovered(request.seconds, ticket);
    request.form.set("model", service.model);
    return { body: { form: request.form }, exactInput: undefined, inputBound: request.seconds, maxOutputTokens: 0 };
  };
}

/** Serves the unit-priced endpoints on `app` (answered only by a service whose backend forwards them). */
export function unitEndpointRoutes(app: Hono, ctx: ProviderContext, refusals: Refusals): void {
  for (const [path, pricing] of [
    [IMAGES_PATH, imagesPricing(ctx)],
    [TRANSCRIPTIONS_PATH, transcriptionPricing(ctx)],
  ] as const) {
    paidRoute(app, ctx, refusals, path, pricing, async (_c, a, controller, done) => {
      try {
        let answer: ForwardedAnswer;
        let units: number | undefined;
        try {
          if (!ctx.backend.forward) throw new BackendError("this backend forwards no other endpoint");
          answer = await ctx.backend.forward(path.slice("/v1".length), a.body, controller.signal);
          if (answer.status < 200 || answer.status > 299)
            throw new BackendError(`upstream answered ${answer.status}: ${Buffer.from(answer.bytes.subarray(0, 200)).toString()}`);
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.from(answer.bytes).toString("utf8"));
          } catch {
            parsed = undefined;
          }
          units = reportedUnits[path]!(parsed);
          if (units === undefined) throw new BackendError("upstream did not report what it produced; refusing to bill on a guess");
        } catch (err) {
          return backendFailure(ctx, a, err);
        }
        // The upstream's count, never above the bound the client signed for.
        const billed = Math.min(units, a.inputBound);
        const receipt = await signAndBill(ctx, a, responseHash(answer.bytes), { inputTokens: billed, outputTokens: 0 });
        ctx.metrics.requests.inc({ outcome: "ok" });
        return new Response(answer.bytes as Uint8Array<ArrayBuffer>, {
          headers: { "content-type": answer.contentType, [RECEIPT_HEADER]: encodeHeader(receiptToWire(receipt)) },
        });
      } finally {
        done();
      }
    });
  }
}
