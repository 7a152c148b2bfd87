import type { WalletClient } from "viem";
import { estimateContractGas, writeContract } from "viem/actions";

/**
 * A wallet client whose contract writes carry a gas limit of the estimate plus 20% and 20,000, instead
 * of the bare estimate. A bare estimate is the least gas that succeeded against the state and timestamp
 * of the moment it was taken; a write that lands a second later (a changed timestamp stored, a refund
 * that no longer applies) can then run out of gas and revert.
 *
 * @example
 * const wallet = withGasMargin(createWalletClient({ account, chain, transport: http(rpcUrl) }));
 */
export function withGasMargin<C extends WalletClient>(wallet: C): C {
  type Args = Parameters<typeof writeContract>[1];
  const extend = wallet.extend as unknown as (f: (client: WalletClient) => { writeContract: (args: Args) => Promise<`0x${string}`> }) => C;
  return extend((client) => ({
    async writeContract(args: Args) {
      if (args.gas !== undefined) return writeContract(client, args);
      const estimate = await estimateContractGas(client, { ...args, account: args.account ?? client.account } as Parameters<
        typeof estimateContractGas
      >[1]);
      return writeContract(client, { ...args, gas: (estimate * 6n) / 5n + 20_000n } as Args);
    },
  }));
}
