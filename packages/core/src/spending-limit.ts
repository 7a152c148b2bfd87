import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { ZeroGError } from "./errors.js";

/** A request would take spending above a limit; nothing was sent and nothing spent. */
export class SpendingLimitError extends ZeroGError {
  constructor(
    readonly limit: string,
    readonly cap: bigint,
    readonly spent: bigint,
    readonly requested: bigint,
  ) {
    super(
      "SPENDING_LIMIT",
      `the ${limit} spending limit would be exceeded: ${spent} wei spent or reserved of ${cap}, this request may cost up to ${requested}`,
      {
        hint: "lower max_tokens, wait for the window to reset, or raise the limit",
      },
    );
  }
}

/** One cap: over the life of the object ("session"), or per fixed window of `periodMs` aligned to the Unix epoch (86,400,000: per UTC day). */
export interface SpendingCap {
  name: string;
  cap: bigint;
  periodMs?: number;
}

/** Options for {@link SpendingLimit}. */
export interface SpendingLimitOptions {
  caps: SpendingCap[];
  /** A JSON file that keeps windowed spending across restarts (session caps always start at zero). */
  path?: string;
  now?: () => number;
}

/** A held amount: commit what was actually paid, or release it when nothing was. */
export interface SpendingReservation {
  readonly amount: bigint;
  commit(fee: bigint): void;
  release(): void;
}

interface CapState {
  window: number;
  spent: bigint;
  reserved: bigint;
}

/**
 * Caps on fees paid for inference. Before a request is sent its maximum cost is reserved against
 * every cap (refused with {@link SpendingLimitError} if any would be exceeded); the verified fee is
 * committed when the receipt arrives, and the reservation is released when no fee is owed. A stream
 * that is abandoned before its receipt keeps its reservation: the cap errs on the side of the user.
 *
 * @example
 * const limit = new SpendingLimit({ caps: [{ name: "session", cap: parseAmount("0.01") }, { name: "day", cap: parseAmount("0.1"), periodMs: 86_400_000 }] });
 * const paidFetch = createPaidFetch({ ..., spendingLimit: limit });
 * limit.status(); // [{ name: "session", cap, spent, reserved, remaining }, ...]
 */
export class SpendingLimit {
  private readonly state = new Map<string, CapState>();
  private readonly now: () => number;

  constructor(private readonly options: SpendingLimitOptions) {
    this.now = options.now ?? Date.now;
    const saved = this.load();
    for (const c of options.caps) {
      if (c.cap < 0n) throw new RangeError(`spending cap ${c.name} is negative`);
      const window = this.windowOf(c);
      const old = c.periodMs ? saved[c.name] : undefined;
      this.state.set(c.name, { window, spent: old && old.window === window ? BigInt(old.spent) : 0n, reserved: 0n });
    }
  }

  private windowOf(c: SpendingCap): number {
    return c.periodMs ? Math.floor(this.now() / c.periodMs) : 0;
  }

  private current(c: SpendingCap): CapState {
    const s = this.state.get(c.name)!;
    const window = this.windowOf(c);
    if (s.window !== window) {
      s.window = window;
      s.spent = 0n;
    }
    return s;
  }

  /** Hold `amount` against every cap, or throw {@link SpendingLimitError} and hold nothing. */
  reserve(amount: bigint): SpendingReservation {
    for (const c of this.options.caps) {
      const s = this.current(c);
      if (s.spent + s.reserved + amount > c.cap) throw new SpendingLimitError(c.name, c.cap, s.spent + s.reserved, amount);
    }
    for (const c of this.options.caps) this.current(c).reserved += amount;
    let open = true;
    const close = (fee: bigint): void => {
      if (!open) return;
      open = false;
      for (const c of this.options.caps) {
        const s = this.current(c);
        s.reserved -= amount;
        if (s.reserved < 0n) s.reserved = 0n;
        s.spent += fee;
      }
      if (fee > 0n) this.save();
    };
    return { amount, commit: (fee) => close(fee), release: () => close(0n) };
  }

  /** Each cap's figures in wei. */
  status(): { name: string; cap: bigint; spent: bigint; reserved: bigint; remaining: bigint; periodMs?: number }[] {
    return this.options.caps.map((c) => {
      const s = this.current(c);
      const used = s.spent + s.reserved;
      return {
        name: c.name,
        cap: c.cap,
        spent: s.spent,
        reserved: s.reserved,
        remaining: used >= c.cap ? 0n : c.cap - used,
        ...(c.periodMs ? { periodMs: c.periodMs } : {}),
      };
    });
  }

  private load(): Record<string, { window: number; spent: string }> {
    if (!this.options.path) return {};
    try {
      return JSON.parse(readFileSync(this.options.path, "utf8")) as Record<string, { window: number; spent: string }>;
    } catch {
      return {};
    }
  }

  private save(): void {
    if (!this.options.path) return;
    const out: Record<string, { window: number; spent: string }> = {};
    for (const c of this.options.caps)
      if (c.periodMs) out[c.name] = { window: this.current(c).window, spent: this.current(c).spent.toString() };
    mkdirSync(dirname(this.options.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.options.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(out), { mode: 0o600 });
    renameSync(tmp, this.options.path);
  }
}
