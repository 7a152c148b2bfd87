/**
 * A cross-process lock for the ZK build cache: a folder (creating one is atomic) holding the owner's PID.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Whether the process that wrote `lockDir/owner` still runs (a lock without an owner counts as live). */
function lockOwnerAlive(lockDir: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(lockDir, "owner"), "utf8"));
  } catch {
    // Just created, its owner not written yet; or gone already: wait and look again.
    return true;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Run `work` holding `lockDir` (a folder: creating it is atomic), or wait for the holder and return
 * `waitForOther()` once `ready()`. A lock whose owner process is gone is taken over, as is one older than
 * an hour (an owner that hangs).
 *
 * @example
 * const file = await withBuildLock(`${file}.lock`, () => existsSync(file), () => build(file), () => file);
 */
export async function withBuildLock<T>(lockDir: string, ready: () => boolean, work: () => Promise<T>, waitForOther: () => T): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, "owner"), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (ready()) return waitForOther();
      try {
        if (!lockOwnerAlive(lockDir) || Date.now() - statSync(lockDir).mtimeMs > 60 * 60_000) {
          rmSync(lockDir, { recursive: true, force: true });
          continue;
        }
      } catch {
        // gone already
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}
