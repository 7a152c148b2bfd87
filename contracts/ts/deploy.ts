import { getAddress, type Account, type Address, type Chain, type Hash, type PublicClient, type Transport, type WalletClient } from "viem";
import { escrowAbi, escrowBytecode, serviceRegistryAbi, serviceRegistryBytecode } from "../generated/index.js";

/** Deploy-time parameters of a 0G Compute deployment. All durations in seconds, amounts in wei. */
export interface DeployParams {
  /** Channel withdrawal lock, in [60, 30 days]. Immutable. */
  lockSeconds: bigint;
  /** Smallest balance a funded channel may hold. */
  minFund: bigint;
  /** Provider listing bond. */
  providerStake: bigint;
  /** Seconds before a bond can leave; defaults to `2 * lockSeconds` (the minimum). */
  unbondDelaySeconds?: bigint;
  /** Seconds before a price increase or model change applies; defaults to `lockSeconds` (the minimum). */
  termsDelaySeconds?: bigint;
}

/** Where a deployment lives and how it was configured. JSON-safe once bigints are stringified. */
export interface Deployment {
  chainId: number;
  escrow: Address;
  registry: Address;
  /** Block of the first deployment transaction; event scans start here. */
  fromBlock: bigint;
  params: Required<DeployParams>;
  /** Gas used by each deployment transaction. */
  gasUsed: { escrow: bigint; registry: bigint };
}

/** Parameters for a local development chain: a one-hour lock and tiny amounts. */
export const DEVNET_PARAMS: Required<DeployParams> = {
  lockSeconds: 3600n,
  minFund: 10n ** 15n, // 0.001 0G
  providerStake: 10n ** 18n, // 1 0G
  unbondDelaySeconds: 7200n,
  termsDelaySeconds: 3600n,
};

/** Thrown when a deployment transaction fails or produces no contract. */
export class DeployError extends Error {
  readonly code = "DEPLOY_FAILED";
  constructor(
    message: string,
    readonly txHash?: Hash,
  ) {
    super(message);
    this.name = "DeployError";
  }
}

/**
 * Deploy the escrow and the service registry (the registry reads the escrow's lock).
 *
 * @example
 * const wallet = createWalletClient({ account: privateKeyToAccount(key), chain, transport: http(rpcUrl) });
 * const client = createPublicClient({ chain, transport: http(rpcUrl) });
 * const deployment = await deployContracts(wallet, client, DEVNET_PARAMS);
 * console.log(deployment.escrow, deployment.registry);
 */
export async function deployContracts(
  wallet: WalletClient<Transport, Chain | undefined, Account>,
  client: PublicClient,
  params: DeployParams,
): Promise<Deployment> {
  const full: Required<DeployParams> = {
    lockSeconds: params.lockSeconds,
    minFund: params.minFund,
    providerStake: params.providerStake,
    unbondDelaySeconds: params.unbondDelaySeconds ?? 2n * params.lockSeconds,
    termsDelaySeconds: params.termsDelaySeconds ?? params.lockSeconds,
  };
  const chainId = await client.getChainId();

  const escrowTx = await wallet.deployContract({
    abi: escrowAbi,
    bytecode: escrowBytecode,
    args: [full.lockSeconds, full.minFund],
    chain: wallet.chain ?? null,
  });
  const escrowReceipt = await client.waitForTransactionReceipt({ hash: escrowTx });
  if (escrowReceipt.status !== "success" || !escrowReceipt.contractAddress) {
    throw new DeployError("escrow deployment failed", escrowTx);
  }
  const escrow = getAddress(escrowReceipt.contractAddress);

  const registryTx = await wallet.deployContract({
    abi: serviceRegistryAbi,
    bytecode: serviceRegistryBytecode,
    args: [escrow, full.providerStake, full.unbondDelaySeconds, full.termsDelaySeconds],
    chain: wallet.chain ?? null,
  });
  const registryReceipt = await client.waitForTransactionReceipt({ hash: registryTx });
  if (registryReceipt.status !== "success" || !registryReceipt.contractAddress) {
    throw new DeployError("registry deployment failed", registryTx);
  }

  return {
    chainId,
    escrow,
    registry: getAddress(registryReceipt.contractAddress),
    fromBlock: escrowReceipt.blockNumber,
    params: full,
    gasUsed: { escrow: escrowReceipt.gasUsed, registry: registryReceipt.gasUsed },
  };
}
