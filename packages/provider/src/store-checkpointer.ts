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
  db.close();
  parentPort.close();
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

  constructor(
    private readonly db: Database.Database,
    path: string,
    intervalMs = 1000,
  ) {
    try {
      const driver = createRequire(import.meta.url).resolve("better-sqlite3");
      this.worker = new Worker(PROGRAM, { eval: true, workerData: { driver, path, intervalMs } });
      this.worker.on("message", () => this.fallBack());
      this.worker.on("error", () => this.fallBack());
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

  /** Stop the worker (its connection closes); the database's own close checkpoints what is left. */
  stop(): void {
    this.worker?.postMessage("stop");
    if (this.db.open) this.db.pragma("wal_autocheckpoint = 1000");
  }
}
