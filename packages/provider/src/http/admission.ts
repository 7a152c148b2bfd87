// Admission of a paid request (chat or embeddings): every check that decides whether the node will do the
// work, ordered so that a request that will be refused costs the node as little as possible
// (docs/protocol.md, "Order of the provider's checks"). The endpoint supplies only the part that reads its
// own body: the parse, the model check and the token bounds (a {@link Pricing}).
import type { Context } from "hono";
import type { Address, Hex } from "viem";
import {
  AdmissionError,
  affordableOutputTokens,
  checkTicket,
  inputTokenBound,
  isAckOnly,
  requestHash,
  unixSeconds,
  type ServiceInfo,
  type SignedTicket,
} from "@0g-compute/core";
import { chatBodySchema, type ChatBody } from "../backend.js";
import { OncePerInterval } from "../rate-limit.js";
import type { CreditPolicy, RequestKey } from "../store.js";
import type { ProviderContext } from "./context.js";
import { readBody, readTicket, tooLarge } from "./read-request.js";
import type { Refusals } from "./refusals.js";

/** The path of the paid chat endpoint, as hashed into a ticket's request hash. */
export const CHAT_COMPLETIONS_PATH = "/v1/chat/completions";

/** What an endpoint's {@link Pricing} decided from the body: the parsed body and the token bounds billed. */
interface Priced<B> {
  body: B;
  /** Exact input tokens, when the backend counted them before running. */
  exactInput: number | undefined;
  /** The most input tokens the request can be billed for (the client's own bound, or the exact count). */
  inputBound: number;
  /** The most output tokens the ticket pays for (0 for embeddings). */
  maxOutputTokens: number;
}

/**
 * An endpoint's part of admission, run once the ticket, the money dry run and the request hash passed:
 * parse the body (its exact bytes `raw`, sent as `contentType`), check the model against `service`, and
 * bound the tokens (or units). Throws `AdmissionError` (a 4xx, before anything is reserved).
 */
export type Pricing<B> = (raw: Uint8Array, service: ServiceInfo, ticket: SignedTicket, contentType: string) => Promise<Priced<B>>;

/** The body as JSON, or `400 invalid_request`. */
export function parseJsonBody(raw: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new AdmissionError("invalid_request", "the body is not valid JSON");
  }
}

/** What admission decided for one paid request. */
export interface Admission<B = ChatBody> extends Priced<B> {
  ticket: SignedTicket;
  digest: Hex;
  /** The request's lane and nonce: what the store knows it by. */
  key: RequestKey;
  service: ServiceInfo;
}

/** What admission learned about the client before it refused, if it did: the signer, and whether the body was read. */
export interface AdmissionProgress {
  signer?: Address;
  bodyRead?: boolean;
}

/** The admission of paid requests to `path`: `admit` returns what was decided, or throws the refusal. */
export function createAdmission<B>(
  ctx: ProviderContext,
  refusals: Refusals,
  path: string,
  price: Pricing<B>,
): (c: Context, address: string, seen: AdmissionProgress) => Promise<Admission<B>> {
  const clock = ctx.clock ?? (() => unixSeconds());
  // A fresh chain read before refusing for lack of funds: at most once a second per user.
  const freshReads = new OncePerInterval(1000);

  /**
   * Admission, cheapest and most selective checks first, so that a request that will be refused costs
   * the node as little as possible: the ticket (header only: widths, signature, deadline, service terms,
   * signing key) and a dry run of the money checks come before the body is read; the body is read up to
   * `maxBodyBytes` and hashed before it is parsed; the prompt is tokenized (off the event loop, by the
   * backend) only for a request its ticket can pay for. The atomic admission then decides again.
   */
  async function admit(c: Context, address: string, seen: AdmissionProgress): Promise<Admission<B>> {
    refusals.checkAddress(address);
    const encoding = c.req.header("content-encoding") ?? "identity";
    if (encoding !== "identity") throw new AdmissionError("encoding_not_supported", "send the request body with identity encoding");
    const declared = c.req.header("content-length");
    if (declared !== undefined && Number(declared) > ctx.maxBodyBytes) throw tooLarge(ctx.maxBodyBytes);

    const ticket = readTicket(c);
    if (isAckOnly(ticket)) throw new AdmissionError("bad_ticket", "an ack-only ticket cannot pay for a request");
    const service = await ctx.services.byId(ticket.terms.serviceId);
    const terms = await ctx.services.honoured(ticket.terms.serviceId);
    if (!service || !terms) throw new AdmissionError("terms_changed", `no service ${ticket.terms.serviceId} is listed by this provider`);
    // Deadlines are on this node's clock, never the chain's (docs/protocol.md, "Time").
    const checked = await checkTicket({ domain: ctx.domain, ticket, provider: ctx.provider, now: clock(), terms });
    seen.signer = checked.signer;
    refusals.checkKey(checked.signer);

    let laneCap: bigint | undefined;
    if (checked.signer.toLowerCase() !== ticket.user.toLowerCase()) {
      const lane = await ctx.chain.keyLane(ticket.user, checked.signer);
      if (lane.validUntil === 0n)
        throw new AdmissionError(
          "key_not_authorized",
          "the ticket's signer is neither the user nor a session key authorized for this channel",
        );
      // A key's expiry is enforced on-chain, so it is compared with the chain's time.
      if ((await ctx.chain.now()) + BigInt(ctx.maxRequestSeconds) > lane.validUntil)
        throw new AdmissionError("key_expired", "the session key expires before this request could finish", {
          validUntil: lane.validUntil.toString(),
        });
      laneCap = lane.cap;
    }
    const signers = [...new Set([checked.signer, ...ctx.store.signersOf(ticket.user)])];
    const policy: CreditPolicy = { ...ctx.credit(service), ...(laneCap === undefined ? {} : { laneCap }) };
    const admission = { ticket, signer: checked.signer, digest: checked.digest, policy };
    const fundsFor = async (fresh: boolean) => {
      if (fresh) ctx.chain.invalidate(ticket.user);
      return ctx.chain.channelFunds(ticket.user, signers);
    };
    // The cached channel may predate a deposit made a moment ago: before refusing for lack of funds, read
    // the chain again (at most once a second per user, so refusals cannot be used to flood the RPC).
    const withFreshFunds = async (attempt: (funds: Awaited<ReturnType<typeof fundsFor>>) => Promise<unknown>) => {
      try {
        await attempt(await fundsFor(false));
      } catch (err) {
        if (
          !(err instanceof AdmissionError && err.protocolCode === "insufficient_balance") ||
          !freshReads.allowed(ticket.user.toLowerCase())
        )
          throw err;
        await attempt(await fundsFor(true));
      }
    };
    await withFreshFunds(async (funds) => ctx.store.admit({ ...admission, funds, now: Date.now() }, { dryRun: true }));

    const raw = await readBody(c, ctx.maxBodyBytes);
    seen.bodyRead = true;
    if (requestHash(path, raw).toLowerCase() !== ticket.terms.requestHash.toLowerCase()) {
      throw new AdmissionError("request_hash_mismatch", "the ticket's request hash does not match the request body");
    }
    const priced = await price(raw, service, ticket, c.req.header("content-type") ?? "");

    let committed: Promise<void> = Promise.resolve();
    await withFreshFunds(async (funds) => {
      committed = ctx.store.admit({ ...admission, funds, now: Date.now() }).committed;
    });
    await committed; // the nonce mark and the voucher are on disk before the request runs
    return { ...priced, ticket, digest: checked.digest, key: { user: ticket.user, signer: checked.signer, nonce: ticket.nonce }, service };
  }

  return admit;
}

/** Zod's issues as one readable line. */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${i.path.map(String).join(".") || "body"}: ${i.message}`).join("; ");
}

/** The backend's model of `service`, if it serves it with `capability` ("chat" or "embeddings"). */
export function servedModel(ctx: ProviderContext, service: ServiceInfo, requested: string | undefined, capability: string) {
  const model = ctx.backend.models().find((m) => m.id === service.model && m.capabilities.includes(capability));
  if (!model || (requested !== undefined && requested !== service.model)) {
    throw new AdmissionError("model_not_found", `the ticket's service serves ${service.model}, not ${requested ?? "(none)"}`, {
      models: ctx.backend
        .models()
        .filter((m) => m.capabilities.includes(capability))
        .map((m) => m.id),
    });
  }
  return model;
}

/**
 * The chat endpoint's pricing: the body parsed, the model checked, the rendered prompt counted (off the
 * event loop, by the backend) against the bound the client computed from the same bytes, and the output
 * tokens the ticket pays for.
 */
export function chatPricing(ctx: ProviderContext): Pricing<ChatBody> {
  return async (raw, service, ticket) => {
    const parsed = chatBodySchema.safeParse(parseJsonBody(raw));
    if (!parsed.success) throw new AdmissionError("invalid_request", describeIssues(parsed.error.issues));
    const body = parsed.data;
    const model = servedModel(ctx, service, body.model, "chat");

    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    if (maxTokens === undefined) throw new AdmissionError("max_tokens_required", "set max_tokens: it bounds what the request can cost");
    // The client accepts a receipt only for input tokens within this bound (core computes it from the same
    // bytes), so a longer rendered prompt is refused here, before anything is reserved or billed.
    const clientBound = inputTokenBound(body, raw.length);
    const exactInput = await ctx.backend.countInputTokens(body);
    if (exactInput !== undefined && exactInput > clientBound) {
      throw new AdmissionError(
        "prompt_too_long",
        `the rendered prompt has ${exactInput} tokens, more than the ${clientBound} a client accepts for this request (its bytes plus the template allowance)`,
        { inputTokens: exactInput, inputBound: clientBound },
      );
    }
    // The engine needs one free slot after the prompt, so a prompt may use at most contextLength - 2 tokens.
    if (exactInput !== undefined && exactInput >= model.contextLength - 1) {
      throw new AdmissionError("prompt_too_long", `the prompt has ${exactInput} tokens; the context holds ${model.contextLength}`, {
        inputTokens: exactInput,
        contextLength: model.contextLength,
      });
    }
    const inputBound = exactInput ?? clientBound;
    let maxOutputTokens = affordableOutputTokens(ticket.terms, inputBound, maxTokens);
    if (exactInput !== undefined) maxOutputTokens = Math.min(maxOutputTokens, model.contextLength - exactInput);
    if (maxOutputTokens < 1) {
      const inputFee = BigInt(inputBound) * ticket.terms.inputPrice;
      throw new AdmissionError("max_cost_too_low", "maxCost does not cover the input and one output token", {
        needed: (inputFee + ticket.terms.outputPrice).toString(),
        maxCost: ticket.terms.maxCost.toString(),
      });
    }
    return { body: { ...body, model: service.model }, exactInput, inputBound, maxOutputTokens };
  };
}
