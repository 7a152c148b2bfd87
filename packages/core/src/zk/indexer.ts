import { decodeFunctionData, parseEventLogs, type Address, type Hex, type PublicClient } from "viem";
import { zkEscrowAbi } from "@0g-compute/contracts";
import { ZkError } from "./field.js";
import { decodeZkSettlementData, zkQueueStep, type ZkQueueEntry } from "./batch.js";
import { ZkChannelTree } from "./tree.js";

/** A provider's ZK state rebuilt from the chain alone. */
export interface ZkChainState {
  tree: ZkChannelTree;
  /** Queue entries consumed by proofs so far. */
  consumed: number;
  /** Queue hash after the consumed entries (the next proof's starting point). */
  queueHash: bigint;
  /** Entries appended but not yet consumed, in order. */
  pending: ZkQueueEntry[];
  /** Block up to which the state is built. */
  toBlock: bigint;
}

/**
 * Rebuild a provider's channel tree from public chain data only: deposits from `ZkDeposited` events,
 * each proof's per-user updates from the `data` argument of its `settleZk` transaction (bound to the
 * proof, so the contract guarantees it matches the root), exits from `ZkWithdrawn` events. This is
 * what lets a user exit without the provider: the Merkle path to its leaf is always recomputable.
 * Every step is checked against the root the chain recorded.
 *
 * @example
 * const state = await syncZkState(publicClient, escrow, provider, 16);
 * const { leaf, siblings } = state.tree.proof(myLeafIndex);
 */
export async function syncZkState(
  client: PublicClient,
  escrow: Address,
  provider: Address,
  depth: number,
  options: { fromBlock?: bigint; toBlock?: bigint } = {},
): Promise<ZkChainState> {
  const toBlock = options.toBlock ?? (await client.getBlockNumber());
  const logs = await client.getLogs({ address: escrow, fromBlock: options.fromBlock ?? 0n, toBlock });
  const events = parseEventLogs({ abi: zkEscrowAbi, logs }).filter((e) => {
    const p = (e.args as { provider?: Address }).provider;
    return p !== undefined && p.toLowerCase() === provider.toLowerCase();
  });
  const tree = new ZkChannelTree(depth);
  const queue: ZkQueueEntry[] = [];
  let consumed = 0;
  let queueHash = 0n;
  for (const e of events) {
    if (e.eventName === "ZkDeposited") {
      const a = e.args;
      if (Number(a.position) !== queue.length) throw new ZkError("ZK_INDEX_GAP", `queue entry ${a.position} out of order`);
      queue.push({ leafIndex: a.leafIndex, keyHash: a.keyHash, amount: a.amount });
    } else if (e.eventName === "ZkSettled") {
      const a = e.args;
      for (let i = Number(a.fromPos); i < Number(a.toPos); i++) {
        const entry = queue[i];
        if (!entry) throw new ZkError("ZK_INDEX_GAP", `settlement consumed unknown queue entry ${i}`);
        const leaf = tree.get(entry.leafIndex);
        tree.set(entry.leafIndex, { keyHash: entry.keyHash, funded: leaf.funded + entry.amount, paid: leaf.paid });
        queueHash = zkQueueStep(queueHash, entry);
      }
      consumed = Number(a.toPos);
      const tx = await client.getTransaction({ hash: e.transactionHash });
      const call = decodeFunctionData({ abi: zkEscrowAbi, data: tx.input });
      if (call.functionName !== "settleZk")
        throw new ZkError("ZK_INDEX_CALL", "settlement was not a direct settleZk call; read its data from a trace");
      for (const u of decodeZkSettlementData(call.args[4] as Hex)) tree.set(u.leafIndex, { ...tree.get(u.leafIndex), paid: u.newPaid });
      if (tree.root !== call.args[1])
        throw new ZkError("ZK_INDEX_ROOT", `rebuilt root differs from the proven root at ${e.transactionHash}`);
    } else if (e.eventName === "ZkWithdrawn") {
      const a = e.args;
      tree.set(a.leafIndex, { ...tree.get(a.leafIndex), funded: a.funded, paid: a.paid });
      if (tree.root !== a.newRoot) throw new ZkError("ZK_INDEX_ROOT", `rebuilt root differs after an exit at ${e.transactionHash}`);
    }
  }
  return { tree, consumed, queueHash, pending: queue.slice(consumed), toBlock };
}
