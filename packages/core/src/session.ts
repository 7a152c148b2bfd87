import type { Address, Hex, LocalAccount } from "viem";
import type { EscrowDomain } from "./domain.js";
import type { ServiceInfo } from "./discovery.js";
import { ZERO_HASH } from "./hashing.js";
import type { LaneId, LaneStore } from "./lane-store.js";
import { providerTransport } from "./provider-transport.js";
import { verifyReceipt, type SignedReceipt } from "./receipt.js";
import { recoverTicketSigner, signTicketWithDigest, ticketDigest, unixSeconds, type SignedTicket, type Terms } from "./ticket.js";
import { encodeHeader, ProviderError, TICKET_HEADER, ticketFromWire, ticketToWire } from "./wire.js";

/** Options for {@link PaymentSession}. */
export interface PaymentSessionOptions {
  domain: EscrowDomain;
  /** The channel's user (the payer). */
  user: Address;
  /** The key that signs tickets: the user's own, or a session key authorized for this channel. */
  signer: LocalAccount;
  /** The service, as read from the registry (never from the provider's own answers). */
  service: ServiceInfo;
  store: LaneStore;
  /** Seconds a ticket stays startable (default 60). */
  ticketLifetimeSeconds?: number;
  /** Milliseconds after a receipt before an ack-only ticket is sent if no request carried it (default 2000). */
  ackDelayMs?: number;
  /** Milliseconds an acknowledgement may take before it is given up and owed again (default 30,000). */
  ackTimeoutMs?: number;
  /** `fetch` to reach the provider with; default the SDK's transport (see `createPaidFetch`). */
  fetch?: typeof fetch;
  /** Unix seconds of this machine's clock now (tests may fix it); deadlines are this plus the provider's clock offset. */
  now?: () => bigint;
}

/** A receipt this client verified and acknowledged. */
export interface VerifiedReceipt {
  provider: Address;
  serviceId: Hex;
  model: string;
  ticket: SignedTicket;
  ticketDigest: Hex;
  receipt: SignedReceipt;
  fee: bigint;
  /** The lane's acknowledged total after this receipt. */
  cumulative: bigint;
}

/**
 * One payer's lane with one provider: signs tickets (nonce persisted before the ticket leaves),
 * verifies receipts, keeps the acknowledged cumulative, and sends ack-only tickets so the provider
 * is paid for the last response too. One writer per lane: use one session (or one session key) per process.
 *
 * @example
 * const session = new PaymentSession({ domain, user, signer, service, store });
 * const ticket = await session.signTicket(requestHash(path, body), maxCost);
 * // ... send it, get the receipt ...
 * await session.acceptReceipt(ticket, receipt, { responseHash, maxInputTokens, maxOutputTokens });
 * await session.close(); // flushes the acknowledgement
 */
export class PaymentSession {
  readonly lane: LaneId;
  readonly service: ServiceInfo;
  private readonly options: PaymentSessionOptions;
  private readonly accepted = new Set<string>();
  /** Digests of the tickets this session signed (a receipt's check needs them again). */
  private readonly digests = new WeakMap<SignedTicket, Hex>();
  private ackTimer: NodeJS.Timeout | undefined;
  private acking: Promise<void> | undefined;
  /** The provider's clock minus ours (seconds), learned from a `ticket_expired` refusal. */
  private clockOffset = 0n;

  constructor(options: PaymentSessionOptions) {
    this.options = options;
    this.service = options.service;
    this.lane = {
      chainId: options.domain.chainId,
      escrow: options.domain.verifyingContract,
      user: options.user,
      provider: options.service.provider,
      signer: options.signer.address,
    };
  }

  /** Terms of a request costing at most `maxCost`, at the service's current prices and version. */
  terms(requestHash: Hex, maxCost: bigint): Terms {
    const now = (this.options.now?.() ?? unixSeconds()) + this.clockOffset;
    return {
      serviceId: this.service.id,
      serviceVersion: this.service.version,
      inputPrice: this.service.inputPrice,
      outputPrice: this.service.outputPrice,
      maxCost,
      requestHash,
      deadline: now + BigInt(this.options.ticketLifetimeSeconds ?? 60),
    };
  }

  /** Sign the next ticket: a fresh nonce (persisted first) and the verified cumulative so far. */
  async signTicket(requestHash: Hex, maxCost: bigint): Promise<SignedTicket> {
    this.cancelAck();
    const state = await this.options.store.update(this.lane, (s) => ({ ...s, nextNonce: s.nextNonce + 1n }));
    const { ticket, digest } = await signTicketWithDigest(this.options.signer, this.options.domain, {
      user: this.options.user,
      provider: this.service.provider,
      nonce: state.nextNonce - 1n,
      cumulative: state.acked,
      terms: this.terms(requestHash, maxCost),
    });
    // Frozen: the digest kept for it stays the digest of what it says.
    Object.freeze(ticket.terms);
    this.digests.set(Object.freeze(ticket), digest);
    return ticket;
  }

  /**
   * Verify a receipt for `ticket` and, if it holds, add its fee to the acknowledged cumulative (once
   * per ticket). Throws `ReceiptError` otherwise, acknowledging nothing.
   */
  async acceptReceipt(
    ticket: SignedTicket,
    receipt: SignedReceipt,
    observed: { responseHash: Hex; maxInputTokens?: number; maxOutputTokens?: number },
  ): Promise<VerifiedReceipt> {
    const digest = this.digests.get(ticket) ?? ticketDigest(this.options.domain, ticket);
    const signers = [this.service.signer];
    if (this.service.previousSigner !== "0x0000000000000000000000000000000000000000") signers.push(this.service.previousSigner);
    const fee = await verifyReceipt(receipt, {
      domain: this.options.domain,
      ticketDigest: digest,
      terms: ticket.terms,
      responseHash: observed.responseHash,
      signers,
      ...(observed.maxInputTokens === undefined ? {} : { maxInputTokens: observed.maxInputTokens }),
      ...(observed.maxOutputTokens === undefined ? {} : { maxOutputTokens: observed.maxOutputTokens }),
    });
    let cumulative: bigint;
    if (this.accepted.has(digest)) {
      cumulative = (await this.options.store.read(this.lane)).acked;
    } else {
      this.accepted.add(digest);
      cumulative = (await this.options.store.update(this.lane, (s) => ({ ...s, acked: s.acked + fee }))).acked;
      this.scheduleAck();
    }
    return {
      provider: this.service.provider,
      serviceId: this.service.id,
      model: this.service.model,
      ticket,
      ticketDigest: digest,
      receipt,
      fee,
      cumulative,
    };
  }

  /** Record that the provider accepted `ticket` (it answered 2xx), so its cumulative needs no ack-only ticket. */
  async delivered(ticket: SignedTicket): Promise<void> {
    await this.options.store.update(this.lane, (s) => ({
      ...s,
      sentCumulative: ticket.cumulative > s.sentCumulative ? ticket.cumulative : s.sentCumulative,
    }));
  }

  /**
   * Recover from lost client state (or a sibling process) after the provider refused a nonce: move the
   * next nonce above the provider's highest, and adopt the highest cumulative the provider holds only
   * if it is a ticket this lane's own key signed (never a number the provider merely states).
   * Returns whether anything changed, i.e. whether a retry can succeed.
   */
  async resync(details: Record<string, unknown> | undefined): Promise<boolean> {
    const highest =
      typeof details?.highestNonce === "string" && /^\d+$/.test(details.highestNonce) ? BigInt(details.highestNonce) : undefined;
    let ownCumulative: bigint | undefined;
    if (details?.ticket !== undefined) {
      try {
        const t = ticketFromWire(details.ticket);
        const signer = await recoverTicketSigner(this.options.domain, t);
        const sameLane =
          signer.toLowerCase() === this.lane.signer.toLowerCase() &&
          t.user.toLowerCase() === this.lane.user.toLowerCase() &&
          t.provider.toLowerCase() === this.lane.provider.toLowerCase();
        if (sameLane) ownCumulative = t.cumulative;
      } catch {
        ownCumulative = undefined;
      }
    }
    const before = await this.options.store.read(this.lane);
    const after = await this.options.store.update(this.lane, (s) => ({
      nextNonce: highest !== undefined && highest + 1n > s.nextNonce ? highest + 1n : s.nextNonce,
      acked: ownCumulative !== undefined && ownCumulative > s.acked ? ownCumulative : s.acked,
      sentCumulative: ownCumulative !== undefined && ownCumulative > s.sentCumulative ? ownCumulative : s.sentCumulative,
    }));
    return after.nextNonce !== before.nextNonce || after.acked !== before.acked;
  }

  /**
   * Adopt the provider's clock after it refused a ticket as expired: `details.now` is the provider's time
   * (unix seconds), and later deadlines are set on it. Returns whether the offset changed, i.e. whether a
   * re-signed ticket can pass. A provider gains nothing by lying: only it checks deadlines.
   */
  adoptProviderClock(details: Record<string, unknown> | undefined): boolean {
    const now = typeof details?.now === "string" && /^\d{1,19}$/.test(details.now) ? BigInt(details.now) : undefined;
    if (now === undefined) return false;
    const offset = now - (this.options.now?.() ?? unixSeconds());
    if (offset === this.clockOffset) return false;
    this.clockOffset = offset;
    return true;
  }

  /** The lane's acknowledged total and next nonce. */
  state() {
    return this.options.store.read(this.lane);
  }

  /**
   * Send an ack-only ticket now if the provider has not yet seen the latest acknowledged cumulative.
   * Resolves when the provider confirmed it.
   */
  async flushAck(): Promise<void> {
    this.cancelAck();
    // An acknowledgement already on its way carries only what was verified when it left: wait for it,
    // then send again if more has been verified since (otherwise the last fees would never be acknowledged).
    while (this.acking) await this.acking.catch(() => undefined);
    this.acking = this.sendAck().finally(() => {
      this.acking = undefined;
    });
    return this.acking;
  }

  /** Flush the acknowledgement and stop timers. Call before the process exits. */
  async close(): Promise<void> {
    await this.flushAck();
  }

  private async sendAck(): Promise<void> {
    const current = await this.options.store.read(this.lane);
    if (current.acked <= current.sentCumulative) {
      unacknowledged.delete(this);
      return;
    }
    const ticket = await this.signTicket(ZERO_HASH, 0n);
    const res = await providerTransport(this.options.fetch)(new URL("/v1/ack", this.service.endpoint), {
      method: "POST",
      headers: { [TICKET_HEADER]: encodeHeader(ticketToWire(ticket)) },
      // An acknowledgement is small and answered at once: a provider that holds it does not hold close().
      signal: AbortSignal.timeout(this.options.ackTimeoutMs ?? ACK_TIMEOUT_MS),
    });
    const text = await res.text();
    if (res.status < 200 || res.status > 299) {
      let code = "ack_failed";
      let message = text;
      try {
        const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = body.error?.code ?? code;
        message = body.error?.message ?? message;
      } catch {
        // not JSON
      }
      throw new ProviderError(res.status, code, message);
    }
    await this.delivered(ticket);
    if ((await this.options.store.read(this.lane)).acked <= ticket.cumulative) unacknowledged.delete(this);
  }

  private scheduleAck(): void {
    this.cancelAck();
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      this.flushAck().catch(() => undefined);
    }, this.options.ackDelayMs ?? 2000);
    // The timer does not keep a process alive; a process that ends first acknowledges on its way out.
    (this.ackTimer as { unref?: () => void }).unref?.();
    watchProcessExit();
    unacknowledged.add(this);
  }

  private cancelAck(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }
}

/** How long an acknowledgement may take before it is given up (and sent again with the next request). */
const ACK_TIMEOUT_MS = 30_000;

/**
 * Sessions that verified fees no acknowledgement has confirmed yet. A session leaves the set only once the
 * provider confirmed an acknowledgement of everything it verified (a request carrying the cumulative
 * may still fail), so a process that ends early flushes every one of them.
 */
const unacknowledged = new Set<PaymentSession>();
let watchingExit = false;

/**
 * Acknowledge verified fees without relying on `close()`: when a Node.js process has nothing left to do
 * (`beforeExit`: its last request answered, the ack timers unreferenced), every session with a pending
 * acknowledgement sends it, and the process ends once they are answered. A process ended by
 * `process.exit()` or a signal skips this; call `close()` there.
 */
function watchProcessExit(): void {
  if (watchingExit || typeof process === "undefined" || typeof process.once !== "function") return;
  watchingExit = true;
  const flushAll = () => {
    const pending = [...unacknowledged];
    unacknowledged.clear();
    for (const session of pending) session.flushAck().catch(() => undefined);
    // Listen again only while there is something to flush, so an idle process exits at once.
    watchingExit = false;
  };
  process.once("beforeExit", flushAll);
}
