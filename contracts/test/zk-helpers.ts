// Shared helpers for the ZK settlement tests: artifacts, a ZK-enabled deployment, proving.
import * as snarkjs from "snarkjs";
import { createWalletClient, getContract, http, type Address, type Hash, type TransactionReceipt } from "viem";
import { buildZkBatch, syncZkState, zkProofWords, type ZkBatch, type ZkKey, type ZkQueueEntry, type ZkVoucher } from "@0g-compute/core/zk";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { acceptingVerifierAbi, acceptingVerifierBytecode, deployZkEscrow, zkEscrowAbi, type ZkDeployment } from "../ts/index.js";
import { startLocalChain, type LocalChain, type LocalWallet } from "../ts/testing.js";
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
      return mined(
        c.write.settleZk([
          as ?? provider.account.address,
          batch.call.newRoot,
          batch.call.amount,
          batch.call.commitment,
          batch.call.data,
          words,
        ]),
      );
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

/** A ZkEscrow whose verifier accepts every proof: queue, lock and exit rules without proving. */
export interface StandInZk {
  chain: LocalChain;
  zk: ZkDeployment;
  escrowAs(wallet: LocalWallet): ReturnType<typeof zkContract>;
  mined(hash: Promise<Hash> | Hash): Promise<TransactionReceipt>;
  /** A fresh account with 1 ether (anvil has only ten). */
  freshWallet(): Promise<LocalWallet>;
  /** Settle for `provider` with a made-up proof, moving the root to `newRoot` (consumes min(pending, Q)). */
  settle(as: LocalWallet, provider: Address, newRoot?: bigint, data?: `0x${string}`): Promise<TransactionReceipt>;
  stop(): Promise<void>;
}

/** Start anvil and deploy a ZkEscrow with the accepting stand-in verifier (never for real settlement). */
export async function setupStandInZk(
  options: {
    lockSeconds?: bigint;
    minFund?: bigint;
    proofIntervalSeconds?: bigint;
    shape?: { batchSize: number; queueSlots: number; depth: number };
  } = {},
): Promise<StandInZk> {
  const lockSeconds = options.lockSeconds ?? LOCK;
  const chain = await startLocalChain({ params: { minFund: 0n, lockSeconds } });
  try {
    const zk = await deployZkEscrow(chain.wallet(0), chain.publicClient, {
      lockSeconds,
      minFund: options.minFund ?? 0n,
      verifier: { abi: acceptingVerifierAbi as unknown as unknown[], bytecode: acceptingVerifierBytecode },
      ...(options.proofIntervalSeconds === undefined ? {} : { proofIntervalSeconds: options.proofIntervalSeconds }),
      ...(options.shape ?? CI_CIRCUIT),
    });
    const mined = async (hash: Promise<Hash> | Hash): Promise<TransactionReceipt> => {
      const receipt = await chain.publicClient.waitForTransactionReceipt({ hash: await hash });
      if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
      return receipt;
    };
    const escrowAs = (wallet: LocalWallet) => zkContract(chain, zk.escrow, wallet);
    return {
      chain,
      zk,
      escrowAs,
      mined,
      async freshWallet() {
        const account = privateKeyToAccount(generatePrivateKey());
        await chain.testClient.setBalance({ address: account.address, value: 10n ** 18n });
        return createWalletClient({ account, chain: chain.chain, transport: http(chain.rpcUrl) }) as unknown as LocalWallet;
      },
      async settle(as, provider, newRoot, data = "0x") {
        const root = newRoot ?? (await escrowAs(as).read.getZkProvider([provider]))[0];
        return mined(escrowAs(as).write.settleZk([provider, root, 0n, 0n, data, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]]));
      },
      stop: () => chain.stop(),
    };
  } catch (err) {
    await chain.stop();
    throw err;
  }
}
