import { getContract, type Address, type Chain, type PublicClient, type Transport } from "viem";
import { escrowAbi } from "@0g-compute/contracts";
import { toZeroGError } from "@0g-compute/core";
import type { ChannelFunds } from "./store.js";

/** A session key's lane as the chain reports it. */
export interface KeyLaneState {
  settled: bigint;
  cap: bigint;
  validUntil: bigint;
}

/** Chain events the provider reacts to. */
export type ChainEvent =
  | { kind: "withdraw-requested"; user: Address; amount: bigint; unlockAt: bigint }
  | { kind: "key-revoked"; user: Address; key: Address; validUntil: bigint }
  | { kind: "funded"; user: Address }
  | { kind: "settled"; user: Address };

/** Options for {@link ChainState}. */
export interface ChainStateOptions {
  publicClient: PublicClient<Transport, Chain>;
  escrow: Address;
  provider: Address;
  /** Blocks a credit must be buried under (0 on dev chains). Debits are read at the latest block. */
  confirmations: number;
  /** How long a channel read stays fresh without an event (default 30 s: events invalidate it within a poll). */
  ttlMs?: number;
  /** Event polling interval (default 1000 ms). */
  pollMs?: number;
  /** First block to watch from. */
  fromBlock?: bigint;
}

interface Cached<T> {
  at: number;
  value: T;
}

/**
 * The provider's view of the escrow: channel funds per user (credits at depth `confirmations`, debits
 * at the latest block), session-key lanes and chain time, cached briefly and invalidated by the
 * escrow's events for this provider (fundings, withdrawal requests, revocations, settlements).
 */
export class ChainState {
  private readonly funds = new Map<string, Cached<{ balance: bigint; ownerSettled: bigint; pendingWithdraw: bigint; unlockAt: bigint }>>();
  private readonly keyLanes = new Map<string, Cached<KeyLaneState>>();
  private clock: Cached<bigint> | undefined;
  private clockRefresh: Promise<bigint> | undefined;
  private readonly inflight = new Map<string, Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private lastBlock: bigint | undefined;
  private readonly listeners: ((e: ChainEvent) => void)[] = [];

  constructor(private readonly options: ChainStateOptions) {}

  private get escrow() {
    return getContract({ address: this.options.escrow, abi: escrowAbi, client: this.options.publicClient });
  }

  /**
   * Chain time: the latest block's timestamp plus the time elapsed since it was read. Re-read in the
   * background once a second (one request at a time), so requests never wait for it after the first.
   */
  async now(): Promise<bigint> {
    const stale = !this.clock || Date.now() - this.clock.at >= 1000;
    if (stale && !this.clockRefresh) {
      this.clockRefresh = this.options.publicClient
        .getBlock({ blockTag: "latest" })
        .then((block) => {
          this.clock = { at: Date.now(), value: block.timestamp };
          return block.timestamp;
        })
        .catch((err: unknown) => {
          throw toZeroGError(err);
        })
        .finally(() => {
          this.clockRefresh = undefined;
        });
    }
    if (this.clock && Date.now() - this.clock.at < 10_000) return this.clock.value + BigInt(Math.floor((Date.now() - this.clock.at) / 1000));
    return this.clockRefresh!;
  }

  /** One read per key at a time: concurrent callers share the same request. */
  private single<T>(key: string, read: () => Promise<T>): Promise<T> {
    const running = this.inflight.get(key) as Promise<T> | undefined;
    if (running) return running;
    const p = read().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** The channel from `user` to this provider: balance, owner lane settled, pending withdrawal. */
  async channel(user: Address): Promise<{ balance: bigint; ownerSettled: bigint; pendingWithdraw: bigint; unlockAt: bigint }> {
    const key = user.toLowerCase();
    const hit = this.funds.get(key);
    if (hit && Date.now() - hit.at < (this.options.ttlMs ?? 30_000)) return hit.value;
    return this.single(`channel:${key}`, () => this.readChannel(user, key));
  }

  private async readChannel(user: Address, key: string): Promise<{ balance: bigint; ownerSettled: bigint; pendingWithdraw: bigint; unlockAt: bigint }> {
    try {
      const latest = await this.escrow.read.getChannel([user, this.options.provider]);
      let confirmedBalance = latest[0];
      if (this.options.confirmations > 0) {
        const head = await this.options.publicClient.getBlockNumber();
        const at = head > BigInt(this.options.confirmations) ? head - BigInt(this.options.confirmations) : 0n;
        const confirmed = await this.escrow.read.getChannel([user, this.options.provider], { blockNumber: at });
        // Credits count only once buried; debits count as soon as they are seen.
        confirmedBalance = confirmed[0] < latest[0] ? confirmed[0] : latest[0];
        const pending = confirmed[2] > latest[2] ? confirmed[2] : latest[2];
        const value = { balance: confirmedBalance, ownerSettled: latest[1], pendingWithdraw: pending, unlockAt: latest[3] };
        this.funds.set(key, { at: Date.now(), value });
        return value;
      }
      const value = { balance: latest[0], ownerSettled: latest[1], pendingWithdraw: latest[2], unlockAt: latest[3] };
      this.funds.set(key, { at: Date.now(), value });
      return value;
    } catch (err) {
      throw toZeroGError(err);
    }
  }

  /** A session key's lane on the channel from `user`. */
  async keyLane(user: Address, key: Address): Promise<KeyLaneState> {
    const k = `${user}:${key}`.toLowerCase();
    const hit = this.keyLanes.get(k);
    if (hit && Date.now() - hit.at < (this.options.ttlMs ?? 30_000)) return hit.value;
    return this.single(`lane:${k}`, async () => {
      try {
        const [settled, cap, validUntil] = await this.escrow.read.getKeyLane([user, this.options.provider, key]);
        const value = { settled, cap, validUntil };
        this.keyLanes.set(k, { at: Date.now(), value });
        return value;
      } catch (err) {
        throw toZeroGError(err);
      }
    });
  }

  /** Channel funds in the form admission takes, for the given lanes' signers. */
  async channelFunds(user: Address, signers: readonly Address[]): Promise<ChannelFunds & { unlockAt: bigint }> {
    const ch = await this.channel(user);
    const settledByLane = new Map<string, bigint>([[user.toLowerCase(), ch.ownerSettled]]);
    for (const s of signers) {
      if (s.toLowerCase() === user.toLowerCase()) continue;
      settledByLane.set(s.toLowerCase(), (await this.keyLane(user, s)).settled);
    }
    return { balance: ch.balance, pendingWithdraw: ch.pendingWithdraw, settledByLane, unlockAt: ch.unlockAt };
  }

  /** Forget cached reads (after a settlement, or on demand). */
  invalidate(user?: Address): void {
    if (!user) {
      this.funds.clear();
      this.keyLanes.clear();
      return;
    }
    this.funds.delete(user.toLowerCase());
    for (const k of [...this.keyLanes.keys()]) if (k.startsWith(user.toLowerCase())) this.keyLanes.delete(k);
  }

  /** Subscribe to this provider's escrow events. */
  onEvent(listener: (e: ChainEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Start polling events (idempotent). */
  start(): void {
    if (this.timer) return;
    const tick = async () => {
      try {
        await this.poll();
      } catch {
        // RPC hiccup: the next tick retries; cached reads expire on their own.
      }
      this.timer = setTimeout(tick, this.options.pollMs ?? 1000);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Read new events once; public so tests and the settle command can force it. */
  async poll(): Promise<void> {
    const head = await this.options.publicClient.getBlockNumber();
    const from = this.lastBlock === undefined ? (this.options.fromBlock ?? head) : this.lastBlock + 1n;
    if (from > head) return;
    const logs = await this.options.publicClient.getContractEvents({ address: this.options.escrow, abi: escrowAbi, fromBlock: from, toBlock: head });
    this.lastBlock = head;
    const me = this.options.provider.toLowerCase();
    for (const log of logs) {
      const args = log.args as Record<string, unknown>;
      if (typeof args.provider !== "string" || args.provider.toLowerCase() !== me) continue;
      const user = args.user as Address;
      this.invalidate(user);
      let event: ChainEvent | undefined;
      if (log.eventName === "WithdrawRequested") event = { kind: "withdraw-requested", user, amount: args.amount as bigint, unlockAt: args.unlockAt as bigint };
      else if (log.eventName === "KeyRevoked") event = { kind: "key-revoked", user, key: args.key as Address, validUntil: args.validUntil as bigint };
      else if (log.eventName === "ChannelFunded") event = { kind: "funded", user };
      else if (log.eventName === "Settled") event = { kind: "settled", user };
      if (event) for (const l of this.listeners) l(event);
    }
  }
}
