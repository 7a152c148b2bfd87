import { Hono } from "hono";
import { cors } from "hono/cors";
import { protocolErrorBody, RECEIPT_HEADER, TICKET_HEADER } from "@0g-compute/core";
import { ackRoute } from "./http/ack.js";
import { chatCompletionsRoute } from "./http/chat-completions.js";
import { embeddingsRoute } from "./http/embeddings.js";
import type { ProviderContext } from "./http/context.js";
import { publicInfoRoutes } from "./http/public-info.js";
import { Refusals } from "./http/refusals.js";
import { unitEndpointRoutes } from "./http/unit-endpoints.js";

export { DEFAULT_ABUSE_LIMITS, type AbuseLimits, type ProviderContext } from "./http/context.js";

/**
 * The provider's public HTTP API (OpenAI-compatible, with payment): `POST /v1/chat/completions`
 * (plain and SSE streaming), `POST /v1/embeddings`, `POST /v1/images/generations` and `POST
 * /v1/audio/transcriptions` (from an upstream, priced per image and per second), `POST /v1/ack`, `GET /v1/receipts/:digest`, `GET /v1/models` and `GET /health`
 * (metrics are on the admin listener). Every refusal is an OpenAI-style error with a stable code; nothing is billed
 * without a receipt, and every receipt is stored before it is sent.
 *
 * @example
 * const app = createProviderApp(ctx);
 * serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 8080 });
 */
export function createProviderApp(ctx: ProviderContext): Hono {
  const app = new Hono();
  const refusals = new Refusals(ctx);
  // Browsers: answer preflights and let pages read the receipt header, for the configured origins only.
  const origins = ctx.corsOrigins ?? [];
  if (origins.length > 0)
    app.use(
      "*",
      cors({
        origin: origins.includes("*") ? "*" : [...origins],
        allowMethods: ["GET", "POST"],
        allowHeaders: ["content-type", TICKET_HEADER],
        exposeHeaders: [RECEIPT_HEADER],
        maxAge: 600,
      }),
    );
  publicInfoRoutes(app, ctx, refusals);
  ackRoute(app, ctx, refusals);
  chatCompletionsRoute(app, ctx, refusals);
  embeddingsRoute(app, ctx, refusals);
  unitEndpointRoutes(app, ctx, refusals);
  app.notFound((c) => c.json(protocolErrorBody("invalid_request", `not found: ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => refusals.answer(c, err));
  return app;
}
