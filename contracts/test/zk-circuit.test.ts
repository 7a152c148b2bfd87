// The settlement circuit's constraints, by witness generation alone (no proving): each case builds an
// honest batch, breaks one thing the way a cheating provider would, and expects the circuit to refuse it.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as snarkjs from "snarkjs";
import {
  buildZkBatch,
  commitValues,
  signZkVoucher,
  SNARK_FIELD,
  zkKeyFromSecret,
  zkPublicInput,
  ZkChannelTree,
  type ZkBatch,
  type ZkKey,
  type ZkQueueEntry,
  type ZkVoucher,
} from "@0g-compute/core/zk";
import { CI_CIRCUIT, ensureZkArtifacts, type ZkArtifacts } from "../zk/build.js";

const scope = {
  chainId: 31337,
  escrow: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  provider: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
} as const;
const otherProvider = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" as const;

describe("ZK settlement circuit", () => {
  let art: ZkArtifacts;
  let alice: ZkKey;
  let bob: ZkKey;
  /** Tree after Alice (leaf 0, 1000) and Bob (leaf 1, 500) deposited, and Alice paid 400. */
  let tree: ZkChannelTree;

  const witness = async (input: ZkBatch["input"]): Promise<void> => {
    await snarkjs.wtns.calculate(input, art.wasm, { type: "mem" });
  };
  const batch = (vouchers: ZkVoucher[], pendingQueue: ZkQueueEntry[] = [], unchecked = true): ZkBatch =>
    buildZkBatch({ shape: art.config, scope, tree, oldQueueHash: 0n, pendingQueue, vouchers, unchecked });
  const sign = (
    key: ZkKey,
    leafIndex: number,
    cumulative: bigint,
    s: { provider: `0x${string}`; chainId: number; escrow: `0x${string}` } = scope,
  ) => signZkVoucher(key, { ...s, leafIndex }, cumulative);

  /**
   * One voucher applied as the circuit computes it, whatever it pays: newPaid = min(cumulative, funded)
   * even below the leaf's paid, with the new root, the amount (negative in the field), the data word, the
   * commitment and the public input all computed for those values.
   */
  const consistentBatch = (voucher: ZkVoucher): ZkBatch["input"] => {
    const b = batch([voucher]);
    const leaf = tree.get(voucher.leafIndex);
    const newPaid = voucher.cumulative < leaf.funded ? voucher.cumulative : leaf.funded;
    const after = tree.clone();
    after.set(voucher.leafIndex, { ...leaf, paid: newPaid });
    const amount = (((newPaid - leaf.paid) % SNARK_FIELD) + SNARK_FIELD) % SNARK_FIELD;
    const word = BigInt(voucher.leafIndex) + newPaid * 2n ** 32n;
    const header = { oldRoot: tree.root, newRoot: after.root, oldQueueHash: 0n, newQueueHash: 0n, nQueue: 0, scope, amount };
    const commitment = commitValues([
      header.oldRoot,
      header.newRoot,
      0n,
      0n,
      0n,
      BigInt(scope.chainId),
      BigInt(scope.escrow),
      BigInt(scope.provider),
      amount,
      word,
      0n,
    ]);
    const data = `0x${word.toString(16).padStart(32, "0")}` as const;
    const pub = zkPublicInput({ ...header, commitment, data });
    return {
      ...b.input,
      newRoot: after.root.toString(),
      amount: amount.toString(),
      commitment: commitment.toString(),
      pub: pub.toString(),
    };
  };

  beforeAll(async () => {
    art = await ensureZkArtifacts(CI_CIRCUIT);
    alice = zkKeyFromSecret(new Uint8Array(32).fill(1));
    bob = zkKeyFromSecret(new Uint8Array(32).fill(2));
    tree = new ZkChannelTree(art.config.depth);
    tree.set(0, { keyHash: alice.keyHash, funded: 1000n, paid: 400n });
    tree.set(1, { keyHash: bob.keyHash, funded: 500n, paid: 0n });
  }, 600_000);
  afterAll(async () => {
    await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
  });

  it("accepts an honest batch: a deposit that opens a leaf, then two users' newest vouchers", async () => {
    const carol = zkKeyFromSecret(new Uint8Array(32).fill(3));
    const b = batch(
      [sign(alice, 0, 700n), sign(bob, 1, 900n), sign(carol, 2, 50n)],
      [{ leafIndex: 2, keyHash: carol.keyHash, amount: 80n }],
      false,
    );
    // K = 2: the third voucher waits for the next proof.
    expect(b.applied.map((a) => [a.leafIndex, a.newPaid])).toEqual([
      [0, 700n],
      [1, 500n],
    ]);
    expect(b.skipped).toEqual([{ leafIndex: 2, reason: "batch-full" }]);
    await witness(b.input);
  });

  it("pays no more than signed: a raised cumulative breaks the signature", async () => {
    const b = batch([sign(alice, 0, 700n)]);
    await expect(witness({ ...b.input, vCumulative: ["701", "0"] })).rejects.toThrow(/Assert Failed/);
  });

  it("pays no more than deposited: an inflated balance is not the leaf under the root", async () => {
    const b = batch([sign(bob, 1, 900n)]);
    await expect(witness({ ...b.input, vFunded: ["900", "0"] })).rejects.toThrow(/Assert Failed/);
  });

  it("the total credited to the provider is the sum of the per-user increases", async () => {
    const b = batch([sign(alice, 0, 700n)]);
    await expect(witness({ ...b.input, amount: "301" })).rejects.toThrow(/Assert Failed/);
  });

  it("no replay or rollback: a voucher below what the leaf already paid is refused (newPaid >= oldPaid)", async () => {
    // Every root, hash and commitment is computed for the rolled-back values, so the only constraint the
    // witness breaks is newPaid >= oldPaid. The same construction with a voucher above what was paid is a
    // valid witness (the control), so the construction itself is sound.
    await witness(consistentBatch(sign(alice, 0, 700n)));
    await expect(witness(consistentBatch(sign(alice, 0, 300n)))).rejects.toThrow(/Assert Failed/);
  });

  it("no moving a voucher: one signed for another provider, chain or contract fails", async () => {
    await expect(witness(batch([sign(alice, 0, 700n, { ...scope, provider: otherProvider })]).input)).rejects.toThrow(/Assert Failed/);
    await expect(witness(batch([sign(alice, 0, 700n, { ...scope, chainId: 1 })]).input)).rejects.toThrow(/Assert Failed/);
    await expect(witness(batch([sign(alice, 0, 700n, { ...scope, escrow: otherProvider })]).input)).rejects.toThrow(/Assert Failed/);
    // Nor onto another leaf (the leaf index is in the signed message).
    const b = batch([sign(bob, 0, 700n)]);
    await expect(witness(b.input)).rejects.toThrow(/Assert Failed/);
  });

  it("no forging with another user's key: Bob's valid signature does not unlock Alice's leaf", async () => {
    const forged = signZkVoucher(bob, { ...scope, leafIndex: 0 }, 700n);
    await expect(witness(batch([forged]).input)).rejects.toThrow(/Assert Failed/);
  });

  it("deposits are applied as queued: the amount is bound by the on-chain queue hash", async () => {
    const entry = { leafIndex: 1, keyHash: bob.keyHash, amount: 100n };
    const b = batch([], [entry]);
    await witness(b.input);
    await expect(witness({ ...b.input, qAmount: ["90"] })).rejects.toThrow(/Assert Failed/);
    // A deposit cannot change a channel's key.
    const rekey = batch([], [{ ...entry, keyHash: alice.keyHash }]);
    await expect(witness(rekey.input)).rejects.toThrow(/Assert Failed/);
  });

  it("the posted per-user data is bound: a public input computed over other data fails", async () => {
    const b = batch([sign(alice, 0, 700n)]);
    const lie = zkPublicInput({
      commitment: b.call.commitment,
      oldRoot: tree.root,
      newRoot: b.call.newRoot,
      oldQueueHash: 0n,
      newQueueHash: 0n,
      nQueue: 0,
      scope,
      amount: b.call.amount,
      data: `0x${(0n + 650n * 2n ** 32n).toString(16).padStart(32, "0")}`,
    });
    await expect(witness({ ...b.input, pub: lie.toString() })).rejects.toThrow(/Assert Failed/);
  });
});
