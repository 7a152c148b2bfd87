// Versioned schema migrations: a database made by the unversioned schema (requests unique by ticket digest)
// is brought to the current version when the node opens it, keeping every row.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import Database from "better-sqlite3";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProviderStore } from "../src/index.js";
import { STORE_SCHEMA_VERSION } from "../src/store-migrations.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "0g-migrate-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const user = "0x00000000000000000000000000000000000000aa";
const owner = user;
const key = "0x00000000000000000000000000000000000000bb";
const digest = `0x${"d".repeat(64)}`;

/** The requests table as the provider created it before its schema was versioned. */
function unversionedDatabase(path: string): void {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE lanes (user TEXT NOT NULL, signer TEXT NOT NULL, highest_nonce TEXT NOT NULL DEFAULT '0', nonce_bitmap TEXT NOT NULL DEFAULT '0',
      acked TEXT NOT NULL DEFAULT '0', billed TEXT NOT NULL DEFAULT '0', settled TEXT NOT NULL DEFAULT '0', best_ticket TEXT,
      best_nonce TEXT NOT NULL DEFAULT '0', updated_at INTEGER NOT NULL, PRIMARY KEY (user, signer));
    CREATE TABLE requests (user TEXT NOT NULL, signer TEXT NOT NULL, nonce TEXT NOT NULL, digest TEXT NOT NULL UNIQUE, max_cost TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('reserved', 'billed', 'released')), fee TEXT NOT NULL DEFAULT '0', receipt TEXT,
      created_at INTEGER NOT NULL, PRIMARY KEY (user, signer, nonce));
    CREATE TABLE settlements (tx_hash TEXT PRIMARY KEY, status TEXT NOT NULL, items INTEGER NOT NULL, paid TEXT NOT NULL DEFAULT '0',
      gas_used TEXT NOT NULL DEFAULT '0', created_at INTEGER NOT NULL);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `);
  db.prepare("INSERT INTO lanes (user, signer, acked, billed, updated_at) VALUES (?, ?, '40', '50', 1)").run(user, owner);
  db.prepare(
    "INSERT INTO requests (user, signer, nonce, digest, max_cost, status, fee, created_at) VALUES (?, ?, '1', ?, '100', 'billed', '50', 1)",
  ).run(user, owner, digest);
  db.prepare("INSERT INTO meta (key, value) VALUES ('kept', 'yes')").run();
  db.close();
}

describe("provider store migrations", () => {
  it("a new database is created at the current version", () => {
    const store = new ProviderStore(join(dir, "new.db"));
    expect(store.db.pragma("user_version", { simple: true })).toBe(STORE_SCHEMA_VERSION);
    // Version 2: a receipt writes the primary key and the digest index only.
    const indexes = store.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'requests' AND sql IS NOT NULL")
      .pluck()
      .all();
    expect(indexes).toEqual(["requests_digest"]);
    store.close();
  });

  it("an unversioned database is migrated on open: rows kept, the same ticket now fits on two lanes", () => {
    const path = join(dir, "old.db");
    unversionedDatabase(path);
    const store = new ProviderStore(path);
    expect(store.db.pragma("user_version", { simple: true })).toBe(STORE_SCHEMA_VERSION);
    expect(store.lane(user, owner)).toMatchObject({ acked: 40n, billed: 50n });
    expect(store.getMeta("kept")).toBe("yes");
    expect(store.request(digest as `0x${string}`)).toMatchObject({ status: "billed", fee: 50n });
    // The unversioned table refused this row (digest UNIQUE): a session key signing the owner's ticket.
    store.db
      .prepare(
        "INSERT INTO requests (user, signer, nonce, digest, max_cost, status, created_at) VALUES (?, ?, '1', ?, '100', 'reserved', 2)",
      )
      .run(user, key, digest);
    expect(store.request(digest as `0x${string}`, key as `0x${string}`)).toMatchObject({ status: "reserved" });
    store.close();
    // Opening it again keeps the schema. Reservations live in memory now: a reservation row (written by an
    // earlier release, whose process ended) is released on open.
    const again = new ProviderStore(path);
    expect(again.db.pragma("user_version", { simple: true })).toBe(STORE_SCHEMA_VERSION);
    expect(again.releasedAtOpen).toBe(1);
    expect(again.request(digest as `0x${string}`, key as `0x${string}`)).toMatchObject({ status: "released" });
    expect(again.lane(user, owner)).toMatchObject({ acked: 40n, billed: 50n });
    again.close();
  });

  it("a database from a newer release is refused, not rewritten", () => {
    const path = join(dir, "newer.db");
    const db = new Database(path);
    db.pragma(`user_version = ${STORE_SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => new ProviderStore(path)).toThrow(/newer than this release/);
  });
});
