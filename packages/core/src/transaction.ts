import type { Chain, Hash, LocalAccount, PublicClient, TransactionReceipt, Transport, WalletClient } from "viem";
import { TransactionError, toZeroGError } from "./chain-errors.js";

/** Progress of a transaction, for CLIs and UIs. */
export type TxProgress =
  | { stage: "simulating"; action: string }
  | { stage: "sent"; action: string; hash: Hash }
  | { stage: "mined"; action: string; hash: Hash; gasUsed: bigint; blockNumber: bigint };

/** The result of a transaction the SDK sent. */
export interface TxResult {
  hash: Hash;
  gasUsed: bigint;
  blockNumber: bigint;
  receipt: TransactionReceipt;
}

/** How long to wait for a transaction, and how deep it must be. */
export interface WaitOptions {
  /** Milliseconds before `TX_TIMEOUT` (default 120 s). */
  timeoutMs?: number;
  /** Blocks on top of the transaction's (default 1: mined). */
  confirmations?: number;
  onProgress?: (progress: TxProgress) => void;
}

/**
 * Wait for a sent transaction and check that it succeeded: `TX_REVERTED` if it was mined and reverted,
 * `TX_TIMEOUT` if it was not mined in time, `RPC_UNAVAILABLE` if the chain could not be asked.
 *
 * @example
 * const receipt = await waitForSuccess(publicClient, "settle", hash, { confirmations: 1 });
 */
export async function waitForSuccess(
  publicClient: PublicClient<Transport, Chain>,
  action: string,
  hash: Hash,
  options: WaitOptions = {},
): Promise<TransactionReceipt> {
  try {
    const receipt = await publicClient.waitForTransactionReceipt({
      hash,
      timeout: options.timeoutMs ?? 120_000,
      confirmations: Math.max(1, options.confirmations ?? 1),
    });
    if (receipt.status !== "success") throw new TransactionError("TX_REVERTED", `${action} reverted on-chain`, hash);
    options.onProgress?.({ stage: "mined", action, hash, gasUsed: receipt.gasUsed, blockNumber: receipt.blockNumber });
    return receipt;
  } catch (err) {
    throw toZeroGError(err, hash);
  }
}

/**
 * The one way the SDK and the provider send a contract call: simulate it (a call the contract would refuse
 * raises a typed `ContractRevertError` and spends nothing), send it, and wait for it with {@link waitForSuccess}.
 *
 * @example
 * const { hash } = await sendContractTransaction(wallet, publicClient, "deposit", () => escrow.simulate.deposit({ value, account }));
 */
export async function sendContractTransaction(
  wallet: WalletClient<Transport, Chain, LocalAccount>,
  publicClient: PublicClient<Transport, Chain>,
  action: string,
  simulate: () => Promise<{ request: unknown }>,
  options: WaitOptions = {},
): Promise<TxResult> {
  options.onProgress?.({ stage: "simulating", action });
  let hash: Hash;
  try {
    const { request } = await simulate();
    hash = await wallet.writeContract(request as Parameters<typeof wallet.writeContract>[0]);
  } catch (err) {
    throw toZeroGError(err);
  }
  options.onProgress?.({ stage: "sent", action, hash });
  const receipt = await waitForSuccess(publicClient, action, hash, options);
  return { hash, gasUsed: receipt.gasUsed, blockNumber: receipt.blockNumber, receipt };
}
