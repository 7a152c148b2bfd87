import { concat, encodeAbiParameters, keccak256, toHex, type Address, type Hex } from "viem";
import { commitValues, hash2, hash3, SNARK_FIELD, ZK_MAX_AMOUNT, ZkError } from "./field.js";
import type { ZkChannelTree } from "./tree.js";
import { verifyZkVoucher, type ZkVoucher } from "./voucher.js";

/** The shape of one deployed ZK settlement circuit and the batch it settles. */
export interface ZkCircuitShape {
  /** Voucher slots per proof (K). */
  batchSize: number;
  /** Queue entries consumed per proof at most (Q). */
  queueSlots: number;
  /** Channel tree depth (D). */
  depth: number;
}

/** Where a batch settles: chain, escrow and provider (all three are bound into every voucher). */
export interface ZkSettlementScope {
  chainId: number;
  escrow: Address;
  provider: Address;
}

/** One on-chain queue entry (a deposit into a ZK channel), as the escrow emitted it. */
export interface ZkQueueEntry {
  leafIndex: number;
  keyHash: bigint;
  amount: bigint;
}

/** Queue hash chain step: Poseidon(prev, keyHash, leafIndex + amount * 2^32), exactly as the escrow computes it. */
export function zkQueueStep(prev: bigint, entry: ZkQueueEntry): bigint {
  return hash3(prev, entry.keyHash, BigInt(entry.leafIndex) + entry.amount * 2n ** 32n);
}

/** Why the batch builder left a voucher out (a proof is all-or-nothing, so bad items never enter it). */
export type ZkSkipReason = "bad-signature" | "wrong-key" | "nothing-new" | "no-funds" | "duplicate" | "batch-full" | "unknown-leaf";

/** The arguments of the escrow's `settleZk` besides the proof. */
export interface ZkSettleCall {
  newRoot: bigint;
  amount: bigint;
  commitment: bigint;
  /** 16 bytes per applied voucher: leafIndex (low 32 bits) | newPaid (high 96 bits), big-endian. */
  data: Hex;
}

/** A batch ready to prove. */
export interface ZkBatch {
  /** Circuit input signals (decimal strings), for snarkjs. */
  input: Record<string, string | string[] | string[][]>;
  call: ZkSettleCall;
  /** The single public input the escrow will recompute. */
  publicInput: bigint;
  /** The tree after the batch. */
  tree: ZkChannelTree;
  nQueue: number;
  newQueueHash: bigint;
  applied: { leafIndex: number; newPaid: bigint; delta: bigint }[];
  skipped: { leafIndex: number; reason: ZkSkipReason }[];
}

const TWO_128 = 2n ** 128n;
const LOW_125 = 2n ** 125n - 1n;

/**
 * The public input the escrow computes for a settlement: a challenge r = low 128 bits of keccak256 over
 * everything it checks, and the low 125 bits of P(r) = sum w_j r^j over w = (commitment, oldRoot, newRoot,
 * oldQueueHash, newQueueHash, nQueue, chainId, escrow, provider, amount, data words...), packed as
 * r | (P(r) mod 2^125) << 128.
 */
export function zkPublicInput(args: {
  commitment: bigint;
  oldRoot: bigint;
  newRoot: bigint;
  oldQueueHash: bigint;
  newQueueHash: bigint;
  nQueue: number;
  scope: ZkSettlementScope;
  amount: bigint;
  data: Hex;
}): bigint {
  const header = [
    args.commitment,
    args.oldRoot,
    args.newRoot,
    args.oldQueueHash,
    args.newQueueHash,
    BigInt(args.nQueue),
    BigInt(args.scope.chainId),
    BigInt(args.scope.escrow),
    BigInt(args.scope.provider),
    args.amount,
  ];
  const encoded = encodeAbiParameters(
    header.map(() => ({ type: "uint256" })),
    header,
  );
  const r = BigInt(keccak256(concat([encoded, args.data]))) % TWO_128;
  const words = dataWords(args.data);
  const coefficients = [...header, ...words];
  let acc = 0n;
  for (let j = coefficients.length - 1; j >= 0; j--) acc = (acc * r + coefficients[j]!) % SNARK_FIELD;
  return r + (acc & LOW_125) * TWO_128;
}

function dataWords(data: Hex): bigint[] {
  const hex = data.slice(2);
  if (hex.length % 32 !== 0) throw new ZkError("ZK_BAD_DATA", "settlement data is a whole number of 16-byte words");
  const out: bigint[] = [];
  for (let i = 0; i < hex.length; i += 32) out.push(BigInt(`0x${hex.slice(i, i + 32)}`));
  return out;
}

/** Decode a settlement's data words into (leafIndex, newPaid) updates; zero words are empty slots. */
export function decodeZkSettlementData(data: Hex): { leafIndex: number; newPaid: bigint }[] {
  return dataWords(data)
    .filter((w) => w !== 0n)
    .map((w) => ({ leafIndex: Number(w & 0xffffffffn), newPaid: w >> 32n }));
}

/**
 * Build the next proof's batch: consume up to `queueSlots` pending queue entries, then apply up to
 * `batchSize` vouchers (the newest per channel). Vouchers that would make the proof fail (bad signature,
 * key not the channel's, nothing new to pay, empty channel, duplicates, overflow) are left out and
 * reported in `skipped`, so one bad item never blocks the others.
 *
 * @example
 * const batch = buildZkBatch({ shape, scope, tree, oldQueueHash, pendingQueue, vouchers });
 * const { proof } = await snarkjs.groth16.fullProve(batch.input, wasm, zkey);
 * await escrow.write.settleZk([provider, batch.call.newRoot, batch.call.amount, batch.call.commitment, batch.call.data, toSolidityProof(proof)]);
 */
export function buildZkBatch(args: {
  shape: ZkCircuitShape;
  scope: ZkSettlementScope;
  tree: ZkChannelTree;
  oldQueueHash: bigint;
  pendingQueue: readonly ZkQueueEntry[];
  vouchers: readonly ZkVoucher[];
  /** Tests only: skip the pre-checks, to show the circuit itself rejects what they would catch. */
  unchecked?: boolean;
}): ZkBatch {
  const { shape, scope } = args;
  const D = shape.depth;
  if (args.tree.depth !== D) throw new ZkError("ZK_BAD_DEPTH", `tree depth ${args.tree.depth} differs from the circuit's ${D}`);
  const tree = args.tree.clone();
  const oldRoot = tree.root;
  const zeroPath = (): string[] => Array.from({ length: D }, () => "0");

  // 1. Queue entries, in order. With none to consume, the escrow uses 0 for both queue hashes.
  const nQueue = Math.min(args.pendingQueue.length, shape.queueSlots);
  const oldQueueHash = nQueue === 0 ? 0n : args.oldQueueHash;
  let q = oldQueueHash;
  const qLeafIndex: string[] = [];
  const qKeyHash: string[] = [];
  const qAmount: string[] = [];
  const qOldKeyHash: string[] = [];
  const qOldPacked: string[] = [];
  const qSiblings: string[][] = [];
  for (let j = 0; j < shape.queueSlots; j++) {
    const e = j < nQueue ? args.pendingQueue[j]! : undefined;
    if (!e) {
      qLeafIndex.push("0");
      qKeyHash.push("0");
      qAmount.push("0");
      qOldKeyHash.push("0");
      qOldPacked.push("0");
      qSiblings.push(zeroPath());
      continue;
    }
    const { leaf, siblings } = tree.proof(e.leafIndex);
    if (args.unchecked !== true && leaf.keyHash !== 0n && leaf.keyHash !== e.keyHash)
      throw new ZkError("ZK_QUEUE_MISMATCH", `queue entry key differs from leaf ${e.leafIndex}'s`);
    qLeafIndex.push(String(e.leafIndex));
    qKeyHash.push(e.keyHash.toString());
    qAmount.push(e.amount.toString());
    qOldKeyHash.push(leaf.keyHash.toString());
    qOldPacked.push((leaf.funded + leaf.paid * 2n ** 96n).toString());
    qSiblings.push(siblings.map(String));
    tree.set(e.leafIndex, { keyHash: e.keyHash, funded: leaf.funded + e.amount, paid: leaf.paid });
    q = zkQueueStep(q, e);
  }

  // 2. Vouchers: the highest cumulative per leaf, checked, at most batchSize.
  const best = new Map<number, ZkVoucher>();
  const skipped: ZkBatch["skipped"] = [];
  for (const v of args.vouchers) {
    const prev = best.get(v.leafIndex);
    if (prev) skipped.push({ leafIndex: v.leafIndex, reason: "duplicate" });
    if (!prev || v.cumulative > prev.cumulative) best.set(v.leafIndex, v);
  }
  const applied: ZkBatch["applied"] = [];
  const v = {
    vActive: [] as string[],
    vLeafIndex: [] as string[],
    vSiblings: [] as string[][],
    vFunded: [] as string[],
    vOldPaid: [] as string[],
    vCumulative: [] as string[],
    vAx: [] as string[],
    vAy: [] as string[],
    vS: [] as string[],
    vR8x: [] as string[],
    vR8y: [] as string[],
  };
  const words: bigint[] = [];
  let amount = 0n;
  for (const voucher of best.values()) {
    const i = voucher.leafIndex;
    if (i < 0 || i >= 2 ** D) {
      skipped.push({ leafIndex: i, reason: "unknown-leaf" });
      continue;
    }
    const leaf = tree.get(i);
    if (leaf.keyHash === 0n) {
      skipped.push({ leafIndex: i, reason: "unknown-leaf" });
      continue;
    }
    const unchecked = args.unchecked === true;
    if (!unchecked && hash2(voucher.publicKey[0], voucher.publicKey[1]) !== leaf.keyHash) {
      skipped.push({ leafIndex: i, reason: "wrong-key" });
      continue;
    }
    if (!unchecked && !verifyZkVoucher(voucher, scope)) {
      skipped.push({ leafIndex: i, reason: "bad-signature" });
      continue;
    }
    const newPaid = voucher.cumulative < leaf.funded ? voucher.cumulative : leaf.funded;
    if (!unchecked && newPaid <= leaf.paid) {
      skipped.push({ leafIndex: i, reason: leaf.funded <= leaf.paid ? "no-funds" : "nothing-new" });
      continue;
    }
    if (applied.length >= shape.batchSize) {
      skipped.push({ leafIndex: i, reason: "batch-full" });
      continue;
    }
    const { siblings } = tree.proof(i);
    v.vActive.push("1");
    v.vLeafIndex.push(String(i));
    v.vSiblings.push(siblings.map(String));
    v.vFunded.push(leaf.funded.toString());
    v.vOldPaid.push(leaf.paid.toString());
    v.vCumulative.push(voucher.cumulative.toString());
    v.vAx.push(voucher.publicKey[0].toString());
    v.vAy.push(voucher.publicKey[1].toString());
    v.vS.push(voucher.signature.S.toString());
    v.vR8x.push(voucher.signature.R8[0].toString());
    v.vR8y.push(voucher.signature.R8[1].toString());
    if (newPaid >= leaf.paid) tree.set(i, { ...leaf, paid: newPaid });
    const delta = newPaid - leaf.paid;
    amount += delta;
    applied.push({ leafIndex: i, newPaid, delta });
    words.push(BigInt(i) + newPaid * 2n ** 32n);
  }
  while (v.vActive.length < shape.batchSize) {
    v.vActive.push("0");
    v.vLeafIndex.push("0");
    v.vSiblings.push(zeroPath());
    for (const k of ["vFunded", "vOldPaid", "vCumulative", "vAx", "vAy", "vS", "vR8x", "vR8y"] as const) v[k].push("0");
  }
  if (amount > ZK_MAX_AMOUNT * BigInt(shape.batchSize)) throw new ZkError("ZK_AMOUNT_RANGE", "batch amount out of range");
  // Only an unchecked (test) batch can go negative; the circuit refuses it, but the input must be a field element.
  if (amount < 0n) amount += SNARK_FIELD;

  const newRoot = tree.root;
  const paddedWords = [...words, ...Array.from({ length: shape.batchSize - words.length }, () => 0n)];
  const committed = [
    oldRoot,
    newRoot,
    oldQueueHash,
    q,
    BigInt(nQueue),
    BigInt(scope.chainId),
    BigInt(scope.escrow),
    BigInt(scope.provider),
    amount,
    ...paddedWords,
  ];
  const commitment = commitValues(committed);
  const data = (words.length === 0 ? "0x" : concat(words.map((w) => toHex(w, { size: 16 })))) as Hex;
  const publicInput = zkPublicInput({ commitment, oldRoot, newRoot, oldQueueHash, newQueueHash: q, nQueue, scope, amount, data });

  const input: ZkBatch["input"] = {
    pub: publicInput.toString(),
    commitment: commitment.toString(),
    oldRoot: oldRoot.toString(),
    newRoot: newRoot.toString(),
    oldQueueHash: oldQueueHash.toString(),
    newQueueHash: q.toString(),
    nQueue: String(nQueue),
    chainId: String(scope.chainId),
    contractAddr: BigInt(scope.escrow).toString(),
    provider: BigInt(scope.provider).toString(),
    amount: amount.toString(),
    qLeafIndex,
    qKeyHash,
    qAmount,
    qOldKeyHash,
    qOldPacked,
    qSiblings,
    ...v,
  };
  return { input, call: { newRoot, amount, commitment, data }, publicInput, tree, nQueue, newQueueHash: q, applied, skipped };
}
