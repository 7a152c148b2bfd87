import {
  BaseError,
  ContractFunctionRevertedError,
  getContract,
  parseEventLogs,
  type Address,
  type Chain,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { escrowAbi } from "@0g-compute/contracts";
import { toVoucher, toZeroGError, TransactionError, ZeroGError, type SignedTicket, type Voucher } from "@0g-compute/core";
import type { ChainEvent, ChainState } from "./chain-state.js";
import type { ProviderMetrics } from "./metrics.js";
import type { LaneRecord, ProviderStore } from "./store.js";

/** When the settlement loop pays itself. */
export interface SettlementPolicy {
  /** How often the loop looks (default 30 s). */
  intervalMs: number;
  /** Settle once the unsettled value of the due lanes reaches this (wei). */
  minValueWei: bigint;
  /** Settle a lane whose voucher has waited longer than this, whatever its value (default 1 h). */
  maxAgeMs: number;
  /** Settle a channel this long before a pending withdrawal unlocks (seconds; default: a quarter of the lock, at least 60). */
  marginSeconds: bigint;
  /** Estimated gas per settled voucher, for the value-versus-gas check (default 25,000). */
  gasPerItem: bigint;
  /** Most vouchers per transaction (default 256). */
  maxBatch: number;
  /** RPC retries with exponential backoff (default 5). */
  retries: number;
}

export const DEFAULT_SETTLEMENT_POLICY: SettlementPolicy = {
  intervalMs: 30_000,
  minValueWei: 10n ** 15n,
  maxAgeMs: 3_600_000,
  marginSeconds: 900n,
  gasPerItem: 25_000n,
  maxBatch: 256,
  retries: 5,
};

/** What one settlement run did. */
export interface SettlementRun {
  txHash?: Hex;
  items: number;
  paid: bigint;
  gasUsed: bigint;
  skipped: { user: Address; reason: number }[];
  /** Why nothing was sent, when nothing was. */
  reason?: "nothing-due" | "below-gas-cost";
}

/**
 * The provider's settlement loop: batches the newest voucher of every lane with unsettled value into one
 * `settle` transaction. It runs when the due value is worth more than the gas, when a voucher has waited
 * `maxAgeMs`, and at once for any channel with a pending withdrawal or a revoked key (settle before the
 * unlock). RPC failures are retried with backoff; transaction nonces are managed locally; settlement is
 * idempotent on-chain (cumulative vouchers), so a run after a crash or a reorg never pays twice.
 */
export class Settler {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<SettlementRun> | undefined;
  private readonly urgent = new Set<string>();
  private nextNonce: number | undefined;
  private firstSeen = new Map<string, number>();
  /** Lanes whose stored voucher cannot be encoded, by the cumulative that failed. */
  private readonly quarantined = new Map<string, bigint>();

  constructor(
    private readonly deps: {
      store: ProviderStore;
      chain: ChainState;
      publicClient: PublicClient<Transport, Chain>;
      wallet: WalletClient<Transport, Chain, LocalAccount>;
      escrow: Address;
      provider: Address;
      metrics: ProviderMetrics;
      log: (event: string, fields?: Record<string, unknown>) => void;
      /** Optional ZK mode (e.g. a `ZkSettler`): runs after each voucher-mode run; proves in its own process. */
      zk?: { run(): Promise<unknown> };
    },
    private readonly policy: SettlementPolicy = DEFAULT_SETTLEMENT_POLICY,
  ) {
    deps.chain.onEvent((e) => this.onChainEvent(e));
  }

  /** React to withdrawal requests and revocations: those channels settle at the next run, which comes soon. */
  private onChainEvent(e: ChainEvent): void {
    if (e.kind === "withdraw-requested" || e.kind === "key-revoked") {
      const unsettled = this.deps.store.lanesOf(e.user).some((l) => l.acked > l.settled);
      if (!unsettled) return;
      this.urgent.add(e.user.toLowerCase());
      this.deps.log("settle_urgent", { user: e.user, reason: e.kind });
      setTimeout(() => void this.run().catch(() => undefined), 0).unref();
    }
  }

  start(): void {
    if (this.timer) return;
    this.stopped = false;
    const tick = () => {
      this.run()
        .catch((err: unknown) => this.deps.log("settle_failed", { error: (err as Error).message }))
        .then(() => this.deps.zk?.run())
        .catch((err: unknown) => this.deps.log("zk_settle_failed", { error: (err as Error).message }))
        .finally(() => {
          if (this.stopped) return; // stopped while this run was in flight: do not re-arm
          this.timer = setTimeout(tick, this.policy.intervalMs);
          this.timer.unref();
        });
    };
    this.timer = setTimeout(tick, this.policy.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Run once now; `force` settles every lane with unsettled value, whatever the policy says. */
  run(options: { force?: boolean } = {}): Promise<SettlementRun> {
    // A forced run settles what is due when it is asked for: one already in flight may have started
    // before the latest vouchers arrived, so it runs again after that one rather than joining it.
    if (this.running && options.force) {
      const after = this.running.catch(() => undefined).then(() => this.run(options));
      return after;
    }
    this.running ??= this.runOnce(options.force === true).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async runOnce(force: boolean): Promise<SettlementRun> {
    await this.reconcile().catch((err: unknown) => this.deps.log("settle_reconcile_failed", { error: (err as Error).message }));
    await this.deps.chain.poll().catch(() => undefined);
    const lanes = this.deps.store.unsettledLanes();
    const now = Date.now();
    for (const l of lanes) if (!this.firstSeen.has(key(l))) this.firstSeen.set(key(l), now);
    const chainNow = await this.deps.chain.now();
    const horizon = chainNow + this.policy.marginSeconds + BigInt(Math.ceil(this.policy.intervalMs / 1000)) * 2n;

    const due = await this.payable(lanes, chainNow);
    const urgentFound = due.some((d) => this.urgent.has(d.lane.user.toLowerCase()) || (d.pendingWithdraw > 0n && d.unlockAt <= horizon));
    if (due.length === 0) return { items: 0, paid: 0n, gasUsed: 0n, skipped: [], reason: "nothing-due" };
    const value = due.reduce((s, d) => s + d.payable, 0n);
    const oldest = Math.min(...due.map((d) => this.firstSeen.get(key(d.lane)) ?? now));
    const aged = now - oldest >= this.policy.maxAgeMs;
    if (!force && !urgentFound && !aged) {
      const gasPrice = await this.withRetry(() => this.deps.publicClient.getGasPrice());
      const gasCost = gasPrice * this.policy.gasPerItem * BigInt(due.length);
      if (value < this.policy.minValueWei || value < gasCost)
        return { items: 0, paid: 0n, gasUsed: 0n, skipped: [], reason: "below-gas-cost" };
    }
    // The most valuable first: what a channel can actually pay, never what a voucher merely claims.
    const batch = due.sort((a, b) => (b.payable > a.payable ? 1 : b.payable < a.payable ? -1 : 0)).slice(0, this.policy.maxBatch);
    return this.send(batch.map((d) => d.lane));
  }

  /**
   * What each lane's voucher would pay if settled now, as the contract computes it:
   * `min(cumulative, cap) - settled` on the lane, out of the channel's balance (shared by its lanes), zero
   * for a key never authorized or past `validUntil + LOCK`. Lanes that would pay nothing are left out,
   * so a voucher that claims more than the channel holds cannot keep a batch busy paying zero. Also
   * brings the store's `settled` up to the chain's.
   */
  private async payable(
    lanes: SettleableLane[],
    chainNow: bigint,
  ): Promise<{ lane: SettleableLane; payable: bigint; pendingWithdraw: bigint; unlockAt: bigint }[]> {
    const byUser = new Map<string, SettleableLane[]>();
    for (const l of lanes) {
      const k = l.user.toLowerCase();
      byUser.set(k, [...(byUser.get(k) ?? []), l]);
    }
    const lock = await this.deps.chain.lockSeconds();
    const out: { lane: SettleableLane; payable: bigint; pendingWithdraw: bigint; unlockAt: bigint }[] = [];
    for (const userLanes of byUser.values()) {
      const user = userLanes[0]!.user;
      const snap = await this.deps.chain.snapshot(
        user,
        userLanes.map((l) => l.signer),
      );
      let balance = snap.balance;
      const claims = userLanes.map((lane) => {
        const owner = lane.signer.toLowerCase() === user.toLowerCase();
        const kl = owner ? undefined : snap.keyLanes.get(lane.signer.toLowerCase());
        const settled = owner ? snap.ownerSettled : (kl?.settled ?? 0n);
        if (settled !== lane.settled) this.deps.store.setSettled(lane.user, lane.signer, settled);
        let limit = lane.acked;
        if (kl) {
          if (kl.validUntil === 0n || chainNow > kl.validUntil + lock) limit = 0n;
          else if (kl.cap < limit) limit = kl.cap;
        } else if (!owner) limit = 0n;
        return { lane: { ...lane, settled }, want: limit > settled ? limit - settled : 0n };
      });
      claims.sort((a, b) => (b.want > a.want ? 1 : b.want < a.want ? -1 : 0));
      for (const c of claims) {
        const pay = c.want < balance ? c.want : balance;
        balance -= pay;
        if (pay > 0n) out.push({ lane: c.lane, payable: pay, pendingWithdraw: snap.pendingWithdraw, unlockAt: snap.unlockAt });
      }
    }
    return out;
  }

  /**
   * Bring the record of settlement transactions sent before a crash up to date from the chain: each one
   * still marked `sent` is looked up and recorded as mined (with what it paid), reverted, or dropped.
   */
  async reconcile(): Promise<void> {
    for (const s of this.deps.store.settlementsWithStatus("sent")) {
      const receipt = await this.deps.publicClient.getTransactionReceipt({ hash: s.txHash }).catch(() => undefined);
      if (!receipt) {
        const known = await this.deps.publicClient.getTransaction({ hash: s.txHash }).then(
          () => true,
          () => false,
        );
        if (!known) {
          this.deps.store.recordSettlement(s.txHash, "dropped", s.items, 0n, 0n);
          this.deps.log("settle_dropped", { txHash: s.txHash });
        }
        continue;
      }
      if (receipt.status !== "success") {
        this.deps.store.recordSettlement(s.txHash, "reverted", s.items, 0n, receipt.gasUsed);
        this.deps.metrics.settlements.inc({ outcome: "reverted" });
        continue;
      }
      const paid = paidBy(receipt.logs);
      this.deps.store.recordSettlement(s.txHash, "mined", s.items, paid, receipt.gasUsed);
      this.deps.metrics.settlements.inc({ outcome: "mined" });
      this.deps.metrics.settledWei.inc(Number(paid));
      this.deps.log("settle_reconciled", { txHash: s.txHash, paid: paid.toString() });
    }
  }

  /**
   * Send one batch. Each voucher is encoded on its own: one that cannot be encoded (a stored voucher the
   * contract could never take) is set aside until its lane changes, and the others go ahead; the
   * contract skips a bad item without reverting the batch. The transaction is recorded as `sent`
   * before its receipt is awaited.
   */
  private async send(lanes: SettleableLane[]): Promise<SettlementRun> {
    const escrow = getContract({
      address: this.deps.escrow,
      abi: escrowAbi,
      client: { public: this.deps.publicClient, wallet: this.deps.wallet },
    });
    const account = this.deps.wallet.account;
    const items: { lane: SettleableLane; voucher: Voucher }[] = [];
    for (const lane of lanes) {
      if (this.quarantined.get(key(lane)) === lane.acked) continue;
      try {
        items.push({ lane, voucher: toVoucher(lane.bestTicket) });
      } catch (err) {
        this.quarantined.set(key(lane), lane.acked);
        this.deps.log("settle_item_unencodable", { user: lane.user, signer: lane.signer, error: (err as Error).message });
      }
    }
    if (items.length === 0) return { items: 0, paid: 0n, gasUsed: 0n, skipped: [], reason: "nothing-due" };
    const vouchers = items.map((i) => i.voucher);
    const batch = items.map((i) => i.lane);
    const hash = await this.withRetry(async () => {
      if (this.nextNonce === undefined)
        this.nextNonce = await this.deps.publicClient.getTransactionCount({ address: account.address, blockTag: "pending" });
      const { request } = await escrow.simulate.settle([this.deps.provider, vouchers], { account: account.address, nonce: this.nextNonce });
      try {
        const h = await this.deps.wallet.writeContract({ ...request, account, chain: this.deps.wallet.chain } as Parameters<
          typeof this.deps.wallet.writeContract
        >[0]);
        this.nextNonce += 1;
        return h;
      } catch (err) {
        this.nextNonce = undefined; // re-read from the chain on the next attempt
        throw err;
      }
    });
    // Recorded before waiting: a crash while the transaction is mined leaves it to `reconcile`.
    this.deps.store.recordSettlement(hash, "sent", vouchers.length, 0n, 0n);
    this.deps.log("settle_sent", { txHash: hash, items: vouchers.length });
    const receipt = await this.withRetry(() => this.deps.publicClient.waitForTransactionReceipt({ hash, timeout: 120_000 }));
    if (receipt.status !== "success") {
      this.deps.store.recordSettlement(hash, "reverted", vouchers.length, 0n, receipt.gasUsed);
      this.deps.metrics.settlements.inc({ outcome: "reverted" });
      this.nextNonce = undefined;
      throw new TransactionError("TX_REVERTED", `settlement ${hash} reverted`, hash);
    }
    const events = parseEventLogs({ abi: escrowAbi, logs: receipt.logs });
    const paid = paidBy(receipt.logs);
    const skipped = events
      .filter((e) => e.eventName === "Skipped")
      .map((e) => ({ user: (e.args as { user: Address }).user, reason: Number((e.args as { reason: number }).reason) }));
    // Read back what the chain now says each lane has settled.
    for (const lane of batch) {
      this.deps.chain.invalidate(lane.user);
      const settled =
        lane.signer.toLowerCase() === lane.user.toLowerCase()
          ? (await this.deps.chain.channel(lane.user)).ownerSettled
          : (await this.deps.chain.keyLane(lane.user, lane.signer)).settled;
      this.deps.store.setSettled(lane.user, lane.signer, settled);
      if (settled >= lane.acked) {
        this.firstSeen.delete(key(lane));
        this.urgent.delete(lane.user.toLowerCase());
      }
    }
    this.deps.store.recordSettlement(hash, "mined", vouchers.length, paid, receipt.gasUsed);
    this.deps.metrics.settlements.inc({ outcome: "mined" });
    this.deps.metrics.settledWei.inc(Number(paid));
    this.deps.log("settle_mined", {
      txHash: hash,
      items: vouchers.length,
      paid: paid.toString(),
      gasUsed: receipt.gasUsed.toString(),
      skipped: skipped.length,
    });
    return { txHash: hash, items: vouchers.length, paid, gasUsed: receipt.gasUsed, skipped };
  }

  private async withRetry<T>(fn: () => Promise<T>): Promise<T> {
    let delay = 250;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        // A revert is the chain's answer, not a hiccup: retrying cannot change it.
        if (attempt >= this.policy.retries || isRevert(err)) throw toZeroGError(err);
        this.deps.log("settle_retry", { attempt: attempt + 1, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }
}

/** A lane the store holds a voucher for. */
type SettleableLane = LaneRecord & { bestTicket: SignedTicket };

/** Whether an error is the chain refusing the call (deterministic), not a transport failure. */
function isRevert(err: unknown): boolean {
  const e = err instanceof ZeroGError && err.cause !== undefined ? err.cause : err;
  return e instanceof BaseError && e.walk((x) => x instanceof ContractFunctionRevertedError) instanceof ContractFunctionRevertedError;
}

/** What a settlement transaction paid, from its `Settled` events. */
function paidBy(logs: Parameters<typeof parseEventLogs>[0]["logs"]): bigint {
  return parseEventLogs({ abi: escrowAbi, logs })
    .filter((e) => e.eventName === "Settled")
    .reduce((s, e) => s + (e.args as { paid: bigint }).paid, 0n);
}

function key(l: { user: string; signer: string }): string {
  return `${l.user}:${l.signer}`.toLowerCase();
}
