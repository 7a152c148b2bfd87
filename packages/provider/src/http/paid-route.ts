// What every paid endpoint shares: admission (or the refusal), the abort signal of a client that goes away,
// the request metrics, and the receipt signed and stored before it is sent.
import type { ServerResponse } from "node:http";
import type { Context, Hono } from "hono";
import type { Hex } from "viem";
import { feeFor, protocolErrorBody, type SignedReceipt, signReceipt } from "@0g-compute/core";
import { BackendError, type Usage } from "../backend.js";
import { type Admission, type AdmissionProgress, createAdmission, type Pricing } from "./admission.js";
import type { ProviderContext } from "./context.js";
import { clientAddress } from "./read-request.js";
import type { Refusals } from "./refusals.js";

/**
 * Serve paid `POST path` on `app`: admit the request with `pricing` (a refusal is answered at once, and
 * closes a connection whose body was never read), then hand the admission to `serve` with an abort
 * controller that fires when the client goes away, and `done`, which `serve` calls once when the request
 * ends (plainly or at the end of its stream).
 */
export function paidRoute<B>(
  app: Hono,
  ctx: ProviderContext,
  refusals: Refusals,
  path: string,
  pricing: Pricing<B>,
  serve: (c: Context, admission: Admission<B>, controller: AbortController, done: () => void) => Promise<Response> | Response,
): void {
  const admit = createAdmission(ctx, refusals, path, pricing);
  app.post(path, async (c) => {
    const started = performance.now();
    let admission: Admission<B>;
    const address = clientAddress(c);
    const seen: AdmissionProgress = {};
    try {
      admission = await admit(c, address, seen);
    } catch (err) {
      ctx.metrics.requests.inc({ outcome: "refused" });
      const res = refusals.answer(c, err, address, seen.signer);
      // A body the node never read is not drained: the connection closes after the refusal.
      if (!seen.bodyRead) res.headers.set("connection", "close");
      return res;
    }
    ctx.metrics.admissionSeconds.observe((performance.now() - started) / 1000);
    const controller = new AbortController();
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    outgoing?.once("close", () => {
      if (!outgoing.writableFinished) controller.abort();
    });
    ctx.metrics.inFlight.inc();
    const done = () => {
      ctx.metrics.inFlight.dec();
      ctx.metrics.requestSeconds.observe((performance.now() - started) / 1000);
    };
    return serve(c, admission, controller, done);
  });
}

/**
 * Sign the receipt of an admitted request for the response whose hash is `hash` and the token counts
 * billed, and store it (with the fee added to the lane) before it is sent: resolves once it is on disk.
 */
export async function signAndBill<B>(ctx: ProviderContext, a: Admission<B>, hash: Hex, usage: Usage): Promise<SignedReceipt> {
  const fee = feeFor(a.ticket.terms, usage.inputTokens, usage.outputTokens);
  const receipt = await signReceipt(ctx.responseSigner, ctx.domain, {
    ticketDigest: a.digest,
    responseHash: hash,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    fee,
  });
  await ctx.store.bill(a.key, receipt); // the receipt is on disk before it is sent
  ctx.metrics.tokens.inc({ kind: "input" }, usage.inputTokens);
  ctx.metrics.tokens.inc({ kind: "output" }, usage.outputTokens);
  ctx.metrics.billedWei.inc(Number(fee));
  return receipt;
}

/** The answer to a request whose backend failed before anything billable: its reservation released, unbilled. */
export function backendFailure<B>(ctx: ProviderContext, a: Admission<B>, err: unknown): Response {
  ctx.store.release(a.key);
  ctx.metrics.requests.inc({ outcome: "backend_error" });
  ctx.log("backend_error", { error: (err as Error).message });
  const status = err instanceof BackendError ? err.status : 502;
  return new Response(JSON.stringify(protocolErrorBody("backend_error", `the model backend failed: ${(err as Error).message}`)), {
    status,
    headers: { "content-type": "application/json" },
  });
}
