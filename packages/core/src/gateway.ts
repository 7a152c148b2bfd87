import type { ServerResponse } from "node:http";
import { serve, type ServerType } from "@hono/node-server";
import { Hono, type Context } from "hono";
import { BudgetExceededError } from "./budget.js";
import { ModelNotFoundError, NoProviderError } from "./discovery.js";
import { InvalidArgumentError, ZeroGError } from "./errors.js";
import { isLoopbackHost, isLoopbackOrigin, sameSecret } from "./local-auth.js";
import { PaymentRequestError, type PaidFetch } from "./paid-fetch.js";
import { ReceiptError } from "./receipt.js";
import { SpendingLimitError } from "./spending-limit.js";
import { ProviderError } from "./wire.js";

/** Options for {@link startGateway}. */
export interface GatewayOptions {
  /** The paying fetch that does the work (see {@link createPaidFetch}). */
  paidFetch: PaidFetch;
  /** Bearer token local clients must send. */
  token: string;
  /** Port on 127.0.0.1 (0 = any free port). */
  port?: number;
}

/** A running gateway. */
export interface Gateway {
  /** Base URL for OpenAI clients, e.g. `http://127.0.0.1:4000/v1`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** An OpenAI-style error body: `{"error": {"message", "type", "code", "hint"?, "details"?}}`. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; code: string; hint?: string; details?: Record<string, unknown> };
}

/**
 * HTTP status and OpenAI-style body for an SDK error: what the provider refused passes through with its
 * status and protocol code; an unknown model is `404 model_not_found`, a request the SDK cannot pay for as
 * given a `400`, a spending cap a `402`, every provider failing a `503`, a receipt that fails its checks a
 * `502`. Codes are lower-case, as OpenAI's are.
 */
export function errorResponse(err: unknown): { status: number; body: OpenAIErrorBody } {
  const body = (
    type: string,
    code: string,
    e: { message: string; hint?: string | undefined },
    details?: Record<string, unknown>,
  ): OpenAIErrorBody => ({
    error: { message: e.message, type, code, ...(e.hint ? { hint: e.hint } : {}), ...(details ? { details } : {}) },
  });
  if (err instanceof ProviderError) return { status: err.status, body: body("provider_error", err.providerCode, err, err.details) };
  if (err instanceof ModelNotFoundError)
    return { status: 404, body: body("invalid_request_error", "model_not_found", err, { available: err.available }) };
  if (err instanceof PaymentRequestError || err instanceof InvalidArgumentError)
    return { status: 400, body: body("invalid_request_error", err.code.toLowerCase(), err) };
  if (err instanceof SpendingLimitError || err instanceof BudgetExceededError)
    return { status: 402, body: body("insufficient_quota", err.code.toLowerCase(), err) };
  if (err instanceof NoProviderError) return { status: 503, body: body("no_provider", "no_provider", err, { failures: err.failures }) };
  if (err instanceof ReceiptError) return { status: 502, body: body("receipt_invalid", err.problem, err) };
  if (err instanceof ZeroGError) return { status: 500, body: body("gateway_error", err.code.toLowerCase(), err) };
  return { status: 500, body: body("gateway_error", "internal_error", { message: err instanceof Error ? err.message : String(err) }) };
}

/**
 * A local OpenAI-compatible gateway on 127.0.0.1: any OpenAI client pointed at it (with the bearer
 * token) buys inference on the network, with receipts verified: `GET /v1/models` and
 * `POST /v1/chat/completions` (streaming, tools, response formats), `POST /v1/embeddings`, `POST
 * /v1/images/generations` and `POST /v1/audio/transcriptions` (multipart).
 *
 * @example
 * const gw = await startGateway({ paidFetch, token: randomBytes(24).toString("hex"), port: 4000 });
 * // new OpenAI({ baseURL: gw.url, apiKey: token })
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const app = new Hono();
  let port = options.port ?? 0;

  app.use("*", async (c, next) => {
    // DNS-rebinding protection: only loopback host names; and no web page of another origin.
    if (!isLoopbackHost(c.req.header("host")))
      return c.json({ error: { message: "forbidden host", type: "invalid_request_error", code: "forbidden_host" } }, 403);
    if (!isLoopbackOrigin(c.req.header("origin")))
      return c.json({ error: { message: "forbidden origin", type: "invalid_request_error", code: "forbidden_origin" } }, 403);
    if (c.req.path === "/health") return next();
    const auth = c.req.header("authorization") ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    if (!sameSecret(token, options.token))
      return c.json({ error: { message: "missing or wrong bearer token", type: "authentication_error", code: "unauthorized" } }, 401);
    return next();
  });

  app.get("/health", (c) => c.json({ ok: true }));

  const forward = async (c: Context): Promise<Response> => {
    try {
      // The body byte for byte, with its content type (a multipart transcription keeps its boundary).
      const body = c.req.method === "POST" ? new Uint8Array(await c.req.arrayBuffer()) : undefined;
      // Abort the paid request when the local client goes away before the response is finished
      // (the request's own signal is not used: it can fire once the request body has been read).
      const controller = new AbortController();
      const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
      outgoing?.once("close", () => {
        if (!outgoing.writableFinished) controller.abort();
      });
      return await options.paidFetch(`http://gateway.invalid${c.req.path}`, {
        method: c.req.method,
        headers: { "content-type": c.req.header("content-type") ?? "application/json" },
        ...(body === undefined ? {} : { body }),
        signal: controller.signal,
      });
    } catch (err) {
      const { status, body } = errorResponse(err);
      return c.json(body, status as 400);
    }
  };
  app.get("/v1/models", forward);
  app.post("/v1/chat/completions", forward);
  app.post("/v1/embeddings", forward);
  app.post("/v1/images/generations", forward);
  app.post("/v1/audio/transcriptions", forward);
  app.notFound((c) =>
    c.json({ error: { message: `not found: ${c.req.method} ${c.req.path}`, type: "invalid_request_error", code: "not_found" } }, 404),
  );

  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port }, (info) => {
      port = info.port;
      s.off("error", refused);
      resolve(s);
    });
    const refused = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === "EADDRINUSE"
          ? new ZeroGError("PORT_IN_USE", `port ${port} on 127.0.0.1 is already in use`, {
              hint: "choose another --port, or 0 for any free one",
            })
          : new ZeroGError("LISTEN_FAILED", `cannot listen on 127.0.0.1:${port}: ${err.message}`, { cause: err }),
      );
    };
    s.once("error", refused);
  });
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
