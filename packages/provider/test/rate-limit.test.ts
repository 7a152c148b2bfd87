// The bounds on work the node does for free: token buckets per key, and one event per key per interval,
// both with bounded memory.
import { describe, expect, it } from "@jest/globals";
import { OncePerInterval, RateLimiter } from "../src/rate-limit.js";

describe("OncePerInterval", () => {
  it("allows one event per key per interval", () => {
    let now = 0;
    const once = new OncePerInterval(1000, 10, () => now);
    expect(once.allowed("a")).toBe(true);
    expect(once.allowed("a")).toBe(false);
    expect(once.allowed("b")).toBe(true);
    now = 999;
    expect(once.allowed("a")).toBe(false);
    now = 1000;
    expect(once.allowed("a")).toBe(true);
    expect(once.allowed("a")).toBe(false);
  });

  it("forgets keys whose interval passed once it remembers more than its bound", () => {
    let now = 0;
    const once = new OncePerInterval(1000, 100, () => now);
    for (let i = 0; i < 101; i++) expect(once.allowed(`user${i}`)).toBe(true);
    expect(once.size).toBe(101); // all still within their interval: nothing may be forgotten yet
    now = 1000;
    expect(once.allowed("late")).toBe(true);
    expect(once.size).toBe(1); // the 101 expired keys are gone
    // Below the bound nothing is swept.
    now = 5000;
    for (let i = 0; i < 50; i++) once.allowed(`again${i}`);
    expect(once.size).toBe(51);
  });
});

describe("RateLimiter", () => {
  it("refuses once a key spent its burst, and a rate of 0 turns it off", () => {
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 2 });
    expect(limiter.allowed("k")).toBe(true);
    expect(limiter.take("k")).toBe(true);
    expect(limiter.take("k")).toBe(true);
    expect(limiter.allowed("k")).toBe(false);
    expect(limiter.allowed("other")).toBe(true);
    const off = new RateLimiter({ ratePerSecond: 0, burst: 0 });
    for (let i = 0; i < 10; i++) expect(off.take("k")).toBe(true);
  });
});
