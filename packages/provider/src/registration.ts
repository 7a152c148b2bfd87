import {
  getContract,
  parseEventLogs,
  type Chain,
  type Hash,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { serviceRegistryAbi } from "@0g-compute/contracts";
import { sendContractTransaction, toZeroGError, type NetworkConfig } from "@0g-compute/core";

/** A service as the provider lists it. Prices in wei per token. */
export interface ServiceListing {
  name: string;
  model: string;
  modelHash: Hex;
  quantization: string;
  endpoint: string;
  inputPrice: bigint;
  outputPrice: bigint;
  /** Address of the key that signs receipts. */
  signer: Hex;
  /** Up to 2 KiB; JSON by convention, e.g. `{ "contextLength": 2048, "capabilities": ["tools"] }`. */
  metadata: string;
}

type Wallet = WalletClient<Transport, Chain, LocalAccount>;

function registry(wallet: Wallet, client: PublicClient<Transport, Chain>, network: NetworkConfig) {
  return getContract({ address: network.registry, abi: serviceRegistryAbi, client: { public: client, wallet } });
}

/**
 * List a service: posts the listing bond first if the provider has none, then adds the service (or
 * updates it if a service of that name exists). Returns the service id and its version.
 *
 * @example
 * const { id, version } = await registerService(wallet, publicClient, network, { name: "chat", model: "llama-3-8b", ... });
 */
export async function registerService(
  wallet: Wallet,
  client: PublicClient<Transport, Chain>,
  network: NetworkConfig,
  listing: ServiceListing,
): Promise<{ id: Hex; version: number; txs: Hash[] }> {
  const reg = registry(wallet, client, network);
  const txs: Hash[] = [];
  try {
    const me = wallet.account.address;
    const [bond, unbondAt] = await reg.read.getProvider([me]);
    const stake = await reg.read.STAKE();
    if (unbondAt !== 0n) throw toZeroGError(new Error("the provider is unbonding; it cannot list services"));
    if (bond === 0n && !(stake === 0n && (await reg.read.getProviderServices([me])).length > 0)) {
      const { hash } = await sendContractTransaction(wallet, client, "post the listing bond", () =>
        reg.simulate.stake({ value: stake, account: wallet.account }),
      );
      txs.push(hash);
    }
    const id = await reg.read.serviceId([me, listing.name]);
    const exists = (await reg.read.getProviderServices([me])).some((s) => s.id === id);
    const { hash, receipt } = await sendContractTransaction(wallet, client, exists ? "update the service" : "list the service", () =>
      exists
        ? reg.simulate.updateService([id, listing], { account: wallet.account })
        : reg.simulate.addService([listing], { account: wallet.account }),
    );
    txs.push(hash);
    const changed = parseEventLogs({ abi: serviceRegistryAbi, logs: receipt.logs, eventName: "ServiceChanged" })[0];
    return { id, version: changed?.args.version ?? 0, txs };
  } catch (err) {
    throw toZeroGError(err);
  }
}

/** Remove a service from the registry; vouchers for it stay settleable. */
export async function unregisterService(
  wallet: Wallet,
  client: PublicClient<Transport, Chain>,
  network: NetworkConfig,
  name: string,
): Promise<Hash> {
  const reg = registry(wallet, client, network);
  try {
    const id = await reg.read.serviceId([wallet.account.address, name]);
    return (
      await sendContractTransaction(wallet, client, "remove the service", () =>
        reg.simulate.removeService([id], { account: wallet.account }),
      )
    ).hash;
  } catch (err) {
    throw toZeroGError(err);
  }
}
