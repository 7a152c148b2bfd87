import {
  getAddress,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { poseidonHasherAbi, poseidonHasherBytecode, zkEscrowAbi, zkEscrowBytecode } from "../generated/index.js";
import { DeployError } from "./deploy.js";

/** What a ZK-enabled escrow deployment needs besides the usual parameters. */
export interface ZkDeployParams {
  lockSeconds: bigint;
  minFund: bigint;
  /** The exported Groth16 verifier of the settlement circuit (built by contracts/zk/build.ts). */
  verifier: { abi: unknown[]; bytecode: Hex };
  /** The circuit's shape: voucher slots, queue slots, tree depth. */
  batchSize: number;
  queueSlots: number;
  depth: number;
  /**
   * Seconds within which a provider lands its next proof while deposits wait (`ZK_PROOF_INTERVAL`): a
   * provider that keeps this cadence is never frozen, and a provider's queue holds at most
   * `queueSlots * (lockSeconds / proofIntervalSeconds - 1)` unconsumed deposits. At most half the lock.
   * Defaults to {@link DEFAULT_ZK_PROOF_INTERVAL} (half the lock for locks under ten minutes).
   */
  proofIntervalSeconds?: bigint;
}

/** Default proving cadence: five minutes (proving times per circuit shape are in docs/zk-settlement.md). */
export const DEFAULT_ZK_PROOF_INTERVAL = 300n;

/** The proof interval a deployment with `lockSeconds` gets when none is given. */
export function defaultZkProofInterval(lockSeconds: bigint): bigint {
  return lockSeconds >= 2n * DEFAULT_ZK_PROOF_INTERVAL ? DEFAULT_ZK_PROOF_INTERVAL : lockSeconds / 2n;
}

/** Addresses of a ZK-enabled escrow deployment. */
export interface ZkDeployment {
  escrow: Address;
  verifier: Address;
  poseidon: Address;
  /** The proof interval it was deployed with. */
  proofIntervalSeconds: bigint;
  gasUsed: { escrow: bigint; verifier: bigint; poseidon: bigint };
}

/**
 * Deploy `PoseidonHasher`, the circuit's verifier and a `ZkEscrow` (an `Escrow` with ZK-mode channels).
 *
 * @example
 * const art = await ensureZkArtifacts(CI_CIRCUIT);
 * const zk = await deployZkEscrow(wallet, publicClient, { lockSeconds: 3600n, minFund: 0n,
 *   verifier: { abi: art.verifierAbi, bytecode: art.verifierBytecode }, ...art.config });
 */
export async function deployZkEscrow(
  wallet: WalletClient<Transport, Chain | undefined, Account>,
  client: PublicClient,
  params: ZkDeployParams,
): Promise<ZkDeployment> {
  const deploy = async (abi: Abi, bytecode: Hex, args: readonly unknown[], what: string) => {
    const hash = await wallet.deployContract({ abi, bytecode, args, chain: wallet.chain ?? null } as Parameters<
      typeof wallet.deployContract
    >[0]);
    const receipt = await client.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success" || !receipt.contractAddress) throw new DeployError(`${what} deployment failed`, hash);
    return { address: getAddress(receipt.contractAddress), gas: receipt.gasUsed };
  };
  const poseidon = await deploy(poseidonHasherAbi, poseidonHasherBytecode, [], "PoseidonHasher");
  const verifier = await deploy(params.verifier.abi as Abi, params.verifier.bytecode, [], "verifier");
  const proofIntervalSeconds = params.proofIntervalSeconds ?? defaultZkProofInterval(params.lockSeconds);
  const escrow = await deploy(
    zkEscrowAbi,
    zkEscrowBytecode,
    [
      params.lockSeconds,
      params.minFund,
      verifier.address,
      poseidon.address,
      params.batchSize,
      params.queueSlots,
      params.depth,
      proofIntervalSeconds,
    ],
    "ZkEscrow",
  );
  return {
    escrow: escrow.address,
    verifier: verifier.address,
    poseidon: poseidon.address,
    proofIntervalSeconds,
    gasUsed: { escrow: escrow.gas, verifier: verifier.gas, poseidon: poseidon.gas },
  };
}
