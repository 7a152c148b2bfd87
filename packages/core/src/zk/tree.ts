import { assertZkAmount, hash2, ZK_PAID_SHIFT, ZkError } from "./field.js";

/** One ZK channel as the tree holds it. `funded` is deposits minus withdrawals; `paid` is lifetime paid. */
export interface ZkLeaf {
  keyHash: bigint;
  funded: bigint;
  paid: bigint;
}

/** The leaf hash: Poseidon(keyHash, funded + paid * 2^96). A never-used leaf is all zeros. */
export function zkLeafHash(leaf: ZkLeaf): bigint {
  return hash2(leaf.keyHash, leaf.funded + leaf.paid * ZK_PAID_SHIFT);
}

const EMPTY: ZkLeaf = { keyHash: 0n, funded: 0n, paid: 0n };

/**
 * A provider's channel tree: a sparse binary Poseidon Merkle tree of depth `depth`, one leaf per ZK
 * channel, leaf index assigned by the escrow when the channel opens. The escrow stores only its root.
 *
 * @example
 * const tree = new ZkChannelTree(16);
 * tree.set(0, { keyHash, funded: 10n ** 18n, paid: 0n });
 * const { siblings } = tree.proof(0);
 */
export class ZkChannelTree {
  private readonly leaves = new Map<number, ZkLeaf>();
  /** nodes[level] maps index -> hash, for non-empty subtrees only. */
  private readonly nodes: Map<number, bigint>[] = [];
  /** Root of an empty subtree at each level. */
  readonly zeros: bigint[];

  constructor(readonly depth: number) {
    if (!Number.isInteger(depth) || depth < 1 || depth > 32) throw new ZkError("ZK_BAD_DEPTH", `tree depth out of range: ${depth}`);
    this.zeros = [zkLeafHash(EMPTY)];
    for (let i = 0; i < depth; i++) this.zeros.push(hash2(this.zeros[i]!, this.zeros[i]!));
    for (let i = 0; i <= depth; i++) this.nodes.push(new Map());
  }

  /** Root of the empty tree (what the escrow starts every provider with). */
  get emptyRoot(): bigint {
    return this.zeros[this.depth]!;
  }

  get root(): bigint {
    return this.nodes[this.depth]!.get(0) ?? this.emptyRoot;
  }

  /** The channel at `index` (all zeros if never used). */
  get(index: number): ZkLeaf {
    this.checkIndex(index);
    return { ...(this.leaves.get(index) ?? EMPTY) };
  }

  /** Indexes of the leaves ever set. */
  indexes(): number[] {
    return [...this.leaves.keys()].sort((a, b) => a - b);
  }

  /** Replace the channel at `index` and update the path to the root. */
  set(index: number, leaf: ZkLeaf): void {
    this.checkIndex(index);
    assertZkAmount("funded", leaf.funded);
    assertZkAmount("paid", leaf.paid);
    this.leaves.set(index, { ...leaf });
    let h = zkLeafHash(leaf);
    let i = index;
    this.nodes[0]!.set(i, h);
    for (let level = 0; level < this.depth; level++) {
      const sibling = this.node(level, i ^ 1);
      h = i & 1 ? hash2(sibling, h) : hash2(h, sibling);
      i >>= 1;
      this.nodes[level + 1]!.set(i, h);
    }
  }

  /** Sibling hashes from the leaf up to the root's children. */
  proof(index: number): { leaf: ZkLeaf; siblings: bigint[] } {
    this.checkIndex(index);
    const siblings: bigint[] = [];
    let i = index;
    for (let level = 0; level < this.depth; level++) {
      siblings.push(this.node(level, i ^ 1));
      i >>= 1;
    }
    return { leaf: this.get(index), siblings };
  }

  /** A deep copy (the prover works on a copy until its proof lands on-chain). */
  clone(): ZkChannelTree {
    const t = new ZkChannelTree(this.depth);
    for (const [i, leaf] of this.leaves) t.leaves.set(i, { ...leaf });
    this.nodes.forEach((m, level) => {
      for (const [k, v] of m) t.nodes[level]!.set(k, v);
    });
    return t;
  }

  private node(level: number, index: number): bigint {
    return this.nodes[level]!.get(index) ?? this.zeros[level]!;
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= 2 ** this.depth)
      throw new ZkError("ZK_BAD_LEAF", `leaf index ${index} outside a depth-${this.depth} tree`);
  }
}

/** Walk a Merkle path (as the escrow does for an exit): the root for `leafHash` at `index`. */
export function zkRootFromPath(leafHash: bigint, index: number, siblings: readonly bigint[]): bigint {
  let h = leafHash;
  let i = index;
  for (const s of siblings) {
    h = i & 1 ? hash2(s, h) : hash2(h, s);
    i >>= 1;
  }
  return h;
}
