import { getAddress, isAddress, type Address } from "viem";
import { ZeroGError } from "./errors.js";

/** Where a 0G Compute deployment lives. */
export interface NetworkConfig {
  /** Preset name or "custom". */
  name: string;
  chainId: number;
  rpcUrl: string;
  escrow: Address;
  registry: Address;
  /** First block to scan for events (the deployment block). */
  fromBlock: bigint;
  /** Blocks a credit (a funding, a key grant) must be buried under before it is trusted. 0 on dev chains. */
  confirmations: number;
}

/** Preset names accepted by {@link resolveNetwork}. */
export type NetworkPreset = "devnet" | "galileo" | "mainnet";

interface PresetDefaults {
  chainId: number;
  rpcUrl: string;
  confirmations: number;
  escrow?: Address;
  registry?: Address;
  fromBlock?: bigint;
}

/**
 * Built-in networks. `devnet` is the local anvil chain `npm start` runs (addresses are those of the
 * first deployment from anvil's first account). The 0G networks have their chain ids and public RPCs;
 * their contract addresses are given by the operator (flags, environment or config) until an official
 * deployment is listed here.
 */
export const NETWORK_PRESETS: Record<NetworkPreset, PresetDefaults> = {
  devnet: {
    chainId: 31337,
    rpcUrl: "http://127.0.0.1:8545",
    confirmations: 0,
    escrow: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    registry: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    fromBlock: 0n,
  },
  galileo: { chainId: 16602, rpcUrl: "https://evmrpc-testnet.0g.ai", confirmations: 2 },
  mainnet: { chainId: 16661, rpcUrl: "https://evmrpc.0g.ai", confirmations: 3 },
};

/** Raised when a network cannot be resolved (unknown preset, missing or malformed addresses). */
export class NetworkConfigError extends ZeroGError {
  constructor(message: string, hint?: string) {
    super("NETWORK_CONFIG", message, hint === undefined ? {} : { hint });
  }
}

/** Overrides for {@link resolveNetwork}; any field replaces the preset's. */
export interface NetworkOverrides {
  rpcUrl?: string;
  escrow?: string;
  registry?: string;
  chainId?: number;
  fromBlock?: bigint;
  confirmations?: number;
}

/**
 * Resolve a preset name (or "custom") plus overrides into a full {@link NetworkConfig}.
 *
 * @example
 * const net = resolveNetwork("galileo", { escrow: "0x...", registry: "0x..." });
 * const local = resolveNetwork("devnet", { rpcUrl: "http://127.0.0.1:41234" });
 */
export function resolveNetwork(name: NetworkPreset | "custom", overrides: NetworkOverrides = {}): NetworkConfig {
  const preset: PresetDefaults | undefined = name === "custom" ? undefined : NETWORK_PRESETS[name];
  if (name !== "custom" && !preset) {
    throw new NetworkConfigError(`unknown network "${String(name)}"`, `use one of ${Object.keys(NETWORK_PRESETS).join(", ")} or custom`);
  }
  const rpcUrl = overrides.rpcUrl ?? preset?.rpcUrl;
  const chainId = overrides.chainId ?? preset?.chainId;
  if (!rpcUrl) throw new NetworkConfigError("no RPC URL", "pass --rpc-url or set ZG_RPC_URL");
  if (chainId === undefined) throw new NetworkConfigError("no chain id for a custom network", "pass --chain-id");
  const address = (label: string, value: string | undefined): Address => {
    if (!value) throw new NetworkConfigError(`no ${label} address for network ${name}`, `pass --${label} or set ZG_${label.toUpperCase()}`);
    if (!isAddress(value, { strict: false })) throw new NetworkConfigError(`${label} address is malformed: ${value}`);
    return getAddress(value);
  };
  return {
    name,
    chainId,
    rpcUrl,
    escrow: address("escrow", overrides.escrow ?? preset?.escrow),
    registry: address("registry", overrides.registry ?? preset?.registry),
    fromBlock: overrides.fromBlock ?? preset?.fromBlock ?? 0n,
    confirmations: overrides.confirmations ?? preset?.confirmations ?? 0,
  };
}
