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
  /**
   * How long a channel read stays fresh without an event (default 5 s). The escrow's events invalidate it
   * within a poll; the lifetime only bounds how stale a read can be when an event is missed.
   */
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

/** A channel and its session-key lanes, all as of one block. */
export interface ChannelSnapshot {
  /** The block every field was read at (the latest when read). */
  block: bigint;
  /** Funds still in the channel (credits at depth `confirmations`). */
  balance: bigint;
  ownerSettled: bigint;
  /** Pending withdrawal (the larger of latest and confirmed). */
  pendingWithdraw: bigint;
  unlockAt: bigint;
  /** The session-key lanes read (signer lowercased -> lane). */
  keyLanes: ReadonlyMap<string, KeyLaneState>;
}

/** Default lifetime of a cached channel read (ms). */
export const DEFAULT_CHAIN_CACHE_MS = 5000;

/**
 * The provider's view of the escrow: per user one snapshot of the channel and the session-key lanes it
 * needs, all read at one block (credits at depth `confirmations`, debits at the latest block), and chain
 * time. Snapshots are cached briefly and invalidated by the escrow's events for this provider (fundings,
 * withdrawal requests, revocations, settlements) and by {@link invalidate}; a read that was already in
 * flight when an invalidation happened is never cached or shared with later callers.
 */
export class ChainState {
  private readonly snapshots = new Map<string, Cached<ChannelSnapshot>>();
  /** Invalidation generation per user; a read is kept only if its user's generation did not move. */
  private readonly generations = new Map<string, number>();
  private epoch = 0;
  private clock: Cached<bigint> | undefined;
  private clockRefresh: Promise<bigint> | undefined;
  private readonly inflight = new Map<string, Promise<ChannelSnapshot>>();
  private timer: NodeJS.Timeout | undefined;
  private lastBlock: bigint | undefined;
  private lock: bigint | undefined;
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
    if (this.clock && Date.now() - this.clock.at < 10_000)
      return this.clock.value + BigInt(Math.floor((Date.now() - this.clock.at) / 1000));
    return this.clockRefresh!;
  }

  /** The escrow's withdrawal lock (immutable; read once). */
  async lockSeconds(): Promise<bigint> {
    if (this.lock === undefined) {
      try {
        this.lock = await this.escrow.read.LOCK();
      } catch (err) {
        throw toZeroGError(err);
      }
    }
    return this.lock;
  }

  private generation(key: string): string {
    return `${this.epoch}:${this.generations.get(key) ?? 0}`;
  }

  /**
   * The channel from `user` to this provider with the lanes of `signers` (session keys; the owner's
   * own address is ignored), all read at one block.
   */
  async snapshot(user: Address, signers: readonly Address[] = []): Promise<ChannelSnapshot> {
    const key = user.toLowerCase();
    const keys = [...new Set(signers.map((s) => s.toLowerCase()).filter((s) => s !== key))].sort();
    const gen = this.generation(key);
    const hit = this.snapshots.get(key);
    const ttl = this.options.ttlMs ?? DEFAULT_CHAIN_CACHE_MS;
    if (hit && Date.now() - hit.at < ttl && keys.every((k) => hit.value.keyLanes.has(k))) {
      // Refresh ahead: past half its life, a snapshot in use is read again in the background, so that a
      // channel with steady traffic never waits on the chain. What is served is never older than the TTL.
      if (Date.now() - hit.at >= ttl / 2) void this.read(key, gen, keys, hit).catch(() => undefined);
      return hit.value;
    }
    return this.read(key, gen, keys, hit);
  }

  /** Read a snapshot (one read per user, generation and lanes at a time) and cache it. */
  private read(key: string, gen: string, keys: string[], hit: { value: ChannelSnapshot } | undefined): Promise<ChannelSnapshot> {
    const user = key as Address;
    // A read asks for every lane the cached snapshot had too, so that one snapshot serves all callers.
    const wanted = [...new Set([...keys, ...(hit ? [...hit.value.keyLanes.keys()] : [])])].sort();
    const flight = `${key}/${gen}/${wanted.join(",")}`;
    let running = this.inflight.get(flight);
    if (!running) {
      running = this.readSnapshot(user, wanted as Address[])
        .then((value) => {
          // Invalidated while in flight: the value may predate what invalidated it; do not keep it.
          if (this.generation(key) === gen) this.snapshots.set(key, { at: Date.now(), value });
          return value;
        })
        .finally(() => this.inflight.delete(flight));
      this.inflight.set(flight, running);
    }
    return running;
  }

  private async readSnapshot(user: Address, keys: Address[]): Promise<ChannelSnapshot> {
    try {
      const block = await this.options.publicClient.getBlockNumber({ cacheTime: 0 });
      const at = { blockNumber: block };
      const [latest, ...lanes] = await Promise.all([
        this.escrow.read.getChannel([user, this.options.provider], at),
        ...keys.map((k) => this.escrow.read.getKeyLane([user, this.options.provider, k], at)),
      ]);
      let balance = latest[0];
      let pendingWithdraw = latest[2];
      if (this.options.confirmations > 0) {
        const depth = BigInt(this.options.confirmations);
        const confirmed = await this.escrow.read.getChannel([user, this.options.provider], {
          blockNumber: block > depth ? block - depth : 0n,
        });
        // Credits count only once buried; debits count as soon as they are seen.
        if (confirmed[0] < balance) balance = confirmed[0];
        if (confirmed[2] > pendingWithdraw) pendingWithdraw = confirmed[2];
      }
      const keyLanes = new Map<string, KeyLaneState>();
      keys.forEach((k, i) => {
        const [settled, cap, validUntil] = lanes[i] as readonly [bigint, bigint, bigint];
        keyLanes.set(k.toLowerCase(), { settled, cap, validUntil });
      });
      return { block, balance, ownerSettled: latest[1], pendingWithdraw, unlockAt: latest[3], keyLanes };
    } catch (err) {
      throw toZeroGError(err);
    }
  }

  /** The channel from `user` to this provider: balance, owner lane settled, pending withdrawal. */
  async channel(user: Address): Promise<{ balance: bigint; ownerSettled: bigint; pendingWithdraw: bigint; unlockAt: bigint }> {
    return this.snapshot(user);
  }

  /** A session key's lane on the channel from `user`. */
  async keyLane(user: Address, key: Address): Promise<KeyLaneState> {
    const snap = await this.snapshot(user, [key]);
    return snap.keyLanes.get(key.toLowerCase()) ?? { settled: 0n, cap: 0n, validUntil: 0n };
  }

  /** Channel funds in the form admission takes, for the given lanes' signers, read at one block. */
  async channelFunds(user: Address, signers: readonly Address[]): Promise<ChannelFunds & { unlockAt: bigint }> {
    const snap = await this.snapshot(user, signers);
    const settledByLane = new Map<string, bigint>([[user.toLowerCase(), snap.ownerSettled]]);
    for (const [k, lane] of snap.keyLanes) settledByLane.set(k, lane.settled);
    return { balance: snap.balance, pendingWithdraw: snap.pendingWithdraw, settledByLane, unlockAt: snap.unlockAt };
  }

  /** Forget cached reads of `user` (or of everyone), including reads in flight now. */
  invalidate(user?: Address): void {
    if (!user) {
      this.epoch += 1;
      this.snapshots.clear();
      return;
    }
    const key = user.toLowerCase();
    if (this.generations.size >= 100_000) {
      // Bounded memory: forgetting every generation is safe once the epoch moves (all reads are stale).
      this.generations.clear();
      this.snapshots.clear();
      this.epoch += 1;
    }
    this.generations.set(key, (this.generations.get(key) ?? 0) + 1);
    this.snapshots.delete(key);
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
    const logs = await this.options.publicClient.getContractEvents({
      address: this.options.escrow,
      abi: escrowAbi,
      fromBlock: from,
      toBlock: head,
    });
    this.lastBlock = head;
    const me = this.options.provider.toLowerCase();
    for (const log of logs) {
      const args = log.args as Record<string, unknown>;
      if (typeof args.provider !== "string" || args.provider.toLowerCase() !== me) continue;
      const user = args.user as Address;
      this.invalidate(user);
      let event: ChainEvent | undefined;
      if (log.eventName === "WithdrawRequested")
        event = { kind: "withdraw-requested", user, amount: args.amount as bigint, unlockAt: args.unlockAt as bigint };
      else if (log.eventName === "KeyRevoked")
        event = { kind: "key-revoked", user, key: args.key as Address, validUntil: args.validUntil as bigint };
      else if (log.eventName === "ChannelFunded") event = { kind: "funded", user };
      else if (log.eventName === "Settled") event = { kind: "settled", user };
      if (event) for (const l of this.listeners) l(event);
    }
  }
}
