import { describe, expect, it } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpendingLimit, SpendingLimitError } from "../src/index.js";

const DAY = 86_400_000;

describe("SpendingLimit", () => {
  it("reserves the maximum cost, commits the real fee and releases failed requests", () => {
    const limit = new SpendingLimit({ caps: [{ name: "session", cap: 100n }] });
    const a = limit.reserve(60n);
    expect(() => limit.reserve(50n)).toThrow(SpendingLimitError);
    a.commit(20n);
    a.commit(99n); // a second close is ignored
    const b = limit.reserve(80n);
    b.release();
    expect(limit.status()[0]).toMatchObject({ spent: 20n, reserved: 0n, remaining: 80n });
  });

  it("refuses with a typed error naming the cap that would be exceeded, and holds nothing", () => {
    const limit = new SpendingLimit({
      caps: [
        { name: "session", cap: 1000n },
        { name: "day", cap: 50n, periodMs: DAY },
      ],
    });
    let err: unknown;
    try {
      limit.reserve(51n);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SpendingLimitError);
    expect(err).toMatchObject({ code: "SPENDING_LIMIT", limit: "day", cap: 50n, requested: 51n });
    expect(limit.status().map((s) => s.reserved)).toEqual([0n, 0n]);
  });

  it("resets a windowed cap when its window ends and keeps it across restarts through its file", () => {
    const dir = mkdtempSync(join(tmpdir(), "0g-limit-"));
    try {
      let now = 10 * DAY + 5;
      const path = join(dir, "spending.json");
      const caps = [
        { name: "session", cap: 1000n },
        { name: "day", cap: 100n, periodMs: DAY },
      ];
      const first = new SpendingLimit({ caps, path, now: () => now });
      first.reserve(70n).commit(70n);
      const second = new SpendingLimit({ caps, path, now: () => now });
      expect(second.status()).toMatchObject([
        { name: "session", spent: 0n },
        { name: "day", spent: 70n, remaining: 30n },
      ]);
      expect(() => second.reserve(31n)).toThrow(SpendingLimitError);
      now += DAY;
      expect(second.status()[1]).toMatchObject({ spent: 0n, remaining: 100n });
      second.reserve(100n).commit(1n);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
