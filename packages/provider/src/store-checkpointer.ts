// WAL checkpoints off the event loop. SQLite checkpoints a WAL database from the connection whose commit
// crosses the threshold, and a checkpoint writes the WAL's pages into the database file and syncs it:
// measured here, a 20-40 ms stall of the whole event loop every few hundred commits. The provider's
// connection turns automatic checkpoints off and a second connection, in a worker thread, runs a passive
// checkpoint every interval: a passive checkpoint never blocks the writer.
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

/** The worker's program (CommonJS, run with `eval`): its own connection, one passive checkpoint per interval. */
const PROGRAM = `
const { workerData, parentPort } = require("node:worker_threads");
// However this thread ends (even failing to open the database), the owner waiting in stop() is told.
process.on("exit", () => {
  Atomics.store(workerData.closed, 0, 1);
  Atomics.notify(workerData.closed, 0);
});
const Database = require(workerData.driver);
const db = new Database(workerData.path, { timeout: 5000 });
const timer = setInterval(() => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (error) {
    parentPort.postMessage(String(error && error.message ? error.message : error));
  }
}, workerData.intervalMs);
parentPort.on("message", () => {
  clearInterval(timer);
  try {
    db.close();
  } finally {
    // Tell the waiting owner that this connection is closed.
    Atomics.store(workerData.closed, 0, 1);
    Atomics.notify(workerData.closed, 0);
    parentPort.close();
  }
});
`;

/**
 * Checkpoints `db`'s WAL from a worker thread every `intervalMs`, with automatic checkpoints turned off on
 * `db` itself. If the worker cannot run (or fails), `db` checkpoints automatically again, as SQLite does
 * by default.
 *
 * @example
 * const checkpointer = new WalCheckpointer(db, path, 1000);
 * // ...
 * checkpointer.stop();
 */
export class WalCheckpointer {
  private readonly worker: Worker | undefined;
  /** Set to 1 by the worker once its connection is closed. */
  private readonly closed = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    private readonly db: Database.Database,
    path: string,
    intervalMs = 1000,
  ) {
    try {
      const driver = createRequire(import.meta.url).resolve("better-sqlite3");
      this.worker = new Worker(PROGRAM, { eval: true, workerData: { driver, path, intervalMs, closed: this.closed } });
      this.worker.on("message", () => this.fallBack());
      this.worker.on("error", () => this.fallBack());
      this.worker.on("exit", () => Atomics.store(this.closed, 0, 1));
      // After the listeners (adding one refs the worker again): an open store never keeps a process alive.
      this.worker.unref();
      db.pragma("wal_autocheckpoint = 0");
    } catch {
      this.fallBack();
    }
  }

  /** Whether checkpoints run in the worker (false: the connection checkpoints itself). */
  get inBackground(): boolean {
    return (this.db.pragma("wal_autocheckpoint", { simple: true }) as number) === 0;
  }

  private fallBack(): void {
    if (this.db.open) this.db.pragma("wal_autocheckpoint = 1000");
  }

  /**
   * Stop the worker and wait (at most `timeoutMs`) until its connection is closed, so that the owner's
   * `db.close()` is the last connection: SQLite then checkpoints what is left and removes the WAL and
   * shared-memory files before `close()` returns, and nothing writes next to the database afterwards.
   */
  stop(timeoutMs = 5000): void {
    if (this.worker !== undefined && Atomics.load(this.closed, 0) === 0 && this.worker.threadId !== -1) {
      this.worker.postMessage("stop");
      Atomics.wait(this.closed, 0, 0, timeoutMs);
    }
    if (this.db.open) this.db.pragma("wal_autocheckpoint = 1000");
  }
}
