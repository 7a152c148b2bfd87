import Database from "better-sqlite3";
import { migrateStore } from "./store-migrations.js";
import type { Address, Hex } from "viem";
import {
  AdmissionError,
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

/** A ticket's effect on its lane, decided before anything is written. */
interface LaneStep {
  row: LaneRow | undefined;
  nextWindow: NonceWindowState;
  upgrades: boolean;
  bestNonce: bigint;
  lane: LaneRecord;
}

/** A request's identity: its lane (user and signing key) and the ticket's nonce. */
export interface RequestKey {
  user: Address;
  signer: Address;
  nonce: bigint;
}

/** The outcome of an admission: the reservation was written in the same transaction. */
export interface Admitted {
  lane: LaneRecord;
  free: bigint;
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

/**
 * The provider's durable state in SQLite (WAL): lanes (nonce window, best voucher,
 * billed and settled totals) and requests (reservations and receipts). Admission is one IMMEDIATE
 * transaction per request: nonce check and mark, voucher upgrade, free-balance and credit checks, and
 * the reservation, all or nothing. A receipt is written before it is sent. Killing the process at any
 * point loses no acknowledged voucher and never bills a request twice.
 */
export class ProviderStore {
  readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  /** A prepared statement, prepared once. */
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
  }

  close(): void {
    this.db.close();
  }

  /**
   * Group commit: run `write` (one or more store writes, e.g. `admit` or `bill`) inside the next shared
   * transaction, committed at the end of the current turn of the event loop together with every other
   * write queued meanwhile. Each write runs in its own savepoint: one that throws is rolled back and
   * rejects alone. The promise settles only after the commit, so the caller acts on durable state
   * (serves a request, sends a receipt) exactly as with a transaction of its own, and concurrent
   * requests share one WAL commit instead of paying one each.
   *
   * @example
   * await store.group(() => store.bill({ user, signer, nonce }, receipt)); // durable: the receipt may now be sent
   */
  group<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ write, resolve: resolve as (v: unknown) => void, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private readonly pending: { write: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];

  private flush(): void {
    const batch = this.pending.splice(0);
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.db
        .transaction(() => {
          for (const item of batch) {
            try {
              // A nested transaction is a savepoint: a write that throws leaves nothing behind.
              outcomes.push({ ok: true, value: this.db.transaction(item.write)() });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      for (const item of batch) item.reject(error); // the commit failed: nothing of the batch is durable
      return;
    }
    batch.forEach((item, i) => {
      const o = outcomes[i]!;
      if (o.ok) item.resolve(o.value);
      else item.reject(o.error);
    });
  }

  /** The lane, or a fresh one. */
  lane(user: Address, signer: Address): LaneRecord {
    const row = this.q("SELECT * FROM lanes WHERE user = ? AND signer = ?").get(lower(user), lower(signer)) as LaneRow | undefined;
    return row ? toLane(row) : { user, signer, highestNonce: 0n, acked: 0n, billed: 0n, settled: 0n, bestTicket: undefined };
  }

  /** Every lane of a user's channel. */
  lanesOf(user: Address): LaneRecord[] {
    return (this.q("SELECT * FROM lanes WHERE user = ?").all(lower(user)) as LaneRow[]).map(toLane);
  }

  /** The keys that have lanes on a user's channel (the user's own key included once it has one). */
  signersOf(user: Address): Address[] {
    return this.q("SELECT signer FROM lanes WHERE user = ?").pluck().all(lower(user)) as string[] as Address[];
  }

  /** Lanes whose best voucher is worth more than what the chain has settled. */
  unsettledLanes(): (LaneRecord & { bestTicket: SignedTicket })[] {
    const rows = this.q("SELECT * FROM lanes WHERE best_ticket IS NOT NULL").all() as LaneRow[];
    return rows
      .map(toLane)
      .filter((l): l is LaneRecord & { bestTicket: SignedTicket } => l.bestTicket !== undefined && l.acked > l.settled);
  }

  /** A request by ticket digest (and signing key, when the same ticket was signed on two lanes); the newest first. */
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

  /** A request by lane and nonce. */
  requestByNonce(user: Address, signer: Address, nonce: bigint): RequestRecord | undefined {
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
   * Admit a paid ticket atomically. Checks the nonce window and cumulative regression, upgrades the lane's
   * best voucher, then checks the channel's free balance, the credit limit (with its ramp and the age of
   * unacknowledged fees) and a session lane's cap, and reserves `maxCost`. Throws `AdmissionError` with
   * the numbers; on any refusal nothing is written. With `dryRun` it only checks (a cheap pre-check the
   * server runs before it reads the request body) and writes nothing.
   */
  admit(input: AdmitInput, options: { dryRun?: boolean } = {}): Admitted {
    const run = this.db.transaction((): Admitted => {
      const step = this.laneStep(input);
      if (input.ticket.terms.maxCost === 0n) throw new AdmissionError("bad_ticket", "an ack-only ticket cannot pay for a request");
      const free = this.checkFunds(input, step);
      if (options.dryRun) return { lane: step.lane, free };
      this.writeLane(input, step);
      this.q("INSERT INTO requests (user, signer, nonce, digest, max_cost, status, created_at) VALUES (?, ?, ?, ?, ?, 'reserved', ?)").run(
        lower(input.ticket.user),
        lower(input.signer),
        input.ticket.nonce.toString(),
        lower(input.digest),
        input.ticket.terms.maxCost.toString(),
        input.now,
      );
      return { lane: step.lane, free };
    });
    return options.dryRun ? run.deferred() : run.immediate();
  }

  /**
   * Take an acknowledgement (an ack-only ticket). It is kept only for a lane this node has billed, and
   * never for more than it billed there: a key with nothing billed cannot make the node store (and try
   * to settle) a voucher of its own making. Nonce window and regression rules as for {@link admit}.
   */
  acknowledge(input: Omit<AdmitInput, "funds" | "policy">): Admitted {
    const run = this.db.transaction((): Admitted => {
      const step = this.laneStep(input);
      if (input.ticket.terms.maxCost !== 0n)
        throw new AdmissionError("bad_ticket", "an acknowledgement carries an ack-only ticket (maxCost 0, requestHash 0)");
      const billed = step.lane.billed;
      if (input.ticket.cumulative > billed) {
        throw new AdmissionError(
          "ack_exceeds_billed",
          `cumulative ${input.ticket.cumulative} is above the ${billed} this node billed on the lane`,
          { billed: billed.toString(), cumulative: input.ticket.cumulative.toString() },
        );
      }
      this.writeLane(input, step);
      return { lane: step.lane, free: 0n };
    });
    return run.immediate();
  }

  /** The lane's row, the nonce it marks and the voucher upgrade a ticket brings (checks only, no writes). */
  private laneStep(input: Pick<AdmitInput, "ticket" | "signer">): LaneStep {
    const { ticket, signer } = input;
    const user = ticket.user;
    const row = this.q("SELECT * FROM lanes WHERE user = ? AND signer = ?").get(lower(user), lower(signer)) as LaneRow | undefined;
    const window = row ? { highest: BigInt(row.highest_nonce), bitmap: BigInt(row.nonce_bitmap) } : EMPTY_NONCE_WINDOW;
    const stored = { acked: row ? BigInt(row.acked) : 0n, billed: row ? BigInt(row.billed) : 0n, settled: row ? BigInt(row.settled) : 0n };
    const resync = () => ({
      highestNonce: window.highest.toString(),
      acked: stored.acked.toString(),
      ...(row?.best_ticket ? { ticket: JSON.parse(row.best_ticket) as unknown } : {}),
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
    const bestNonce = row ? BigInt(row.best_nonce) : 0n;
    if (ticket.cumulative < stored.acked && ticket.nonce > bestNonce) {
      throw new AdmissionError(
        "cumulative_regressed",
        `cumulative ${ticket.cumulative} is below the acknowledged ${stored.acked}`,
        resync(),
      );
    }
    const upgrades = ticket.cumulative > stored.acked || !row?.best_ticket;
    const acked = upgrades ? ticket.cumulative : stored.acked;
    const storedBest = (): SignedTicket | undefined => (row?.best_ticket ? ticketFromWire(JSON.parse(row.best_ticket)) : undefined);
    return {
      row,
      nextWindow,
      upgrades,
      bestNonce,
      lane: {
        user,
        signer,
        highestNonce: nextWindow.highest,
        acked,
        billed: stored.billed,
        settled: stored.settled,
        bestTicket: upgrades ? ticket : storedBest(),
      },
    };
  }

  /** Write the lane's nonce window and, if the ticket raised it, its best voucher. */
  private writeLane(input: Pick<AdmitInput, "ticket" | "signer" | "now">, step: LaneStep): void {
    const { ticket } = input;
    this.q(`INSERT INTO lanes (user, signer, highest_nonce, nonce_bitmap, acked, best_ticket, best_nonce, updated_at)
                VALUES (@user, @signer, @highest, @bitmap, @acked, @best, @bestNonce, @now)
                ON CONFLICT (user, signer) DO UPDATE SET highest_nonce = @highest, nonce_bitmap = @bitmap, acked = @acked,
                  best_ticket = @best, best_nonce = @bestNonce, updated_at = @now`).run({
      user: lower(ticket.user),
      signer: lower(input.signer),
      highest: step.nextWindow.highest.toString(),
      bitmap: step.nextWindow.bitmap.toString(),
      acked: step.lane.acked.toString(),
      best: step.upgrades ? JSON.stringify(ticketToWire(ticket)) : (step.row?.best_ticket ?? null),
      bestNonce: (step.upgrades ? ticket.nonce : step.bestNonce).toString(),
      now: input.now,
    });
  }

  /**
   * The money checks of a paid request (section 2.4 of the protocol): free balance, credit and a session
   * lane's cap, counting the lane's acknowledgement as this ticket raises it. Returns the free balance.
   */
  private checkFunds(input: AdmitInput, step: LaneStep): bigint {
    const { ticket, signer, funds, policy } = input;
    const user = ticket.user;
    const maxCost = ticket.terms.maxCost;
    // Only the money columns: best vouchers stay unparsed.
    const lanes = (
      this.q("SELECT signer, acked, billed, settled FROM lanes WHERE user = ?").all(lower(user)) as Pick<
        LaneRow,
        "signer" | "acked" | "billed" | "settled"
      >[]
    ).map((r) => ({ signer: r.signer, acked: BigInt(r.acked), billed: BigInt(r.billed), settled: BigInt(r.settled) }));
    const byKey = new Map(lanes.map((l) => [lower(l.signer), l]));
    byKey.set(lower(signer), { signer, acked: step.lane.acked, billed: step.lane.billed, settled: step.lane.settled });
    let unsettled = 0n;
    let unacked = 0n;
    let acknowledged = 0n;
    for (const l of byKey.values()) {
      const settled = funds.settledByLane.get(lower(l.signer)) ?? l.settled;
      const owed = l.billed > l.acked ? l.billed : l.acked;
      if (owed > settled) unsettled += owed - settled;
      if (l.billed > l.acked) unacked += l.billed - l.acked;
      acknowledged += l.acked > settled ? l.acked : settled;
    }
    const reservedRows = this.q("SELECT signer, max_cost FROM requests WHERE user = ? AND status = 'reserved'").all(lower(user)) as {
      signer: string;
      max_cost: string;
    }[];
    const reserved = reservedRows.reduce((s, r) => s + BigInt(r.max_cost), 0n);
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
    if (unacked > 0n && policy.ackTimeoutMs !== undefined) {
      const oldest = this.oldestUnacknowledged(user, [...byKey.values()], input.now);
      if (oldest !== undefined && input.now - oldest > policy.ackTimeoutMs) {
        throw new AdmissionError("ack_required", `a fee billed ${Math.round((input.now - oldest) / 1000)} s ago is still unacknowledged`, {
          ...numbers,
          unacknowledgedSince: new Date(oldest).toISOString(),
        });
      }
    }
    if (policy.laneCap !== undefined) {
      const laneSettled = funds.settledByLane.get(lower(signer)) ?? step.lane.settled;
      const laneOwed = step.lane.billed > step.lane.acked ? step.lane.billed : step.lane.acked;
      const laneReserved = reservedRows.filter((r) => lower(r.signer) === lower(signer)).reduce((s, r) => s + BigInt(r.max_cost), 0n);
      const spent = laneOwed > laneSettled ? laneOwed : laneSettled;
      if (spent + laneReserved + maxCost > policy.laneCap) {
        throw new AdmissionError("session_cap", "the session key's cap does not cover this request", {
          ...numbers,
          cap: policy.laneCap.toString(),
        });
      }
    }
    return free;
  }

  /**
   * When the oldest fee not yet acknowledged was billed, over the given lanes (ms). Clients acknowledge
   * receipts in the order they arrive, so the unacknowledged fees are the newest ones: walk back from the
   * newest receipt until their sum covers `billed - acked`.
   */
  private oldestUnacknowledged(user: Address, lanes: { signer: string; acked: bigint; billed: bigint }[], now: number): number | undefined {
    let oldest: number | undefined;
    for (const l of lanes) {
      if (l.billed <= l.acked) continue;
      const rows = this.q(
        "SELECT fee, created_at FROM requests WHERE user = ? AND signer = ? AND status = 'billed' ORDER BY rowid DESC",
      ).iterate(lower(user), lower(l.signer)) as IterableIterator<{ fee: string; created_at: number }>;
      let covered = 0n;
      let at = now;
      for (const r of rows) {
        covered += BigInt(r.fee);
        at = r.created_at;
        if (covered >= l.billed - l.acked) break;
      }
      if (oldest === undefined || at < oldest) oldest = at;
    }
    return oldest;
  }

  /** Record the receipt of a reserved request (before it is sent) and add its fee to the lane's billed total. */
  bill(key: RequestKey, receipt: SignedReceipt): void {
    const id = [lower(key.user), lower(key.signer), key.nonce.toString()] as const;
    this.db
      .transaction(() => {
        const row = this.q("SELECT status FROM requests WHERE user = ? AND signer = ? AND nonce = ?").get(...id) as
          | Pick<RequestRow, "status">
          | undefined;
        if (!row) throw new Error(`no request ${id.join(":")}`);
        if (row.status === "billed") return; // idempotent: never bill twice
        if (row.status !== "reserved") throw new Error(`request ${id.join(":")} is ${row.status}`);
        this.q("UPDATE requests SET status = 'billed', fee = ?, receipt = ? WHERE user = ? AND signer = ? AND nonce = ?").run(
          receipt.fee.toString(),
          JSON.stringify(receiptToWire(receipt)),
          ...id,
        );
        const lane = this.q("SELECT billed FROM lanes WHERE user = ? AND signer = ?").get(id[0], id[1]) as { billed: string };
        this.q("UPDATE lanes SET billed = ? WHERE user = ? AND signer = ?").run(
          (BigInt(lane.billed) + receipt.fee).toString(),
          id[0],
          id[1],
        );
      })
      .immediate();
  }

  /** Drop a reservation that produced nothing billable (an error before any output). */
  release(key: RequestKey): void {
    this.q("UPDATE requests SET status = 'released' WHERE user = ? AND signer = ? AND nonce = ? AND status = 'reserved'").run(
      lower(key.user),
      lower(key.signer),
      key.nonce.toString(),
    );
  }

  /** After a crash, reservations without a receipt were never answered: release them. Returns how many. */
  releaseStaleReservations(): number {
    return this.q("UPDATE requests SET status = 'released' WHERE status = 'reserved'").run().changes;
  }

  /** Record what the chain says a lane has settled. */
  setSettled(user: Address, signer: Address, settled: bigint): void {
    this.q("UPDATE lanes SET settled = ? WHERE user = ? AND signer = ?").run(settled.toString(), lower(user), lower(signer));
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

  /** Totals for status and metrics. */
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
    const lanes = this.q("SELECT billed, acked, settled FROM lanes").all() as { billed: string; acked: string; settled: string }[];
    const reserved = this.q("SELECT max_cost FROM requests WHERE status = 'reserved'").all() as { max_cost: string }[];
    const owed = lanes.map((l) => BigInt(l.billed) - BigInt(l.acked)).filter((d) => d > 0n);
    return {
      lanes: lanes.length,
      billed: lanes.reduce((s, l) => s + BigInt(l.billed), 0n),
      acked: lanes.reduce((s, l) => s + BigInt(l.acked), 0n),
      settled: lanes.reduce((s, l) => s + BigInt(l.settled), 0n),
      reserved: reserved.reduce((s, r) => s + BigInt(r.max_cost), 0n),
      unacknowledged: owed.reduce((s, d) => s + d, 0n),
      unacknowledgedLanes: owed.length,
    };
  }

  getMeta(key: string): string | undefined {
    return (this.q("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.q("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }
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

function toLane(row: LaneRow): LaneRecord {
  return {
    user: row.user as Address,
    signer: row.signer as Address,
    highestNonce: BigInt(row.highest_nonce),
    acked: BigInt(row.acked),
    billed: BigInt(row.billed),
    settled: BigInt(row.settled),
    bestTicket: row.best_ticket ? ticketFromWire(JSON.parse(row.best_ticket)) : undefined,
  };
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
