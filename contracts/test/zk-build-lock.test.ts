// The ZK build cache's lock: one process builds, others wait for its result, and a lock left by a process
// that is gone is taken over instead of blocking every later build.
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withBuildLock } from "../zk/build-lock.js";

describe("ZK build lock", () => {
  let dir: string;
  let lock: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "0g-build-lock-"));
    lock = join(dir, "thing.lock");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("runs the work holding the lock, names its owner, and releases it", async () => {
    const out = await withBuildLock(
      lock,
      () => false,
      async () => {
        expect(existsSync(join(lock, "owner"))).toBe(true);
        return "built";
      },
      () => "other",
    );
    expect(out).toBe("built");
    expect(existsSync(lock)).toBe(false);
  });

  it("waits for a live owner and returns what it built", async () => {
    mkdirSync(lock);
    writeFileSync(join(lock, "owner"), String(process.pid));
    const result = join(dir, "result");
    setTimeout(() => writeFileSync(result, "x"), 300);
    const out = await withBuildLock(
      lock,
      () => existsSync(result),
      async () => "built",
      () => "theirs",
    );
    expect(out).toBe("theirs");
  });

  it("takes over a lock whose owner process is gone", async () => {
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    mkdirSync(lock);
    writeFileSync(join(lock, "owner"), gone.stdout);
    const out = await withBuildLock(
      lock,
      () => false,
      async () => "built",
      () => "theirs",
    );
    expect(out).toBe("built");
  }, 10_000);
});
