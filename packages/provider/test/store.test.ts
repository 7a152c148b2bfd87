import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProviderStore } from "../src/index.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "0g-store-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tx = (i: number) => `0x${i.toString(16).padStart(64, "0")}` as const;

describe("ProviderStore group commit", () => {
  it("commits writes queued in one turn together; a write that throws is rolled back and rejects alone", async () => {
    const path = join(dir, "group.db");
    const store = new ProviderStore(path);
    const results = await Promise.allSettled([
      store.group(() => store.recordSettlement(tx(1), "mined", 1, 10n, 100n)),
      store.group(() => {
        store.recordSettlement(tx(2), "mined", 1, 20n, 100n);
        throw new Error("refused");
      }),
      store.group(() => {
        store.recordSettlement(tx(3), "mined", 1, 30n, 100n);
        return "third";
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error("refused"));
    expect((results[2] as PromiseFulfilledResult<string>).value).toBe("third");
    store.close();
    // Durable: another connection sees exactly the committed writes.
    const reopened = new ProviderStore(path);
    expect(
      reopened
        .settlements()
        .map((s) => s.paid)
        .sort(),
    ).toEqual([10n, 30n]);
    reopened.close();
  });

  it("settles a write queued after a flush in the next group", async () => {
    const store = new ProviderStore(join(dir, "next.db"));
    await store.group(() => store.recordSettlement(tx(4), "mined", 1, 1n, 1n));
    await store.group(() => store.recordSettlement(tx(5), "mined", 1, 2n, 1n));
    expect(store.settlements()).toHaveLength(2);
    store.close();
  });
});
