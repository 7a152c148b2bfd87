import type Database from "better-sqlite3";

/**
 * The provider database's schema, versioned: `PRAGMA user_version` holds the version a database is at, and
 * opening it applies every later migration, in order, each in its own transaction. A database made before
 * versioning (version 0, with tables in it) is brought to version 1 like a new one, and migration 1 repairs
 * what the unversioned schema got wrong. Add a migration at the end; never edit one that has shipped.
 */
interface StoreMigration {
  version: number;
  description: string;
  up(db: Database.Database): void;
}

const STORE_MIGRATIONS: readonly StoreMigration[] = [
  {
    version: 1,
    description: "lanes, requests keyed by lane and nonce, settlements, meta and ZK vouchers",
    up(db) {
      // Before versioning, requests were unique by ticket digest, which does not name the signing key: the
      // owner and a session key signing the same ticket on their two lanes could not both be served.
      if (/digest\s+TEXT\s+NOT\s+NULL\s+UNIQUE/i.test(tableSql(db, "requests") ?? "")) {
        db.exec("ALTER TABLE requests RENAME TO requests_unversioned");
      }
      db.exec(`
        CREATE TABLE IF NOT EXISTS lanes (
          user TEXT NOT NULL,
          signer TEXT NOT NULL,
          highest_nonce TEXT NOT NULL DEFAULT '0',
          nonce_bitmap TEXT NOT NULL DEFAULT '0',
          acked TEXT NOT NULL DEFAULT '0',
          billed TEXT NOT NULL DEFAULT '0',
          settled TEXT NOT NULL DEFAULT '0',
          best_ticket TEXT,
          best_nonce TEXT NOT NULL DEFAULT '0',
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (user, signer)
        );
        CREATE TABLE IF NOT EXISTS requests (
          user TEXT NOT NULL,
          signer TEXT NOT NULL,
          nonce TEXT NOT NULL,
          digest TEXT NOT NULL,
          max_cost TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('reserved', 'billed', 'released')),
          fee TEXT NOT NULL DEFAULT '0',
          receipt TEXT,
          created_at INTEGER NOT NULL,
          PRIMARY KEY (user, signer, nonce)
        );
        CREATE INDEX IF NOT EXISTS requests_reserved ON requests (user, status);
        -- A lane's receipts newest first (the age of unacknowledged fees).
        CREATE INDEX IF NOT EXISTS requests_lane ON requests (user, signer, status);
        -- A ticket digest does not name its signing key: the owner and a session key may sign the same
        -- ticket on their two lanes. Requests are keyed by lane and nonce; the digest is only looked up.
        CREATE INDEX IF NOT EXISTS requests_digest ON requests (digest);
        CREATE TABLE IF NOT EXISTS settlements (
          tx_hash TEXT PRIMARY KEY,
          status TEXT NOT NULL,
          items INTEGER NOT NULL,
          paid TEXT NOT NULL DEFAULT '0',
          gas_used TEXT NOT NULL DEFAULT '0',
          created_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS zk_vouchers (
          leaf_index INTEGER PRIMARY KEY,
          cumulative TEXT NOT NULL,
          voucher TEXT NOT NULL,
          updated_at INTEGER NOT NULL
        );
      `);
      if (tableSql(db, "requests_unversioned") !== undefined) {
        db.exec(
          "INSERT INTO requests SELECT user, signer, nonce, digest, max_cost, status, fee, receipt, created_at FROM requests_unversioned",
        );
        db.exec("DROP TABLE requests_unversioned");
      }
    },
  },
  {
    version: 2,
    description: "receipts only in requests: drop the indexes that served reservations and duplicated the primary key",
    up(db) {
      // Reservations now live in memory, so nothing looks requests up by status; the primary key
      // (user, signer, nonce) already serves a lane's receipts. Two fewer B-trees to write per receipt.
      db.exec("DROP INDEX IF EXISTS requests_reserved; DROP INDEX IF EXISTS requests_lane;");
    },
  },
];

/** The version a database created now is at. */
export const STORE_SCHEMA_VERSION = STORE_MIGRATIONS.at(-1)!.version;

/** Bring `db` to {@link STORE_SCHEMA_VERSION}; refuses a database from a newer release (its schema is unknown here). */
export function migrateStore(db: Database.Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > STORE_SCHEMA_VERSION) {
    throw new Error(
      `the database is at schema version ${current}, newer than this release's ${STORE_SCHEMA_VERSION}: upgrade the provider`,
    );
  }
  for (const migration of STORE_MIGRATIONS) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      migration.up(db);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
}

function tableSql(db: Database.Database, name: string): string | undefined {
  return (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) as { sql: string } | undefined)?.sql;
}
