import {
  getContract,
  parseEventLogs,
  type Address,
  type Chain,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { zkEscrowAbi } from "@0g-compute/contracts";
import { toZeroGError, waitForSuccess } from "@0g-compute/core";
import { buildZkBatch, syncZkState, zkProofWords, type ZkCircuitShape, type ZkSkipReason, type ZkVoucher } from "@0g-compute/core/zk";
import { ZkProver, type ZkProverArtifacts } from "./prover.js";

/** What one ZK settlement run did. */
export interface ZkSettlementRun {
  txHash?: Hex;
  /** Users whose leaves the proof moved. */
  applied: number;
  /** Deposits the proof consumed. */
  consumed: number;
  paid: bigint;
  gasUsed: bigint;
  skipped: { leafIndex: number; reason: ZkSkipReason }[];
  reason?: "nothing-due";
}

/** Dependencies of {@link ZkSettler}. */
export interface ZkSettlerDeps {
  publicClient: PublicClient<Transport, Chain>;
  wallet: WalletClient<Transport, Chain, LocalAccount>;
  /** The `ZkEscrow` deployment. */
  escrow: Address;
  provider: Address;
  /** The circuit the escrow's verifier was made for: its files and shape. */
  artifacts: ZkProverArtifacts & { shape: ZkCircuitShape };
  /** The newest ZK voucher the provider holds per channel (leaf). */
  vouchers: () => readonly ZkVoucher[];
  /** First block to index from (the escrow's deployment block). */
  fromBlock?: bigint;
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

/**
 * ZK-mode settlement for a provider: rebuilds its channel tree from the chain, batches the pending
 * deposits and the newest voucher of up to K channels, proves the batch in a separate process (serving is
 * never blocked), and submits one `settleZk`. If the root moved while proving (a user exited), it
 * rebuilds and proves once more. Plug it into {@link Settler} as its `zk` dependency to run on the
 * settlement loop's schedule.
 *
 * @example
 * const zk = new ZkSettler({ publicClient, wallet, escrow, provider, artifacts, vouchers: () => store.zkVouchers() });
 * const settler = new Settler({ ...deps, zk });
 */
export class ZkSettler {
  private readonly prover: ZkProver;
  private running: Promise<ZkSettlementRun> | undefined;

  constructor(private readonly deps: ZkSettlerDeps) {
    this.prover = new ZkProver(deps.artifacts);
  }

  /** PID of the prover process (0 before the first proof). */
  get proverPid(): number {
    return this.prover.pid;
  }

  /** Settle once now (single-flight). */
  run(): Promise<ZkSettlementRun> {
    this.running ??= this.runOnce(true).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async close(): Promise<void> {
    await this.prover.close();
  }

  private async runOnce(retryOnStaleRoot: boolean): Promise<ZkSettlementRun> {
    const { deps } = this;
    const shape = deps.artifacts.shape;
    const state = await syncZkState(
      deps.publicClient,
      deps.escrow,
      deps.provider,
      shape.depth,
      deps.fromBlock === undefined ? {} : { fromBlock: deps.fromBlock },
    );
    const batch = buildZkBatch({
      shape,
      scope: { chainId: deps.publicClient.chain.id, escrow: deps.escrow, provider: deps.provider },
      tree: state.tree,
      oldQueueHash: state.queueHash,
      pendingQueue: state.pending,
      vouchers: deps.vouchers(),
    });
    if (batch.applied.length === 0 && batch.nQueue === 0) {
      return { applied: 0, consumed: 0, paid: 0n, gasUsed: 0n, skipped: batch.skipped, reason: "nothing-due" };
    }
    deps.log?.("zk_prove_started", { applied: batch.applied.length, consumed: batch.nQueue });
    const proof = zkProofWords(await this.prover.prove(batch.input));
    const escrow = getContract({ address: deps.escrow, abi: zkEscrowAbi, client: { public: deps.publicClient, wallet: deps.wallet } });
    const args = [deps.provider, batch.call.newRoot, batch.call.amount, batch.call.commitment, batch.call.data, proof] as const;
    let hash: Hex;
    try {
      const { request } = await escrow.simulate.settleZk(args, { account: deps.wallet.account });
      hash = await deps.wallet.writeContract(request as Parameters<typeof deps.wallet.writeContract>[0]);
    } catch (err) {
      // The root or the queue moved while proving (an exit, a deposit): prove again from the new state.
      if (retryOnStaleRoot && /InvalidProof/.test(String((err as Error).message))) {
        deps.log?.("zk_reprove", { reason: "state moved while proving" });
        return this.runOnce(false);
      }
      throw toZeroGError(err);
    }
    const receipt = await waitForSuccess(deps.publicClient, "ZK settlement", hash);
    const settled = parseEventLogs({ abi: zkEscrowAbi, logs: receipt.logs, eventName: "ZkSettled" })[0];
    deps.log?.("zk_settled", {
      txHash: hash,
      applied: batch.applied.length,
      paid: batch.call.amount.toString(),
      gasUsed: receipt.gasUsed.toString(),
    });
    return {
      txHash: hash,
      applied: batch.applied.length,
      consumed: batch.nQueue,
      paid: settled?.args.amount ?? batch.call.amount,
      gasUsed: receipt.gasUsed,
      skipped: batch.skipped,
    };
  }
}
