// What anyone may read without paying: the node's health, the models it sells at their listed terms, and
// the stored receipt of a ticket (for a client whose stream was cut).
import type { Hono } from "hono";
import type { Address, Hex } from "viem";
import { protocolErrorBody, receiptToWire, serviceKind } from "@0g-compute/core";
import type { ProviderContext } from "./context.js";
import type { Refusals } from "./refusals.js";

/** Serves `GET /health`, `GET /v1/models` and `GET /v1/receipts/:digest` on `app`. */
export function publicInfoRoutes(app: Hono, ctx: ProviderContext, refusals: Refusals): void {
  app.get("/health", async (c) => {
    let chain = "ok";
    try {
      await ctx.chain.now();
    } catch {
      chain = "unreachable";
    }
    return c.json({ ok: true, provider: ctx.provider, backend: ctx.backend.kind, models: ctx.backend.models().map((m) => m.id), chain });
  });

  app.get("/v1/models", async (c) => {
    const services = await ctx.services.services();
    const served = new Map(ctx.backend.models().map((m) => [m.id, m]));
    const data = services
      .filter((s) => served.has(s.model))
      .map((s) => {
        const m = served.get(s.model)!;
        return {
          id: s.model,
          object: "model",
          created: 0,
          owned_by: s.provider,
          service_id: s.id,
          service_version: s.version,
          input_price_per_token: s.inputPrice.toString(),
          output_price_per_token: s.outputPrice.toString(),
          context_length: m.contextLength,
          model_hash: s.modelHash,
          quantization: s.quantization,
          capabilities: m.capabilities,
          kind: serviceKind(s),
          ...(m.embeddingLength === undefined ? {} : { dimensions: m.embeddingLength }),
        };
      });
    return c.json({ object: "list", data });
  });

  app.get("/v1/receipts/:digest", (c) => {
    const digest = c.req.param("digest");
    if (!/^0x[0-9a-fA-F]{64}$/.test(digest)) return refusals.refuse(c, "invalid_request", "not a ticket digest");
    // A ticket digest does not name its signing key; `?signer=` picks the lane when both keys signed it.
    const signer = c.req.query("signer");
    if (signer !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(signer))
      return refusals.refuse(c, "invalid_request", "signer is not an address");
    const r = ctx.store.request(digest as Hex, signer as Address | undefined);
    if (!r?.receipt) return c.json(protocolErrorBody("invalid_request", "no receipt for this ticket"), 404);
    return c.json({ receipt: receiptToWire(r.receipt) });
  });
}
