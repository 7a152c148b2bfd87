import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import { ZeroGError } from "./errors.js";
import { laneKey, NEW_LANE, type LaneId, type LaneState, type LaneStore } from "./lane-store.js";

/** A lane's state as stored: decimal strings, since IndexedDB keeps bigints only in some browsers. */
interface StoredLane {
  nextNonce: string;
  acked: string;
  sentCumulative: string;
}

interface LaneDb extends DBSchema {
  lanes: { key: string; value: StoredLane };
}

const STORE = "lanes";

function decode(stored: StoredLane | undefined, key: string): LaneState {
  if (stored === undefined) return NEW_LANE;
  const fields = [stored.nextNonce, stored.acked, stored.sentCumulative];
  if (!fields.every((f) => typeof f === "string" && /^\d{1,78}$/.test(f)))
    throw new ZeroGError("LANE_STATE_CORRUPT", `the lane state of ${key} in IndexedDB is not three decimal numbers`, {
      hint: "delete the lane store's database only if no signed ticket may still be unacknowledged",
    });
  return { nextNonce: BigInt(stored.nextNonce), acked: BigInt(stored.acked), sentCumulative: BigInt(stored.sentCumulative) };
}

function encode(state: LaneState): StoredLane {
  return { nextNonce: state.nextNonce.toString(), acked: state.acked.toString(), sentCumulative: state.sentCumulative.toString() };
}

/**
 * Lane state in the browser's IndexedDB: it survives reloads, and every tab of an origin shares it safely,
 * because each update is one read-write transaction (IndexedDB runs those one at a time per store, across
 * tabs), so two tabs paying with one key draw distinct nonces and sign one cumulative.
 *
 * @example
 * const store = await IndexedDbLaneStore.open(); // database "0g-compute-lanes"
 * const paidFetch = createPaidFetch({ client, store });
 */
export class IndexedDbLaneStore implements LaneStore {
  private constructor(private readonly db: IDBPDatabase<LaneDb>) {}

  /** Open (or create) the lane database of this origin. */
  static async open(name = "0g-compute-lanes"): Promise<IndexedDbLaneStore> {
    const db = await openDB<LaneDb>(name, 1, {
      upgrade(database) {
        database.createObjectStore(STORE);
      },
    });
    return new IndexedDbLaneStore(db);
  }

  async update(lane: LaneId, change: (current: LaneState) => LaneState): Promise<LaneState> {
    const key = laneKey(lane);
    const tx = this.db.transaction(STORE, "readwrite");
    // `change` is synchronous, so the transaction stays open between the read and the write.
    const next = change(decode(await tx.store.get(key), key));
    await tx.store.put(encode(next), key);
    await tx.done;
    return next;
  }

  async read(lane: LaneId): Promise<LaneState> {
    const key = laneKey(lane);
    return decode(await this.db.get(STORE, key), key);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
