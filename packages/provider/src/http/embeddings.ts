// POST /v1/embeddings, paid like chat: admission with the inputs counted exactly (or bounded by their bytes),
// the vectors in the OpenAI shape, billed by input tokens at the service's input price, the receipt binding
// the exact bytes returned, stored before they are sent.
import { endianness } from "node:os";
import type { Hono } from "hono";
import {
  AdmissionError,
  EMBEDDINGS_PATH,
  embeddingInputTokenBound,
  encodeHeader,
  RECEIPT_HEADER,
  receiptToWire,
  responseHash,
} from "@0g-compute/core";
import { type EmbeddingResult, type EmbeddingsBody, embeddingsBodySchema } from "../backend.js";
import { describeIssues, parseJsonBody, type Pricing, servedModel } from "./admission.js";
import type { ProviderContext } from "./context.js";
import { backendFailure, paidRoute, signAndBill } from "./paid-route.js";
import type { Refusals } from "./refusals.js";

/** An admitted embeddings request: the body, with its inputs as a list. */
type EmbeddingsRequest = EmbeddingsBody & { inputs: string[] };

/**
 * The embeddings endpoint's pricing: the body parsed, the model checked (an embedding model of the
 * ticket's service), `dimensions` checked where the model cannot change its size, every input counted
 * by the backend when it can (llama) and refused when one does not fit the context, and the input fee
 * checked against the ticket's maximum cost. No output tokens.
 */
function embeddingsPricing(ctx: ProviderContext): Pricing<EmbeddingsRequest> {
  return async (raw, service, ticket) => {
    const parsed = embeddingsBodySchema.safeParse(parseJsonBody(raw));
    if (!parsed.success) throw new AdmissionError("invalid_request", describeIssues(parsed.error.issues));
    const body = parsed.data;
    const model = servedModel(ctx, service, body.model, "embeddings");
    if (
      body.dimensions !== undefined &&
      model.embeddingLength !== undefined &&
      body.dimensions !== model.embeddingLength &&
      !model.capabilities.includes("dimensions")
    ) {
      throw new AdmissionError("invalid_request", `${service.model} returns vectors of ${model.embeddingLength} dimensions only`, {
        dimensions: model.embeddingLength,
      });
    }
    const inputs = typeof body.input === "string" ? [body.input] : body.input;
    const clientBound = embeddingInputTokenBound(raw.length);
    const counts = await ctx.backend.countEmbeddingTokens?.(inputs);
    let exactInput: number | undefined;
    if (counts) {
      for (const [index, tokens] of counts.entries()) {
        if (tokens >= model.contextLength)
          throw new AdmissionError("prompt_too_long", `input ${index} has ${tokens} tokens; the context holds ${model.contextLength}`, {
            input: index,
            inputTokens: tokens,
            contextLength: model.contextLength,
          });
      }
      exactInput = counts.reduce((a, b) => a + b, 0);
      if (exactInput > clientBound)
        throw new AdmissionError("prompt_too_long", `the inputs have ${exactInput} tokens, more than the ${clientBound} a client accepts`, {
          inputTokens: exactInput,
          inputBound: clientBound,
        });
    }
    const inputBound = exactInput ?? clientBound;
    const needed = BigInt(inputBound) * ticket.terms.inputPrice;
    if (needed > ticket.terms.maxCost) {
      throw new AdmissionError("max_cost_too_low", "maxCost does not cover the input", {
        needed: needed.toString(),
        maxCost: ticket.terms.maxCost.toString(),
      });
    }
    return { body: { ...body, model: service.model, inputs }, exactInput, inputBound, maxOutputTokens: 0 };
  };
}

const littleEndian = endianness() === "LE";

/** A vector as OpenAI's `encoding_format: "base64"` sends it: little-endian float32 bytes, base64. */
function vectorToBase64(v: Float32Array): string {
  if (littleEndian) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  const out = Buffer.alloc(v.length * 4);
  for (const [i, x] of v.entries()) out.writeFloatLE(x, i * 4);
  return out.toString("base64");
}

/** The OpenAI embeddings response for `result`, with the tokens billed as its usage. */
function embeddingsResponse(model: string, body: EmbeddingsBody, result: EmbeddingResult, inputTokens: number): string {
  const base64 = body.encoding_format === "base64";
  return JSON.stringify({
    object: "list",
    data: result.vectors.map((v, index) => ({ object: "embedding", index, embedding: base64 ? vectorToBase64(v) : Array.from(v) })),
    model,
    usage: { prompt_tokens: inputTokens, total_tokens: inputTokens },
  });
}

/** Serves the paid `POST /v1/embeddings` on `app`. */
export function embeddingsRoute(app: Hono, ctx: ProviderContext, refusals: Refusals): void {
  paidRoute(app, ctx, refusals, EMBEDDINGS_PATH, embeddingsPricing(ctx), async (_c, a, controller, done) => {
    try {
      let result: EmbeddingResult;
      try {
        const embed = ctx.backend.embed;
        if (!embed) throw new Error("this backend computes no embeddings");
        result = await embed.call(ctx.backend, a.body.inputs, {
          signal: controller.signal,
          ...(a.body.dimensions === undefined ? {} : { dimensions: a.body.dimensions }),
        });
      } catch (err) {
        return backendFailure(ctx, a, err);
      }
      // Exact when counted at admission; an upstream's own count is never billed above the client's bound.
      const inputTokens = a.exactInput ?? Math.min(result.inputTokens, a.inputBound);
      const text = embeddingsResponse(a.service.model, a.body, result, inputTokens);
      const receipt = await signAndBill(ctx, a, responseHash(text), { inputTokens, outputTokens: 0 });
      ctx.metrics.requests.inc({ outcome: "ok" });
      return new Response(text, {
        headers: { "content-type": "application/json", [RECEIPT_HEADER]: encodeHeader(receiptToWire(receipt)) },
      });
    } finally {
      done();
    }
  });
}
