import { constants } from "node:fs";
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import lockfile from "proper-lockfile";
import { ZeroGError } from "./errors.js";
import { laneKey, NEW_LANE, type LaneId, type LaneState, type LaneStore } from "./lane-store.js";

/** The lane state's lock could not be taken in time: another process holds it far longer than an update takes. */
export class LaneLockedError extends ZeroGError {
  constructor(dir: string, cause: unknown) {
    super("LANE_LOCKED", `the lane state in ${dir} stayed locked by another process`, {
      hint: "a process holding it may hang; a lock left by a dead process is taken over after 10 s",
      cause,
    });
  }
}

type Stored = Record<string, { nextNonce: string; acked: string; sentCumulative: string }>;

/** A lock older than this (not refreshed by a live holder) is stale: its holder died mid-update. */
const STALE_LOCK_MS = 10_000;

/**
 * Durable lane state for clients, shared safely by every process of one user: one small JSON document in
 * `dir`, changed only under a lock directory (`lanes.lock`, taken per update, refreshed while held, taken
 * over when its holder died) and rewritten atomically (temp file, fsync, rename, fsync of the directory).
 * Each update reads the document afresh under the lock, so the CLI, the gateway, the MCP server and
 * LangChain agents on one key and one home draw distinct nonces and add their verified fees to one
 * cumulative; and a nonce is on disk before its ticket leaves. Pure JavaScript, so the SDK stays free of
 * native addons; the provider, which needs queries and transactions over many channels, uses SQLite.
 *
 * @example
 * const store = await FileLaneStore.open(join(homedir(), ".0g-compute", "lanes", "devnet"));
 * const paidFetch = createPaidFetch({ ..., store });
 * // on exit: await paidFetch.close(); await store.close();
 */
export class FileLaneStore implements LaneStore {
  private readonly file: string;
  private readonly lockPath: string;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(readonly dir: string) {
    this.file = join(dir, "lanes.json");
    this.lockPath = join(dir, "lanes.lock");
  }

  /** Open (creating if needed) the store in `dir`; throws `LANE_STATE_CORRUPT` if its document is unreadable. */
  static async open(dir: string): Promise<FileLaneStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new FileLaneStore(dir);
    await store.load();
    return store;
  }

  update(lane: LaneId, change: (current: LaneState) => LaneState): Promise<LaneState> {
    const run = this.queue.then(async () => {
      if (this.closed) throw new ZeroGError("LANE_STORE_CLOSED", "the lane store is closed");
      const release = await this.lock();
      try {
        const lanes = await this.load();
        const key = laneKey(lane);
        const next = change(lanes.get(key) ?? NEW_LANE);
        lanes.set(key, next);
        await this.persist(lanes);
        return next;
      } finally {
        await release().catch(() => undefined);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async read(lane: LaneId): Promise<LaneState> {
    await this.queue;
    return (await this.load()).get(laneKey(lane)) ?? NEW_LANE;
  }

  /** Wait for pending writes; later updates are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
  }

  private async lock(): Promise<() => Promise<void>> {
    try {
      return await lockfile.lock(this.dir, {
        lockfilePath: this.lockPath,
        realpath: false,
        stale: STALE_LOCK_MS,
        // An update holds the lock for milliseconds; wait up to ~30 s for a busy or stale one.
        retries: { retries: 300, factor: 1.2, minTimeout: 2, maxTimeout: 200 },
        // A holder that could not refresh its lock in time (its process stalled for 10 s) finishes its update
        // anyway: the document is replaced atomically, so the worst case is a nonce drawn twice, which the
        // provider refuses (`nonce_used`) and the client resyncs past.
        onCompromised: () => undefined,
      });
    } catch (err) {
      throw new LaneLockedError(this.dir, err);
    }
  }

  private async load(): Promise<Map<string, LaneState>> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Map();
      throw err;
    }
    try {
      const stored = JSON.parse(text) as Stored;
      return new Map(
        Object.entries(stored).map(([k, v]) => [
          k,
          { nextNonce: BigInt(v.nextNonce), acked: BigInt(v.acked), sentCumulative: BigInt(v.sentCumulative) },
        ]),
      );
    } catch (err) {
      throw new ZeroGError("LANE_STATE_CORRUPT", `cannot read ${this.file}: ${(err as Error).message}`, {
        hint: "restore it, or remove it and let the provider resync the lanes",
      });
    }
  }

  private async persist(lanes: Map<string, LaneState>): Promise<void> {
    const doc: Stored = {};
    for (const [k, v] of lanes)
      doc[k] = { nextNonce: v.nextNonce.toString(), acked: v.acked.toString(), sentCumulative: v.sentCumulative.toString() };
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
