import type { Address } from "viem";

/** A lane: one monotonic debt counter per (chain, escrow, user, provider, signing key). */
export interface LaneId {
  chainId: number;
  escrow: Address;
  user: Address;
  provider: Address;
  signer: Address;
}

/** What a client remembers per lane, across restarts. */
export interface LaneState {
  /** Next nonce to use (starts at 1; strictly increasing, never reused). */
  nextNonce: bigint;
  /** Sum of the fees of every receipt this client verified on the lane: the cumulative it signs. */
  acked: bigint;
  /** Highest cumulative already sent to the provider in a ticket (so ack-only tickets are sent only when needed). */
  sentCumulative: bigint;
}

/**
 * Durable per-lane client state. `update` must be atomic and durable before it resolves: a nonce is
 * persisted before its ticket leaves the process, so a restart never reuses one.
 */
export interface LaneStore {
  /** Read-modify-write one lane atomically; returns the new state. */
  update(lane: LaneId, change: (current: LaneState) => LaneState): Promise<LaneState>;
  read(lane: LaneId): Promise<LaneState>;
  close(): Promise<void>;
}

/** The state of a lane never used before. */
export const NEW_LANE: LaneState = { nextNonce: 1n, acked: 0n, sentCumulative: 0n };

/** Stable string key of a lane. */
export function laneKey(lane: LaneId): string {
  return [lane.chainId, lane.escrow, lane.user, lane.provider, lane.signer].map((x) => String(x).toLowerCase()).join(":");
}

/** A store that forgets everything on exit: for tests and one-shot tools that hold a session key per run. */
export class MemoryLaneStore implements LaneStore {
  private readonly lanes = new Map<string, LaneState>();

  async update(lane: LaneId, change: (current: LaneState) => LaneState): Promise<LaneState> {
    const key = laneKey(lane);
    const next = change(this.lanes.get(key) ?? NEW_LANE);
    this.lanes.set(key, next);
    return next;
  }

  async read(lane: LaneId): Promise<LaneState> {
    return this.lanes.get(laneKey(lane)) ?? NEW_LANE;
  }

  async close(): Promise<void> {
    this.lanes.clear();
  }
}

/**
 * The default lane state of a process: one in-memory store that every paid fetch, `ChatZeroG` and MCP buyer
 * of the process shares unless given another, so several clients on one key take distinct nonces and sign
 * one cumulative. It is never closed. State that must outlive the process, or be shared with other
 * processes on the same key, belongs in a {@link FileLaneStore}.
 */
export const processLaneStore: LaneStore = new (class ProcessLaneStore extends MemoryLaneStore {
  override async close(): Promise<void> {
    // Shared by the whole process: closing one client must not wipe the lanes of the others.
  }
})();
