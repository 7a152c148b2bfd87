import { constants } from "node:fs";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ZeroGError } from "./errors.js";
import { laneKey, NEW_LANE, type LaneId, type LaneState, type LaneStore } from "./lane-store.js";

/** Another live process holds this state directory: two writers on one lane would sign conflicting tickets. */
export class LaneLockedError extends ZeroGError {
  constructor(dir: string, pid: number) {
    super("LANE_LOCKED", `lane state in ${dir} is in use by process ${pid}`, {
      hint: "give each process its own state directory and its own session key (one writer per lane)",
    });
  }
}

type Stored = Record<string, { nextNonce: string; acked: string; sentCumulative: string }>;

/**
 * Durable lane state for clients: one small JSON document, rewritten atomically (temp file, fsync,
 * rename, fsync of the directory) on every change, so a nonce is on disk before its ticket leaves.
 * A lock file with the owner's PID keeps a second process off the same state (a stale lock left by a
 * dead process is taken over). Pure JavaScript, so the SDK stays free of native addons and bundleable;
 * the provider, which needs queries and transactions over many channels, uses SQLite instead.
 *
 * @example
 * const store = await FileLaneStore.open(join(homedir(), ".0g-compute", "state"));
 * const paidFetch = createPaidFetch({ ..., store });
 * // on exit: await paidFetch.close(); await store.close();
 */
export class FileLaneStore implements LaneStore {
  private readonly file: string;
  private readonly lockFile: string;
  private lanes: Map<string, LaneState>;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(readonly dir: string, lanes: Map<string, LaneState>) {
    this.file = join(dir, "lanes.json");
    this.lockFile = join(dir, "lanes.lock");
    this.lanes = lanes;
  }

  /** Open (creating if needed) the store in `dir` and take its lock. Throws {@link LaneLockedError}. */
  static async open(dir: string): Promise<FileLaneStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await acquireLock(join(dir, "lanes.lock"), dir);
    let lanes = new Map<string, LaneState>();
    try {
      const stored = JSON.parse(await readFile(join(dir, "lanes.json"), "utf8")) as Stored;
      lanes = new Map(Object.entries(stored).map(([k, v]) => [k, { nextNonce: BigInt(v.nextNonce), acked: BigInt(v.acked), sentCumulative: BigInt(v.sentCumulative) }]));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        await unlink(join(dir, "lanes.lock")).catch(() => undefined);
        throw new ZeroGError("LANE_STATE_CORRUPT", `cannot read ${join(dir, "lanes.json")}: ${(err as Error).message}`, { hint: "restore it, or remove it and let the provider resync the lanes" });
      }
    }
    return new FileLaneStore(dir, lanes);
  }

  update(lane: LaneId, change: (current: LaneState) => LaneState): Promise<LaneState> {
    const run = this.queue.then(async () => {
      if (this.closed) throw new ZeroGError("LANE_STORE_CLOSED", "the lane store is closed");
      const key = laneKey(lane);
      const next = change(this.lanes.get(key) ?? NEW_LANE);
      const copy = new Map(this.lanes);
      copy.set(key, next);
      await this.persist(copy);
      this.lanes = copy;
      return next;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async read(lane: LaneId): Promise<LaneState> {
    await this.queue;
    return this.lanes.get(laneKey(lane)) ?? NEW_LANE;
  }

  /** Wait for pending writes, then release the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    try {
      const holder = Number((await readFile(this.lockFile, "utf8")).trim());
      if (holder === process.pid) await unlink(this.lockFile);
    } catch {
      // already gone
    }
  }

  private async persist(lanes: Map<string, LaneState>): Promise<void> {
    const doc: Stored = {};
    for (const [k, v] of lanes) doc[k] = { nextNonce: v.nextNonce.toString(), acked: v.acked.toString(), sentCumulative: v.sentCumulative.toString() };
    const tmp = `${this.file}.${process.pid}.tmp`;
    const handle = await open(tmp, "w", 0o600);
    try {
      await handle.writeFile(JSON.stringify(doc));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.file);
    const dirHandle = await open(this.dir, constants.O_RDONLY);
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function acquireLock(lockFile: string, dir: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(lockFile, "wx", 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number((await readFile(lockFile, "utf8").catch(() => "")).trim());
      if (holder === process.pid) return;
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) throw new LaneLockedError(dir, holder);
      await unlink(lockFile).catch(() => undefined); // stale: its process is gone
    }
  }
  throw new ZeroGError("LANE_LOCK_FAILED", `could not take the lock ${lockFile}`);
}
