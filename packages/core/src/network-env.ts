import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { resolveNetwork, type NetworkConfig, type NetworkOverrides, type NetworkPreset } from "./network.js";

/** What `npm start -- --keep` records about the running devnet (`$ZG_HOME/devnet.json`). */
export interface DevnetRecord {
  rpcUrl?: string;
  chainId?: number;
  escrow?: string;
  registry?: string;
  /** Decimal string. */
  fromBlock?: string;
}

/** The directory that holds the keystore, lane state and the devnet record: `$ZG_HOME`, else `~/.0g-compute`. */
export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.ZG_HOME ?? join(homedir(), ".0g-compute");
}

/**
 * Where a user's lane state for `network` lives under `home`: one {@link FileLaneStore} directory per
 * network and chain, shared by the CLI, the gateway and the MCP server of that home (safely, across processes).
 */
export function laneStoreDir(home: string, network: Pick<NetworkConfig, "name" | "chainId">): string {
  return join(home, "lanes", `${network.name}-${network.chainId}`);
}

/** The running devnet's record, or an empty record when there is none (or it is unreadable). */
export function readDevnetRecord(home: string = defaultHome()): DevnetRecord {
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(home, "devnet.json"), "utf8"));
    return parsed && typeof parsed === "object" ? (parsed as DevnetRecord) : {};
  } catch {
    return {};
  }
}

/** Options for {@link networkFromEnv}. */
export interface NetworkFromEnvOptions {
  /** Preset name; default `$ZG_NETWORK`, else "devnet". */
  name?: NetworkPreset | "custom";
  /** Explicit overrides; they win over the environment and the devnet record. */
  overrides?: NetworkOverrides;
  env?: NodeJS.ProcessEnv;
  /** Where the devnet record lives (default {@link defaultHome}). */
  home?: string;
}

/**
 * Resolve a network the way the CLI does: explicit overrides, then `ZG_RPC_URL`, `ZG_ESCROW`,
 * `ZG_REGISTRY`, `ZG_CHAIN_ID`, then (for "devnet") the record of the running devnet, then the preset.
 *
 * @example
 * const network = networkFromEnv(); // the devnet `npm start -- --keep` is running
 * const galileo = networkFromEnv({ name: "galileo", overrides: { escrow: "0x...", registry: "0x..." } });
 */
export function networkFromEnv(options: NetworkFromEnvOptions = {}): NetworkConfig {
  const env = options.env ?? process.env;
  const name = options.name ?? ((env.ZG_NETWORK as NetworkPreset | "custom" | undefined) || "devnet");
  const devnet = name === "devnet" ? readDevnetRecord(options.home ?? defaultHome(env)) : {};
  const o = options.overrides ?? {};
  const rpcUrl = o.rpcUrl ?? env.ZG_RPC_URL ?? devnet.rpcUrl;
  const escrow = o.escrow ?? env.ZG_ESCROW ?? devnet.escrow;
  const registry = o.registry ?? env.ZG_REGISTRY ?? devnet.registry;
  const chainId = o.chainId ?? (env.ZG_CHAIN_ID ? Number(env.ZG_CHAIN_ID) : devnet.chainId);
  const fromBlock = o.fromBlock ?? (devnet.fromBlock ? BigInt(devnet.fromBlock) : undefined);
  return resolveNetwork(name, {
    ...o,
    ...(rpcUrl ? { rpcUrl } : {}),
    ...(escrow ? { escrow } : {}),
    ...(registry ? { registry } : {}),
    ...(chainId !== undefined ? { chainId } : {}),
    ...(fromBlock !== undefined ? { fromBlock } : {}),
  });
}
