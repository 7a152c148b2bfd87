import Database from "better-sqlite3";
import { WalCheckpointer } from "./store-checkpointer.js";
import { migrateStore } from "./store-migrations.js";
import type { Address, Hex } from "viem";
import {
  AdmissionError,
  ZeroGError,
  EMPTY_NONCE_WINDOW,
  receiptFromWire,
  type NonceWindowState,
  receiptToWire,
  ticketFromWire,
  ticketToWire,
  useNonce,
  type SignedReceipt,
  type SignedTicket,
} from "@0g-compute/core";

/** Durable per-lane state the provider keeps. All amounts in wei. */
export interface LaneRecord {
  user: Address;
  signer: Address;
  highestNonce: bigint;
  /** Highest cumulative the user acknowledged (the best voucher's). */
  acked: bigint;
  /** Sum of the fees of every receipt issued on the lane. */
  billed: bigint;
  /** What the chain has paid on this lane, as last seen. */
  settled: bigint;
  /** The highest-cumulative ticket: the voucher to settle. */
  bestTicket: SignedTicket | undefined;
}

/** One admitted request. */
export interface RequestRecord {
  user: Address;
  signer: Address;
  nonce: bigint;
  digest: Hex;
  maxCost: bigint;
  status: "reserved" | "billed" | "released";
  fee: bigint;
  receipt: SignedReceipt | undefined;
  createdAt: number;
}

/** What admission needs to know about a channel's money, read from the chain by the caller. */
export interface ChannelFunds {
  /** Funds still in the channel. */
  balance: bigint;
  /** Pending withdrawal (the larger of latest and confirmed). */
  pendingWithdraw: bigint;
  /** Settled on each lane, as the chain reports it (signer -> settled). */
  settledByLane: ReadonlyMap<string, bigint>;
}

/**
 * Limits admission enforces besides the balance. The credit a channel gets (the most it may owe in
 * unacknowledged fees plus in-flight reservations) ramps with its acknowledged history:
 * `min(creditLimit, baseCredit + acknowledged)`, where `acknowledged` is what the user has signed for on
 * every lane of the channel (or the chain settled, if more). A new channel starts at `baseCredit`; each
 * wei the user acknowledges earns a wei of credit, up to `creditLimit`.
 */
export interface CreditPolicy {
  /** The most credit any channel gets. */
  creditLimit: bigint;
  /** Credit of a channel with no acknowledged history (default: `creditLimit`, i.e. no ramp). */
  baseCredit?: bigint;
  /** A fee left unacknowledged longer than this (ms) stops new credit until it is acknowledged (`ack_required`). */
  ackTimeoutMs?: number;
  /** For a session-key lane: its lifetime cap (undefined for the owner lane). */
  laneCap?: bigint;
}

/** The credit a channel gets under `policy` with `acknowledged` wei of history. */
export function creditFor(policy: CreditPolicy, acknowledged: bigint): bigint {
  const ramped = (policy.baseCredit ?? policy.creditLimit) + acknowledged;
  return ramped < policy.creditLimit ? ramped : policy.creditLimit;
}

/** What {@link ProviderStore.admit} takes. */
export interface AdmitInput {
  ticket: SignedTicket;
  signer: Address;
  digest: Hex;
  funds: ChannelFunds;
  policy: CreditPolicy;
  /** Wall-clock time (ms), stamped on the reservation. */
  now: number;
}

/** A ticket's effect on its lane, decided before anything changes. */
interface LaneStep {
  /** The lane in memory, if it exists. */
  state: LaneState | undefined;
  nextWindow: NonceWindowState;
  upgrades: boolean;
  /** The lane as it would be after the ticket. */
  lane: LaneRecord;
}

/** A request's identity: its lane (user and signing key) and the ticket's nonce. */
export interface RequestKey {
  user: Address;
  signer: Address;
  nonce: bigint;
}

/** The outcome of an admission. */
export interface Admitted {
  lane: LaneRecord;
  free: bigint;
  /** Settles once the admission is on disk (rejects with `STORE_COMMIT_FAILED` if its commit fails). */
  committed: Promise<void>;
}

const lower = (a: string) => a.toLowerCase();

/**
 * How hard each commit is pushed to disk. `process` (WAL, synchronous=NORMAL) survives any crash or
 * SIGKILL of the provider process: a commit is in the WAL before the response leaves. `power` (WAL,
 * synchronous=FULL) also survives an OS crash or power loss, at one fsync per commit (measured here:
 * about 6x fewer requests per second). What `process` can lose on power loss is only the provider's own
 * money (its latest vouchers and nonce marks since the last checkpoint), never a user's.
 */
export type Durability = "process" | "power";

/** A lane as held in memory: the durable columns, plus the in-flight reservations and unacknowledged fees. */
interface LaneState {
  user: Address;
  signer: Address;
  window: NonceWindowState;
  acked: bigint;
  billed: bigint;
  settled: bigint;
  bestTicket: SignedTicket | undefined;
  bestNonce: bigint;
  updatedAt: number;
  /** Sum of the lane's in-flight reservations (memory only: a crash releases them all). */
  reserved: bigint;
  /**
   * The newest receipts whose fees cover `billed - acked`, oldest first (their admission times date the
   * oldest unacknowledged fee). Clients acknowledge receipts in the order they arrive, so the
   * unacknowledged fees are the newest ones.
   */
  unacked: { fee: bigint; at: number }[];
}

/** One channel's lanes (signer -> lane) and the sum of its in-flight reservations. */
interface ChannelState {
  lanes: Map<string, LaneState>;
  reserved: bigint;
}

/** An admitted request not yet billed or released. Memory only. */
interface Reservation {
  lane: LaneState;
  channel: ChannelState;
  nonce: bigint;
  digest: Hex;
  maxCost: bigint;
  createdAt: number;
}

/** The commit of the writes queued since the last one. */
interface Batch {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
  /** Lanes changed in this batch, each written once with its final state. */
  lanes: Set<LaneState>;
  /** Receipts recorded in this batch. */
  receipts: unknown[][];
  /** Reservations made in this batch: dropped if its commit fails. */
  reservations: string[];
  /** When the batch opened (performance.now()). */
  opened: number;
  /** An early commit is scheduled. */
  early: boolean;
}

/**
 * The longest a write waits for its commit while the event loop is busy: the batch commits at the end of
 * the turn, or in the next microtask once it is this old, so a long turn (a burst of requests) does not
 * hold the requests admitted at its start.
 */
const MAX_BATCH_WAIT_MS = 2;

const RESOLVED: Promise<void> = Promise.resolve();
const requestId = (user: string, signer: string, nonce: bigint) => `${lower(user)}:${lower(signer)}:${nonce}`;

/**
 * The provider's state: lanes (nonce window, best voucher, billed, acknowledged and settled totals) and
 * in-flight reservations live in memory, where admission checks and updates them synchronously, with no
 * I/O; every change to a lane and every receipt is written through to SQLite (WAL). The writes of one
 * turn of the event loop share one transaction, committed at the end of the turn; each lane changed
 * in it is written once, with its final state (a batch older than 2 ms commits at once). A caller acts only
 * once its write is committed (`admitted.committed`, the promise `bill` returns): a request runs
 * once its nonce mark and voucher are committed, a receipt is sent once it is committed. Reservations
 * are never written: a crash ends every request in flight, and so releases every reservation (see
 * docs/protocol.md, "What is durable when").
 *
 * Reads of receipts (`request`, `requestByNonce`, `receiptsAfter`) see committed receipts only; a receipt
 * not yet committed has not been sent to anyone.
 *
 * @example
 * const admitted = store.admit({ ticket, signer, digest, funds, policy, now: Date.now() }); // checks and reserves
 * await admitted.committed; // the nonce mark and voucher are on disk: serve the request
 * await store.bill({ user, signer, nonce }, receipt); // the receipt is on disk: send it
 */
export class ProviderStore {
  readonly db: Database.Database;
  /** Legacy reservation rows (from a release that wrote them) released when the store opened. */
  readonly releasedAtOpen: number;
  private readonly channels = new Map<string, ChannelState>();
  private readonly reservations = new Map<string, Reservation>();
  private batch: Batch | undefined;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly writeLaneRow: Database.Statement;
  private readonly insertReceipt: Database.Statement;
  private readonly checkpointer: WalCheckpointer | undefined;

  /** A prepared statement, prepared once (for the reads and writes off the request path). */
  private q(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  constructor(path: string, durability: Durability = "process") {
    this.db = new Database(path, { timeout: 5000 });
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(durability === "power" ? "synchronous = FULL" : "synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    migrateStore(this.db);
    this.writeLaneRow =
      this.db.prepare(`INSERT INTO lanes (user, signer, highest_nonce, nonce_bitmap, acked, billed, settled, best_ticket, best_nonce, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (user, signer) DO UPDATE SET highest_nonce = excluded.highest_nonce, nonce_bitmap = excluded.nonce_bitmap,
        acked = excluded.acked, billed = excluded.billed, settled = excluded.settled, best_ticket = excluded.best_ticket,
        best_nonce = excluded.best_nonce, updated_at = excluded.updated_at`);
    this.insertReceipt = this.db.prepare(
      "INSERT INTO requests (user, signer, nonce, digest, max_cost, status, fee, receipt, created_at) VALUES (?, ?, ?, ?, ?, 'billed', ?, ?, ?)",
    );
    this.releasedAtOpen = this.q("UPDATE requests SET status = 'released' WHERE status = 'reserved'").run().changes;
    this.load();
    // WAL checkpoints (which sync the database file) run in a worker, never in a commit on the event loop.
    if (path !== ":memory:") this.checkpointer = new WalCheckpointer(this.db, path);
  }

  /** Commit what is queued, then close the database. */
  close(): void {
    this.flush();
    this.checkpointer?.stop();
    this.db.close();
  }

  /**
   * A promise that settles when every write queued so far is committed (at once if none is queued). It
   * rejects if that commit fails; the memory then holds the committed state again.
   *
   * @example
   * store.bill(key, receipt);
   * await store.durable(); // the receipt may now be sent
   */
  durable(): Promise<void> {
    return this.batch?.promise ?? RESOLVED;
  }

  /** The batch the next writes join (opened on the first write of a turn, committed at its end). */
  private pending(): Batch {
    if (this.batch) return this.batch;
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A commit that fails rejects the promise; a caller that never awaits it must not crash the node.
    promise.catch(() => undefined);
    this.batch = { promise, resolve, reject, lanes: new Set(), receipts: [], reservations: [], opened: performance.now(), early: false };
    setImmediate(() => this.flush());
    return this.batch;
  }

  /** After a write joined `batch`: commit it in the next microtask if it has waited long enough. */
  private queued(batch: Batch): Promise<void> {
    if (!batch.early && performance.now() - batch.opened >= MAX_BATCH_WAIT_MS) {
      batch.early = true;
      queueMicrotask(() => {
        if (this.batch === batch) this.flush();
      });
    }
    return batch.promise;
  }

  /** Commit the queued writes in one transaction. */
  private flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    try {
      this.db
        .transaction(() => {
          for (const lane of batch.lanes) this.writeLaneRow.run(...laneRow(lane));
          for (const args of batch.receipts) this.insertReceipt.run(...args);
        })
        .immediate();
    } catch (error) {
      // Nothing of the batch is durable: drop its reservations and read the lanes back as committed.
      for (const id of batch.reservations) this.reservations.delete(id);
      this.load();
      // Typed here, in this realm: the driver's own error class need not be this realm's Error.
      const message = String((error as { message?: unknown } | null)?.message ?? error);
      batch.reject(new ZeroGError("STORE_COMMIT_FAILED", `the database refused a commit: ${message}`, { cause: error }));
      return;
    }
    batch.resolve();
  }

  /** (Re)build the lanes from the database, and attach the reservations in flight to them. */
  private load(): void {
    this.channels.clear();
    for (const row of this.q("SELECT * FROM lanes").all() as LaneRow[]) {
      const lane: LaneState = {
        user: row.user as Address,
        signer: row.signer as Address,
        window: { highest: BigInt(row.highest_nonce), bitmap: BigInt(row.nonce_bitmap) },
        acked: BigInt(row.acked),
        billed: BigInt(row.billed),
        settled: BigInt(row.settled),
        bestTicket: row.best_ticket ? ticketFromWire(JSON.parse(row.best_ticket)) : undefined,
        bestNonce: BigInt(row.best_nonce),
        updatedAt: row.updated_at,
        reserved: 0n,
        unacked: [],
      };
      if (lane.billed > lane.acked) lane.unacked = this.unackedReceipts(lane);
      this.channel(lane.user).lanes.set(lane.signer, lane);
    }
    for (const [id, r] of this.reservations) {
      const channel = this.channel(r.lane.user);
      const lane = channel.lanes.get(r.lane.signer);
      if (!lane) {
        this.reservations.delete(id);
        continue;
      }
      lane.reserved += r.maxCost;
      channel.reserved += r.maxCost;
      r.lane = lane;
      r.channel = channel;
    }
  }

  /** The newest billed receipts of a lane that cover what it owes unacknowledged, oldest first. */
  private unackedReceipts(lane: LaneState): { fee: bigint; at: number }[] {
    const rows = this.q(
      "SELECT fee, created_at FROM requests WHERE user = ? AND signer = ? AND status = 'billed' ORDER BY rowid DESC",
    ).iterate(lane.user, lane.signer) as IterableIterator<{ fee: string; created_at: number }>;
    const out: { fee: bigint; at: number }[] = [];
    let covered = 0n;
    for (const r of rows) {
      out.unshift({ fee: BigInt(r.fee), at: r.created_at });
      covered += BigInt(r.fee);
      if (covered >= lane.billed - lane.acked) break;
    }
    return out;
  }

  /** A user's channel, created empty. */
  private channel(user: string): ChannelState {
    const key = lower(user);
    let channel = this.channels.get(key);
    if (!channel) {
      channel = { lanes: new Map(), reserved: 0n };
      this.channels.set(key, channel);
    }
    return channel;
  }

  /** The lane, or a fresh one. */
  lane(user: Address, signer: Address): LaneRecord {
    const lane = this.channels.get(lower(user))?.lanes.get(lower(signer));
    return lane ? toRecord(lane) : { user, signer, highestNonce: 0n, acked: 0n, billed: 0n, settled: 0n, bestTicket: undefined };
  }

  /** Every lane of a user's channel. */
  lanesOf(user: Address): LaneRecord[] {
    return [...(this.channels.get(lower(user))?.lanes.values() ?? [])].map(toRecord);
  }

  /** The keys that have lanes on a user's channel (the user's own key included once it has one). */
  signersOf(user: Address): Address[] {
    return [...(this.channels.get(lower(user))?.lanes.keys() ?? [])] as Address[];
  }

  /** Lanes whose best voucher is worth more than what the chain has settled. */
  unsettledLanes(): (LaneRecord & { bestTicket: SignedTicket })[] {
    const out: (LaneRecord & { bestTicket: SignedTicket })[] = [];
    for (const channel of this.channels.values())
      for (const lane of channel.lanes.values())
        if (lane.bestTicket !== undefined && lane.acked > lane.settled) out.push({ ...toRecord(lane), bestTicket: lane.bestTicket });
    return out;
  }

  /**
   * A request by ticket digest (and signing key, when the same ticket was signed on two lanes); the newest
   * first. In flight, a request is found only by {@link requestByNonce}; once billed, by either.
   */
  request(digest: Hex, signer?: Address): RequestRecord | undefined {
    const row = (
      signer
        ? this.q("SELECT * FROM requests WHERE digest = ? AND signer = ? ORDER BY created_at DESC LIMIT 1").get(
            lower(digest),
            lower(signer),
          )
        : this.q("SELECT * FROM requests WHERE digest = ? ORDER BY created_at DESC LIMIT 1").get(lower(digest))
    ) as RequestRow | undefined;
    return row ? toRequest(row) : undefined;
  }

  /** A request by lane and nonce: in flight (`reserved`) or billed. */
  requestByNonce(user: Address, signer: Address, nonce: bigint): RequestRecord | undefined {
    const r = this.reservations.get(requestId(user, signer, nonce));
    if (r) {
      return {
        user: r.lane.user,
        signer: r.lane.signer,
        nonce,
        digest: r.digest,
        maxCost: r.maxCost,
        status: "reserved",
        fee: 0n,
        receipt: undefined,
        createdAt: r.createdAt,
      };
    }
    const row = this.q("SELECT * FROM requests WHERE user = ? AND signer = ? AND nonce = ?").get(
      lower(user),
      lower(signer),
      nonce.toString(),
    ) as RequestRow | undefined;
    return row ? toRequest(row) : undefined;
  }

  /** Receipts issued on a lane after its best voucher's nonce (for resync). */
  receiptsAfter(user: Address, signer: Address, nonce: bigint): RequestRecord[] {
    const rows = this.q("SELECT * FROM requests WHERE user = ? AND signer = ? AND status = 'billed'").all(
      lower(user),
      lower(signer),
    ) as RequestRow[];
    return rows.map(toRequest).filter((r) => r.nonce > nonce);
  }

  /**
   * Admit a paid ticket: check the nonce window and cumulative regression, upgrade the lane's best
   * voucher, check the channel's free balance, the credit limit (with its ramp and the age of
   * unacknowledged fees) and a session lane's cap, and reserve `maxCost`. Throws `AdmissionError` with
   * the numbers; on any refusal nothing changes. Synchronous: two admissions never interleave. The lane
   * is written in the current batch; serve the request once `committed` settles. With `dryRun` it only
   * checks (a cheap pre-check the server runs before it reads the request body).
   */
  admit(input: AdmitInput, options: { dryRun?: boolean } = {}): Admitted {
    const step = this.laneStep(input);
    if (input.ticket.terms.maxCost === 0n) throw new AdmissionError("bad_ticket", "an ack-only ticket cannot pay for a request");
    const free = this.checkFunds(input, step);
    if (options.dryRun) return { lane: step.lane, free, committed: RESOLVED };
    const lane = this.applyStep(input, step);
    const id = requestId(input.ticket.user, input.signer, input.ticket.nonce);
    const channel = this.channel(input.ticket.user);
    const maxCost = input.ticket.terms.maxCost;
    this.reservations.set(id, { lane, channel, nonce: input.ticket.nonce, digest: input.digest, maxCost, createdAt: input.now });
    lane.reserved += maxCost;
    channel.reserved += maxCost;
    const batch = this.pending();
    batch.reservations.push(id);
    return { lane: step.lane, free, committed: this.queued(batch) };
  }

  /**
   * Take an acknowledgement (an ack-only ticket). It is kept only for a lane this node has billed, and
   * never for more than it billed there: a key with nothing billed cannot make the node store (and try
   * to settle) a voucher of its own making. Nonce window and regression rules as for {@link admit}.
   */
  acknowledge(input: Omit<AdmitInput, "funds" | "policy">): Admitted {
    const step = this.laneStep(input);
    if (input.ticket.terms.maxCost !== 0n)
      throw new AdmissionError("bad_ticket", "an acknowledgement carries an ack-only ticket (maxCost 0, requestHash 0)");
    const billed = step.lane.billed;
    // A lane with nothing billed has nothing to acknowledge: refused, so a free key cannot make the node
    // keep a lane (memory and disk) for it.
    if (input.ticket.cumulative > billed || billed === 0n) {
      throw new AdmissionError(
        "ack_exceeds_billed",
        billed === 0n
          ? "this node billed nothing on the lane: there is nothing to acknowledge"
          : `cumulative ${input.ticket.cumulative} is above the ${billed} this node billed on the lane`,
        { billed: billed.toString(), cumulative: input.ticket.cumulative.toString() },
      );
    }
    this.applyStep(input, step);
    return { lane: step.lane, free: 0n, committed: this.queued(this.pending()) };
  }

  /** The lane, the nonce it marks and the voucher upgrade a ticket brings (checks only, no changes). */
  private laneStep(input: Pick<AdmitInput, "ticket" | "signer">): LaneStep {
    const { ticket, signer } = input;
    const user = ticket.user;
    const state = this.channels.get(lower(user))?.lanes.get(lower(signer));
    const window = state?.window ?? EMPTY_NONCE_WINDOW;
    const acked = state?.acked ?? 0n;
    const resync = () => ({
      highestNonce: window.highest.toString(),
      acked: acked.toString(),
      ...(state?.bestTicket ? { ticket: ticketToWire(state.bestTicket) as unknown } : {}),
    });
    let nextWindow: NonceWindowState;
    try {
      nextWindow = useNonce(window, ticket.nonce);
    } catch (err) {
      if (err instanceof AdmissionError) {
        // A replay gets the stored receipt back (never a second execution).
        const earlier = this.q("SELECT receipt FROM requests WHERE user = ? AND signer = ? AND nonce = ?").get(
          lower(user),
          lower(signer),
          ticket.nonce.toString(),
        ) as { receipt: string | null } | undefined;
        const receipt = earlier?.receipt ? { receipt: JSON.parse(earlier.receipt) as unknown } : {};
        throw new AdmissionError(err.protocolCode, err.message, { ...err.details, ...resync(), ...receipt });
      }
      throw err;
    }
    const bestNonce = state?.bestNonce ?? 0n;
    if (ticket.cumulative < acked && ticket.nonce > bestNonce) {
      throw new AdmissionError("cumulative_regressed", `cumulative ${ticket.cumulative} is below the acknowledged ${acked}`, resync());
    }
    const upgrades = ticket.cumulative > acked || !state?.bestTicket;
    return {
      state,
      nextWindow,
      upgrades,
      lane: {
        user: state?.user ?? user,
        signer: state?.signer ?? signer,
        highestNonce: nextWindow.highest,
        acked: upgrades ? ticket.cumulative : acked,
        billed: state?.billed ?? 0n,
        settled: state?.settled ?? 0n,
        bestTicket: upgrades ? ticket : state?.bestTicket,
      },
    };
  }

  /** Apply a checked step to the lane in memory (creating it) and queue its write. */
  private applyStep(input: Pick<AdmitInput, "ticket" | "signer" | "now">, step: LaneStep): LaneState {
    const { ticket } = input;
    let lane = step.state;
    if (!lane) {
      lane = {
        user: lower(ticket.user) as Address,
        signer: lower(input.signer) as Address,
        window: EMPTY_NONCE_WINDOW,
        acked: 0n,
        billed: 0n,
        settled: 0n,
        bestTicket: undefined,
        bestNonce: 0n,
        updatedAt: input.now,
        reserved: 0n,
        unacked: [],
      };
      this.channel(ticket.user).lanes.set(lane.signer, lane);
    }
    lane.window = step.nextWindow;
    if (step.upgrades) {
      lane.acked = ticket.cumulative;
      lane.bestTicket = ticket;
      lane.bestNonce = ticket.nonce;
      trimUnacked(lane);
    }
    lane.updatedAt = input.now;
    this.pending().lanes.add(lane);
    return lane;
  }

  /**
   * The money checks of a paid request (section 2.4 of the protocol): free balance, credit and a session
   * lane's cap, counting the lane's acknowledgement as this ticket raises it. Returns the free balance.
   */
  private checkFunds(input: AdmitInput, step: LaneStep): bigint {
    const { ticket, signer, funds, policy } = input;
    const maxCost = ticket.terms.maxCost;
    const channel = this.channels.get(lower(ticket.user));
    const signerKey = lower(signer);
    let unsettled = 0n;
    let unacked = 0n;
    let acknowledged = 0n;
    let oldest: number | undefined;
    const count = (key: string, acked: bigint, billed: bigint, storedSettled: bigint, state: LaneState | undefined) => {
      const settled = funds.settledByLane.get(key) ?? storedSettled;
      const owed = billed > acked ? billed : acked;
      if (owed > settled) unsettled += owed - settled;
      if (billed > acked) {
        unacked += billed - acked;
        const at = state ? oldestCovering(state.unacked, billed - acked) : undefined;
        if (at !== undefined && (oldest === undefined || at < oldest)) oldest = at;
      }
      acknowledged += acked > settled ? acked : settled;
    };
    if (channel) for (const [key, l] of channel.lanes) if (key !== signerKey) count(key, l.acked, l.billed, l.settled, l);
    count(signerKey, step.lane.acked, step.lane.billed, step.lane.settled, step.state);
    const reserved = channel?.reserved ?? 0n;
    const committed = funds.pendingWithdraw + unsettled + reserved;
    const free = funds.balance > committed ? funds.balance - committed : 0n;
    const credit = creditFor(policy, acknowledged);
    const numbers = {
      free: free.toString(),
      reserved: reserved.toString(),
      needed: maxCost.toString(),
      creditLimit: credit.toString(),
      unacknowledged: unacked.toString(),
    };
    if (maxCost > free)
      throw new AdmissionError("insufficient_balance", `the channel's free balance ${free} does not cover ${maxCost}`, numbers);
    if (unacked + reserved + maxCost > credit) {
      throw new AdmissionError(
        unacked > 0n ? "ack_required" : "credit_limit",
        "unacknowledged and in-flight fees would exceed the credit limit",
        numbers,
      );
    }
    if (unacked > 0n && policy.ackTimeoutMs !== undefined && oldest !== undefined && input.now - oldest > policy.ackTimeoutMs) {
      throw new AdmissionError("ack_required", `a fee billed ${Math.round((input.now - oldest) / 1000)} s ago is still unacknowledged`, {
        ...numbers,
        unacknowledgedSince: new Date(oldest).toISOString(),
      });
    }
    if (policy.laneCap !== undefined) {
      const laneSettled = funds.settledByLane.get(signerKey) ?? step.lane.settled;
      const laneOwed = step.lane.billed > step.lane.acked ? step.lane.billed : step.lane.acked;
      const spent = laneOwed > laneSettled ? laneOwed : laneSettled;
      if (spent + (step.state?.reserved ?? 0n) + maxCost > policy.laneCap) {
        throw new AdmissionError("session_cap", "the session key's cap does not cover this request", {
          ...numbers,
          cap: policy.laneCap.toString(),
        });
      }
    }
    return free;
  }

  /**
   * Record the receipt of a reserved request and add its fee to the lane's billed total. Returns a promise
   * that settles once the receipt is on disk: send it then. A request is billed once: a released, billed
   * or unknown one throws.
   */
  bill(key: RequestKey, receipt: SignedReceipt): Promise<void> {
    const id = requestId(key.user, key.signer, key.nonce);
    const r = this.reservations.get(id);
    if (!r) throw new Error(`no request ${id} in flight (unknown, released or billed already)`);
    this.dropReservation(id, r);
    const lane = r.lane;
    lane.billed += receipt.fee;
    if (receipt.fee > 0n) lane.unacked.push({ fee: receipt.fee, at: r.createdAt });
    trimUnacked(lane);
    const batch = this.pending();
    batch.lanes.add(lane);
    batch.receipts.push([
      lane.user,
      lane.signer,
      key.nonce.toString(),
      lower(r.digest),
      r.maxCost.toString(),
      receipt.fee.toString(),
      JSON.stringify(receiptToWire(receipt)),
      r.createdAt,
    ]);
    return this.queued(batch);
  }

  /** Drop a reservation that produced nothing billable (an error before any output). Unknown: nothing happens. */
  release(key: RequestKey): void {
    const id = requestId(key.user, key.signer, key.nonce);
    const r = this.reservations.get(id);
    if (r) this.dropReservation(id, r);
  }

  private dropReservation(id: string, r: Reservation): void {
    this.reservations.delete(id);
    r.lane.reserved -= r.maxCost;
    r.channel.reserved -= r.maxCost;
  }

  /** Record what the chain says a lane has settled. */
  setSettled(user: Address, signer: Address, settled: bigint): void {
    const lane = this.channels.get(lower(user))?.lanes.get(lower(signer));
    if (!lane || lane.settled === settled) return;
    lane.settled = settled;
    const batch = this.pending();
    batch.lanes.add(lane);
    void this.queued(batch);
  }

  /** Remember a settlement transaction. */
  recordSettlement(txHash: Hex, status: string, items: number, paid: bigint, gasUsed: bigint): void {
    this.q(`INSERT INTO settlements (tx_hash, status, items, paid, gas_used, created_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (tx_hash) DO UPDATE SET status = excluded.status, paid = excluded.paid, gas_used = excluded.gas_used`).run(
      lower(txHash),
      status,
      items,
      paid.toString(),
      gasUsed.toString(),
      Date.now(),
    );
  }

  /** Settlement transactions in one status (e.g. `sent`: not yet known to be mined), oldest first. */
  settlementsWithStatus(status: string): { txHash: Hex; items: number }[] {
    return (
      this.q("SELECT tx_hash, items FROM settlements WHERE status = ? ORDER BY created_at").all(status) as {
        tx_hash: string;
        items: number;
      }[]
    ).map((r) => ({ txHash: r.tx_hash as Hex, items: r.items }));
  }

  settlements(limit = 20): { txHash: Hex; status: string; items: number; paid: bigint; gasUsed: bigint; createdAt: number }[] {
    const rows = this.q("SELECT * FROM settlements ORDER BY created_at DESC LIMIT ?").all(limit) as {
      tx_hash: string;
      status: string;
      items: number;
      paid: string;
      gas_used: string;
      created_at: number;
    }[];
    return rows.map((r) => ({
      txHash: r.tx_hash as Hex,
      status: r.status,
      items: r.items,
      paid: BigInt(r.paid),
      gasUsed: BigInt(r.gas_used),
      createdAt: r.created_at,
    }));
  }

  /**
   * Keep a ZK-mode voucher (its JSON, already verified) if it is the leaf's newest: a higher cumulative
   * than the one held. Returns the cumulative held afterwards.
   */
  putZkVoucher(leafIndex: number, cumulative: bigint, json: string): bigint {
    return this.db
      .transaction((): bigint => {
        const row = this.q("SELECT cumulative FROM zk_vouchers WHERE leaf_index = ?").get(leafIndex) as { cumulative: string } | undefined;
        if (row && BigInt(row.cumulative) >= cumulative) return BigInt(row.cumulative);
        this.q(
          "INSERT INTO zk_vouchers (leaf_index, cumulative, voucher, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (leaf_index) DO UPDATE SET cumulative = excluded.cumulative, voucher = excluded.voucher, updated_at = excluded.updated_at",
        ).run(leafIndex, cumulative.toString(), json, Date.now());
        return cumulative;
      })
      .immediate();
  }

  /** The newest ZK-mode voucher of every leaf, as stored (JSON). */
  zkVoucherJson(): string[] {
    return this.q("SELECT voucher FROM zk_vouchers ORDER BY leaf_index").pluck().all() as string[];
  }

  /**
   * Totals over every lane. `unacknowledged` is what was billed and not yet acknowledged, summed per lane
   * (a lane acknowledged beyond its billing counts 0), with how many lanes owe it.
   */
  totals(): {
    lanes: number;
    billed: bigint;
    acked: bigint;
    settled: bigint;
    reserved: bigint;
    unacknowledged: bigint;
    unacknowledgedLanes: number;
  } {
    const t = { lanes: 0, billed: 0n, acked: 0n, settled: 0n, reserved: 0n, unacknowledged: 0n, unacknowledgedLanes: 0 };
    for (const channel of this.channels.values()) {
      t.reserved += channel.reserved;
      for (const l of channel.lanes.values()) {
        t.lanes++;
        t.billed += l.billed;
        t.acked += l.acked;
        t.settled += l.settled;
        if (l.billed > l.acked) {
          t.unacknowledged += l.billed - l.acked;
          t.unacknowledgedLanes++;
        }
      }
    }
    return t;
  }

  getMeta(key: string): string | undefined {
    return (this.q("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.q("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }
}

/** Drop the oldest unacknowledged receipts no longer needed to cover `billed - acked`. */
function trimUnacked(lane: LaneState): void {
  const owed = lane.billed - lane.acked;
  if (owed <= 0n) {
    lane.unacked.length = 0;
    return;
  }
  let sum = lane.unacked.reduce((s, u) => s + u.fee, 0n);
  let drop = 0;
  while (drop < lane.unacked.length && sum - lane.unacked[drop]!.fee >= owed) sum -= lane.unacked[drop++]!.fee;
  if (drop > 0) lane.unacked.splice(0, drop);
}

/** When the oldest of the newest receipts covering `owed` was admitted, or undefined if none are known. */
function oldestCovering(unacked: readonly { fee: bigint; at: number }[], owed: bigint): number | undefined {
  let covered = 0n;
  let at: number | undefined;
  for (let i = unacked.length - 1; i >= 0 && covered < owed; i--) {
    covered += unacked[i]!.fee;
    at = unacked[i]!.at;
  }
  return at;
}

/** A lane's row, in the column order of the lane write. */
function laneRow(l: LaneState): unknown[] {
  return [
    l.user,
    l.signer,
    l.window.highest.toString(),
    l.window.bitmap.toString(),
    l.acked.toString(),
    l.billed.toString(),
    l.settled.toString(),
    l.bestTicket ? JSON.stringify(ticketToWire(l.bestTicket)) : null,
    l.bestNonce.toString(),
    l.updatedAt,
  ];
}

function toRecord(l: LaneState): LaneRecord {
  return {
    user: l.user,
    signer: l.signer,
    highestNonce: l.window.highest,
    acked: l.acked,
    billed: l.billed,
    settled: l.settled,
    bestTicket: l.bestTicket,
  };
}

interface LaneRow {
  user: string;
  signer: string;
  highest_nonce: string;
  nonce_bitmap: string;
  acked: string;
  billed: string;
  settled: string;
  best_ticket: string | null;
  best_nonce: string;
  updated_at: number;
}

interface RequestRow {
  user: string;
  signer: string;
  nonce: string;
  digest: string;
  max_cost: string;
  status: "reserved" | "billed" | "released";
  fee: string;
  receipt: string | null;
  created_at: number;
}

function toRequest(row: RequestRow): RequestRecord {
  return {
    user: row.user as Address,
    signer: row.signer as Address,
    nonce: BigInt(row.nonce),
    digest: row.digest as Hex,
    maxCost: BigInt(row.max_cost),
    status: row.status,
    fee: BigInt(row.fee),
    receipt: row.receipt ? receiptFromWire(JSON.parse(row.receipt)) : undefined,
    createdAt: row.created_at,
  };
}
