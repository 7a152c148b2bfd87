// Shared helpers for the ZK settlement tests: artifacts, a ZK-enabled deployment, proving.
import * as snarkjs from "snarkjs";
import { getContract, type Address, type Hash, type TransactionReceipt } from "viem";
import { buildZkBatch, syncZkState, zkProofWords, type ZkBatch, type ZkKey, type ZkQueueEntry, type ZkVoucher } from "@0g-compute/core/zk";
import { deployZkEscrow, startLocalChain, zkEscrowAbi, type LocalChain, type LocalWallet, type ZkDeployment } from "../ts/index.js";
import { CI_CIRCUIT, ensureZkArtifacts, type ZkArtifacts } from "../zk/build.js";

export const LOCK = 3600n;

export interface ZkFixture {
  chain: LocalChain;
  art: ZkArtifacts;
  zk: ZkDeployment;
  escrowAs(wallet: LocalWallet): ReturnType<typeof zkContract>;
  mined(hash: Promise<Hash> | Hash): Promise<TransactionReceipt>;
  scope(provider: Address): { chainId: number; escrow: Address; provider: Address };
  /** Build the next batch from chain data (what a provider does), optionally overriding the queue. */
  batch(provider: Address, vouchers: ZkVoucher[], override?: { pendingQueue?: ZkQueueEntry[] }): Promise<ZkBatch>;
  prove(batch: ZkBatch): Promise<readonly bigint[]>;
  settle(provider: LocalWallet, batch: ZkBatch, proof: readonly bigint[], as?: Address): Promise<TransactionReceipt>;
  stop(): Promise<void>;
}

function zkContract(chain: LocalChain, escrow: Address, wallet: LocalWallet) {
  return getContract({ address: escrow, abi: zkEscrowAbi, client: { public: chain.publicClient, wallet } });
}

/** Build (or load) the CI circuit, start anvil and deploy a ZkEscrow for it. */
export async function setupZk(): Promise<ZkFixture> {
  const art = await ensureZkArtifacts(CI_CIRCUIT);
  const chain = await startLocalChain({ params: { minFund: 0n, lockSeconds: LOCK } });
  const zk = await deployZkEscrow(chain.wallet(0), chain.publicClient, {
    lockSeconds: LOCK,
    minFund: 0n,
    verifier: { abi: art.verifierAbi, bytecode: art.verifierBytecode },
    ...art.config,
  });
  const mined = async (hash: Promise<Hash> | Hash): Promise<TransactionReceipt> => {
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
    return receipt;
  };
  const scope = (provider: Address) => ({ chainId: chain.chain.id, escrow: zk.escrow, provider });
  return {
    chain,
    art,
    zk,
    mined,
    scope,
    escrowAs: (wallet) => zkContract(chain, zk.escrow, wallet),
    async batch(provider, vouchers, override = {}) {
      const state = await syncZkState(chain.publicClient, zk.escrow, provider, art.config.depth);
      return buildZkBatch({
        shape: art.config,
        scope: scope(provider),
        tree: state.tree,
        oldQueueHash: state.queueHash,
        pendingQueue: override.pendingQueue ?? state.pending,
        vouchers,
      });
    },
    async prove(batch) {
      const { proof } = await snarkjs.groth16.fullProve(batch.input, art.wasm, art.zkey);
      return zkProofWords(proof);
    },
    async settle(provider, batch, proof, as) {
      const c = zkContract(chain, zk.escrow, provider);
      const words = proof as readonly [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];
      return mined(c.write.settleZk([as ?? provider.account.address, batch.call.newRoot, batch.call.amount, batch.call.commitment, batch.call.data, words]));
    },
    async stop() {
      await chain.stop();
      await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
    },
  };
}

/** Open a ZK channel for `user` with `key` and deposit `amount`. */
export async function openAndDeposit(f: ZkFixture, user: LocalWallet, key: ZkKey, provider: Address, amount: bigint): Promise<number> {
  const c = f.escrowAs(user);
  await f.mined(c.write.openZkChannel([provider, key.publicKey[0], key.publicKey[1]]));
  await f.mined(c.write.zkDeposit([provider], { value: amount }));
  return (await c.read.getZkChannel([user.account.address, provider])).leafIndex;
}
