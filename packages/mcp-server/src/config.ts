import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  accountFromEnv,
  defaultHome,
  KeyError,
  loadKeystore,
  networkFromEnv,
  parseAmount,
  ZeroGError,
  type NetworkConfig,
  type ZeroGClient,
} from "@0g-compute/core";
import { McpConfigError } from "./errors.js";

/** A signing account (the type core's clients take). */
export type SigningAccount = ZeroGClient["account"];
/** A 20-byte hex address. */
export type Address = `0x${string}`;

/** Caps the operator sets; every amount in wei. */
export interface SpendingCaps {
  /** Most fees paid for inference over the life of the server process. */
  feesPerSession: bigint;
  /** Most fees paid per UTC day (kept across restarts when `stateDir` is set). */
  feesPerDay: bigint;
  /** Most funds moved by `deposit` and `fund` over the life of the process. */
  fundsPerSession: bigint;
  /** Most funds moved by `deposit` and `fund` per UTC day. */
  fundsPerDay: bigint;
}

/** Everything the server needs; build it yourself or read it from the environment with {@link configFromEnv}. */
export interface ZeroGMcpOptions {
  network: NetworkConfig;
  /** The account's own key, or a session key authorized on-chain (then set `user`). */
  account: SigningAccount;
  /** The paying account when `account` is a session key (default: `account`'s address). */
  user?: Address;
  caps: SpendingCaps;
  /** Upper bound on `max_tokens` an `ask` may request (default 1024). */
  maxTokens?: number;
  /** `max_tokens` used when an `ask` names none (default 256, never above `maxTokens`). */
  defaultMaxTokens?: number;
  /** Refuse any request whose maximum cost is above this (wei). */
  maxCostPerRequest?: bigint;
  /** Model used when an `ask` names none. */
  model?: string;
  /** Buy only from this provider. */
  provider?: Address;
  /**
   * Directory for durable lane state (nonces, acknowledged totals) and daily spending. Without it both
   * live in memory: the day caps then restart with the process.
   */
  stateDir?: string;
  /** Milliseconds between progress notifications while an `ask` waits for tokens (default 5000). */
  progressIntervalMs?: number;
  /** Diagnostics, one line at a time (default: none). The bin writes them to stderr: stdout carries the protocol. */
  log?: (line: string) => void;
}

/** Defaults of the caps when the environment names none (in 0G). */
export const DEFAULT_CAPS = {
  feesPerSession: "0.01",
  feesPerDay: "0.1",
  fundsPerSession: "0",
  fundsPerDay: "0",
} as const;

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

function amountVar(env: NodeJS.ProcessEnv, name: string, fallback: string): bigint {
  const value = env[name];
  if (value === undefined || value.trim() === "") return parseAmount(fallback);
  try {
    return parseAmount(value);
  } catch {
    throw new McpConfigError(
      `${name} is not an amount of 0G: "${value}"`,
      "write a decimal number of 0G, e.g. 0.05, or an integer of wei such as 1500wei",
    );
  }
}

function intVar(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const value = env[name];
  if (value === undefined || value.trim() === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new McpConfigError(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

function addressVar(env: NodeJS.ProcessEnv, name: string): Address | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  if (!ADDRESS.test(value)) throw new McpConfigError(`${name} is not an address: "${value}"`);
  return value as Address;
}

/**
 * The signing key, in this order: a session key (`ZG_SESSION_KEY`, with the paying account in
 * `ZG_USER`), the account's key (`ZG_PRIVATE_KEY`), or the encrypted keystore (`ZG_KEYSTORE`, default
 * `$ZG_HOME/keystore.json`) opened with `ZG_KEYSTORE_PASSWORD` or the first line of the file named by
 * `ZG_KEYSTORE_PASSWORD_FILE`. A server on stdio cannot prompt, so a keystore needs one of the two.
 * Errors never contain the key or the password.
 */
export async function accountFromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<{ account: SigningAccount; user?: Address }> {
  if (env.ZG_SESSION_KEY) {
    const user = addressVar(env, "ZG_USER");
    if (!user)
      throw new McpConfigError(
        "ZG_SESSION_KEY is set but ZG_USER is not",
        "set ZG_USER to the address of the account that authorized the session key",
      );
    return { account: accountFromEnv("ZG_SESSION_KEY", env), user };
  }
  if (env.ZG_PRIVATE_KEY) return { account: accountFromEnv("ZG_PRIVATE_KEY", env) };
  const path = env.ZG_KEYSTORE ?? join(defaultHome(env), "keystore.json");
  let password = env.ZG_KEYSTORE_PASSWORD;
  if (password === undefined && env.ZG_KEYSTORE_PASSWORD_FILE) {
    try {
      password = (await readFile(env.ZG_KEYSTORE_PASSWORD_FILE, "utf8")).split(/\r?\n/)[0] ?? "";
    } catch {
      throw new McpConfigError(`cannot read ZG_KEYSTORE_PASSWORD_FILE (${env.ZG_KEYSTORE_PASSWORD_FILE})`);
    }
  }
  if (password === undefined) {
    throw new KeyError(
      "KEY_NOT_FOUND",
      "no key configured",
      "set ZG_KEYSTORE (and ZG_KEYSTORE_PASSWORD or ZG_KEYSTORE_PASSWORD_FILE), ZG_PRIVATE_KEY, or ZG_SESSION_KEY with ZG_USER",
    );
  }
  return { account: await loadKeystore(path, password) };
}

/**
 * The environment without the values that mean "not set": empty strings, and `${user_config.…}`
 * placeholders an MCP host (a `.mcpb` install) left unfilled for an optional setting it was not given.
 */
function withoutUnsetValues(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== "" && !/^\$\{user_config\.[\w-]+\}$/.test(v)));
}

/**
 * Read the whole configuration from environment variables (see the package README for the list).
 *
 * @example
 * const options = await configFromEnv(process.env);
 * const server = createZeroGMcpServer(options);
 * await server.connect(new StdioServerTransport());
 */
export async function configFromEnv(given: NodeJS.ProcessEnv = process.env): Promise<ZeroGMcpOptions> {
  const env = withoutUnsetValues(given);
  let network: NetworkConfig;
  try {
    // The same rules as the 0g-compute CLI: ZG_NETWORK, ZG_RPC_URL, ZG_ESCROW, ZG_REGISTRY, ZG_CHAIN_ID, the devnet record.
    if (env.ZG_CHAIN_ID !== undefined && !/^\d+$/.test(env.ZG_CHAIN_ID))
      throw new McpConfigError(`ZG_CHAIN_ID is not an integer: "${env.ZG_CHAIN_ID}"`);
    network = networkFromEnv({ env });
  } catch (err) {
    if (err instanceof ZeroGError) throw err;
    throw new McpConfigError(`cannot resolve the network: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { account, user } = await accountFromEnvironment(env);
  const caps: SpendingCaps = {
    feesPerSession: amountVar(env, "ZG_MCP_SPEND_CAP_SESSION", DEFAULT_CAPS.feesPerSession),
    feesPerDay: amountVar(env, "ZG_MCP_SPEND_CAP_DAY", DEFAULT_CAPS.feesPerDay),
    fundsPerSession: amountVar(env, "ZG_MCP_FUNDS_CAP_SESSION", DEFAULT_CAPS.fundsPerSession),
    fundsPerDay: amountVar(env, "ZG_MCP_FUNDS_CAP_DAY", DEFAULT_CAPS.fundsPerDay),
  };
  const maxTokens = intVar(env, "ZG_MCP_MAX_TOKENS", 1024, 1, 1_000_000);
  const model = env.ZG_MODEL?.trim();
  const provider = addressVar(env, "ZG_PROVIDER");
  const maxCost = env.ZG_MCP_MAX_COST?.trim() ? amountVar(env, "ZG_MCP_MAX_COST", "0") : undefined;
  return {
    network,
    account,
    ...(user ? { user } : {}),
    caps,
    maxTokens,
    defaultMaxTokens: Math.min(256, maxTokens),
    ...(maxCost !== undefined ? { maxCostPerRequest: maxCost } : {}),
    ...(model ? { model } : {}),
    ...(provider ? { provider } : {}),
    stateDir: join(defaultHome(env), "mcp"),
  };
}
