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
