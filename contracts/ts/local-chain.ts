import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  type Account,
  type Chain,
  type Hex,
  type PublicClient,
  type TestClient,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { startAnvil, type Anvil, type AnvilOptions } from "./anvil.js";
import { DEVNET_PARAMS, deployContracts, type DeployParams, type Deployment } from "./deploy.js";
import { withGasMargin } from "./gas.js";

/** A funded wallet client on the local chain. */
export type LocalWallet = WalletClient<Transport, Chain, Account>;

/** A running anvil with the contracts deployed, and clients to use it. */
export interface LocalChain {
  anvil: Anvil;
  rpcUrl: string;
  chain: Chain;
  deployment: Deployment;
  publicClient: PublicClient<Transport, Chain>;
  testClient: TestClient<"anvil", Transport, Chain>;
  /** Wallet client of anvil account `index` (account 0 deployed the contracts). */
  wallet(index: number): LocalWallet;
  /** Advance chain time by `seconds` and mine a block. */
  increaseTime(seconds: bigint | number): Promise<void>;
  /** Timestamp of the latest block. */
  now(): Promise<bigint>;
  /** Stop anvil by its PID. */
  stop(): Promise<void>;
}

/** Options for {@link startLocalChain}. */
export interface LocalChainOptions {
  params?: Partial<DeployParams>;
  anvil?: AnvilOptions;
}

/** A viem chain definition for a local node at `rpcUrl`. */
export function localChainDefinition(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: "0G Compute devnet",
    nativeCurrency: { name: "0G", symbol: "0G", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/**
 * Start anvil on 127.0.0.1 on a free port, deploy the contracts with devnet parameters (override any
 * with `params`), and return clients. Used by every package's tests and by the devnet.
 *
 * @example
 * const chain = await startLocalChain({ params: { lockSeconds: 600n } });
 * try {
 *   const user = chain.wallet(1);
 *   // ...
 * } finally {
 *   await chain.stop();
 * }
 */
export async function startLocalChain(options: LocalChainOptions = {}): Promise<LocalChain> {
  const anvil = await startAnvil(options.anvil);
  try {
    const chain = localChainDefinition(anvil.chainId, anvil.rpcUrl);
    const transport = http(anvil.rpcUrl, { retryCount: 0 });
    const publicClient = createPublicClient({ chain, transport, pollingInterval: 20, cacheTime: 0 });
    const testClient = createTestClient({ chain, transport, mode: "anvil", pollingInterval: 20, cacheTime: 0 });
    const wallets = new Map<number, LocalWallet>();
    const wallet = (index: number): LocalWallet => {
      let w = wallets.get(index);
      if (!w) {
        const key = anvil.privateKeys[index] as Hex | undefined;
        if (!key) throw new Error(`anvil has no account ${index}`);
        w = withGasMargin(createWalletClient({ account: privateKeyToAccount(key), chain, transport, pollingInterval: 20, cacheTime: 0 }));
        wallets.set(index, w);
      }
      return w;
    };
    const deployment = await deployContracts(wallet(0), publicClient, { ...DEVNET_PARAMS, ...options.params });
    return {
      anvil,
      rpcUrl: anvil.rpcUrl,
      chain,
      deployment,
      publicClient,
      testClient,
      wallet,
      async increaseTime(seconds) {
        await testClient.increaseTime({ seconds: Number(seconds) });
        await testClient.mine({ blocks: 1 });
      },
      async now() {
        return (await publicClient.getBlock({ blockTag: "latest" })).timestamp;
      },
      stop: () => anvil.stop(),
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}
