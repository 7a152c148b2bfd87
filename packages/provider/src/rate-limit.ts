/** A token bucket's shape: `ratePerSecond` tokens refill each second, up to `burst`. */
export interface RateLimit {
  ratePerSecond: number;
  burst: number;
}

/**
 * Token buckets keyed by a string (a client address, a signing key), with bounded memory: at most
 * `maxKeys` buckets, the least recently used dropped first (a dropped key starts again with a full
 * bucket, so evicting never refuses anyone). A rate of 0 turns the limiter off.
 *
 * @example
 * const perAddress = new RateLimiter({ ratePerSecond: 20, burst: 40 });
 * if (!perAddress.allowed(ip)) return tooMany();
 * // ... work that turned out to be refused:
 * perAddress.take(ip);
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly maxKeys = 100_000,
  ) {}

  get enabled(): boolean {
    return this.limit.ratePerSecond > 0;
  }

  /** Whether `key` has a token left (nothing is taken). */
  allowed(key: string, now = Date.now()): boolean {
    return !this.enabled || this.refill(key, now).tokens >= 1;
  }

  /** Take one token; returns false (and takes nothing) when the bucket is empty. */
  take(key: string, now = Date.now()): boolean {
    if (!this.enabled) return true;
    const b = this.refill(key, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private refill(key: string, now: number): { tokens: number; at: number } {
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // re-inserted below: the map's order is the recency order
      b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.ratePerSecond);
      b.at = now;
    } else {
      b = { tokens: this.limit.burst, at: now };
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    }
    this.buckets.set(key, b);
    return b;
  }
}

/**
 * At most one event per key per `intervalMs` (e.g. a fresh chain read per user per second), with bounded
 * memory: once more than `maxKeys` keys are remembered, every key whose interval has passed is forgotten.
 *
 * @example
 * const freshReads = new OncePerInterval(1000);
 * if (freshReads.allowed(user)) chain.invalidate(user);
 */
export class OncePerInterval {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `key` may have its event now (and, if so, the interval starts again for it). */
  allowed(key: string): boolean {
    const t = this.now();
    const previous = this.last.get(key);
    if (previous !== undefined && t - previous < this.intervalMs) return false;
    this.last.set(key, t);
    if (this.last.size > this.maxKeys) for (const [k, at] of this.last) if (t - at >= this.intervalMs) this.last.delete(k);
    return true;
  }

  /** Keys remembered. */
  get size(): number {
    return this.last.size;
  }
}
