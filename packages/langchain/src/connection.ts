// How the LangChain classes pay: the network, the key, the selection of providers, the spending caps and the
// lane store, turned into one of core's paid fetches. Shared by ChatZeroG and ZeroGEmbeddings.
import { getAddress, isAddress, type Address, type Hex, type LocalAccount } from "viem";
import {
  createPaidFetch,
  keyFromEnv,
  networkFromEnv,
  NoProviderError,
  parseAmount,
  ProviderError,
  SpendingLimit,
  signingAccount,
  ZeroGClient,
  ZeroGError,
  type LaneStore,
  type NetworkConfig,
  type NetworkOverrides,
  type NetworkPreset,
  type PaidFetch,
  type SortBy,
  type VerifiedReceipt,
} from "@0g-compute/core";
import { ChatZeroGError } from "./errors.js";

/** How a LangChain class of this package pays: network, key, which providers, spending caps, lane state. */
export interface ZeroGConnectionFields {
  /** A preset ("devnet", "galileo", "mainnet", "custom") or a full network config (default `$ZG_NETWORK`, else "devnet"). */
  network?: NetworkPreset | "custom" | NetworkConfig;
  /** RPC URL and contract addresses over the preset (and over `ZG_RPC_URL`, `ZG_ESCROW`, `ZG_REGISTRY`). */
  networkOverrides?: NetworkOverrides;
  /** The payer's private key (hex). Default: `$ZG_PRIVATE_KEY`. Never serialized. */
  privateKey?: Hex;
  /** A session key (hex) the payer authorized on-chain for its channels; needs `user`. Never serialized. */
  sessionKey?: Hex;
  /** The payer's address when signing with a session key or a delegated account. */
  user?: Address;
  /** A signing account instead of a raw key (e.g. from an encrypted keystore). */
  account?: LocalAccount;
  /** The model to buy, as listed in the registry. Required unless `provider` is given. */
  model?: string;
  /** Only this provider's services. */
  provider?: Address;
  /** Rank providers by blended price (default) or by measured latency; the next one is tried when one fails. */
  sortBy?: SortBy;
  /** Skip services above these prices (wei per token). */
  maxInputPrice?: bigint;
  maxOutputPrice?: bigint;
  /** Spending cap over the life of this object: 0G as a decimal string ("0.01"), or wei as a bigint. */
  maxSpend?: string | bigint;
  /** A shared spending limit (several models, windows per day...); alternative to `maxSpend`. */
  spendingLimit?: SpendingLimit;
  /** Refuse any single request whose maximum cost is above this (0G string or wei). */
  maxCostPerRequest?: string | bigint;
  /**
   * Lane state (nonces, acknowledged fees). Default: core's `processLaneStore`, shared by every client of
   * the process, so any number of instances on one key work together; pass a `FileLaneStore` to keep it
   * across restarts or share it with other processes on the same key.
   */
  store?: LaneStore;
  /** Called for every receipt verified. */
  onReceipt?: (receipt: VerifiedReceipt) => void;
  /** Transport to the providers (default: core's). */
  fetch?: typeof fetch;
}

/** A paid fetch, opened on first use. */
export interface Connection {
  paidFetch: PaidFetch;
  network: NetworkConfig;
}

/** Retry only what another attempt can fix: every provider failing, a 5xx or 429. Never a refusal to pay, a bad receipt or an abort. */
export function retryOnlyTransient(error: unknown): void {
  if (error && typeof error === "object" && "name" in error && (error.name === "AbortError" || error.name === "TimeoutError")) throw error;
  if (error instanceof NoProviderError) return;
  if (error instanceof ProviderError) {
    if (error.status >= 500 || error.status === 429) return;
    throw error;
  }
  if (error instanceof ZeroGError) throw error;
}

function toWei(value: string | bigint): bigint {
  return typeof value === "bigint" ? value : parseAmount(value);
}

const CONNECTION_KEYS = [
  "network",
  "networkOverrides",
  "privateKey",
  "sessionKey",
  "user",
  "account",
  "model",
  "provider",
  "sortBy",
  "maxInputPrice",
  "maxOutputPrice",
  "maxSpend",
  "spendingLimit",
  "maxCostPerRequest",
  "store",
  "onReceipt",
  "fetch",
] as const satisfies readonly (keyof ZeroGConnectionFields)[];

const isHexKey = (k: string) => /^0x[0-9a-fA-F]{64}$/.test(k);

/**
 * The connection fields checked (keys, addresses, amounts) and normalized (checksummed addresses, the
 * spending limit built from `maxSpend`), to assign onto the object. Throws {@link ChatZeroGError}
 * `CHAT_CONFIG`.
 */
export function connectionFieldsOf(fields: ZeroGConnectionFields): ZeroGConnectionFields {
  if (fields.privateKey !== undefined && !isHexKey(fields.privateKey))
    throw new ChatZeroGError("CHAT_CONFIG", "privateKey is not a 32-byte hex key");
  if (fields.sessionKey !== undefined && !isHexKey(fields.sessionKey))
    throw new ChatZeroGError("CHAT_CONFIG", "sessionKey is not a 32-byte hex key");
  if (fields.sessionKey !== undefined && fields.user === undefined)
    throw new ChatZeroGError("CHAT_CONFIG", "a session key signs for a user: pass user (the payer's address)");
  for (const [name, value] of [
    ["user", fields.user],
    ["provider", fields.provider],
  ] as const) {
    if (value !== undefined && !isAddress(value, { strict: false }))
      throw new ChatZeroGError("CHAT_CONFIG", `${name} is not an address: ${value}`);
  }
  if (fields.maxSpend !== undefined && fields.spendingLimit !== undefined)
    throw new ChatZeroGError("CHAT_CONFIG", "pass maxSpend or spendingLimit, not both");
  if (fields.maxCostPerRequest !== undefined) toWei(fields.maxCostPerRequest);
  const spendingLimit =
    fields.maxSpend !== undefined ? new SpendingLimit({ caps: [{ name: "maxSpend", cap: toWei(fields.maxSpend) }] }) : fields.spendingLimit;
  const defined = Object.fromEntries(
    CONNECTION_KEYS.filter((k) => fields[k] !== undefined).map((k) => [k, fields[k]]),
  ) as ZeroGConnectionFields;
  return {
    ...defined,
    ...(fields.user !== undefined ? { user: getAddress(fields.user) } : {}),
    ...(fields.provider !== undefined ? { provider: getAddress(fields.provider) } : {}),
    ...(spendingLimit ? { spendingLimit } : {}),
  };
}

function signerOf(fields: ZeroGConnectionFields): { signer: LocalAccount; user: Address } {
  if (fields.account) return { signer: fields.account, user: fields.user ?? fields.account.address };
  if (fields.sessionKey) return { signer: signingAccount(fields.sessionKey), user: fields.user! };
  let key = fields.privateKey;
  if (!key) {
    if (!process.env.ZG_PRIVATE_KEY)
      throw new ChatZeroGError("CHAT_NO_KEY", "no key to pay with", "pass privateKey (or sessionKey and user), or set ZG_PRIVATE_KEY");
    key = keyFromEnv("ZG_PRIVATE_KEY");
  }
  const signer = signingAccount(key);
  return { signer, user: fields.user ?? signer.address };
}

/** Open the paid fetch the fields describe (the deployment checked first); `onReceipt` sees every verified receipt. */
export async function openConnection(fields: ZeroGConnectionFields, onReceipt: (receipt: VerifiedReceipt) => void): Promise<Connection> {
  const network =
    typeof fields.network === "object"
      ? fields.network
      : networkFromEnv({
          ...(fields.network ? { name: fields.network } : {}),
          ...(fields.networkOverrides ? { overrides: fields.networkOverrides } : {}),
        });
  const { signer, user } = signerOf(fields);
  const client = new ZeroGClient({ network, account: signer });
  await client.verifyDeployment();
  const paidFetch = createPaidFetch({
    client,
    user,
    ...(fields.store ? { store: fields.store } : {}),
    select: {
      ...(fields.model !== undefined ? { model: fields.model } : {}),
      ...(fields.provider !== undefined ? { provider: fields.provider } : {}),
      ...(fields.maxInputPrice !== undefined ? { maxInputPrice: fields.maxInputPrice } : {}),
      ...(fields.maxOutputPrice !== undefined ? { maxOutputPrice: fields.maxOutputPrice } : {}),
      ...(fields.sortBy !== undefined ? { sortBy: fields.sortBy } : {}),
    },
    ...(fields.maxCostPerRequest !== undefined ? { maxCostPerRequest: toWei(fields.maxCostPerRequest) } : {}),
    ...(fields.spendingLimit ? { spendingLimit: fields.spendingLimit } : {}),
    ...(fields.fetch ? { fetch: fields.fetch } : {}),
    onReceipt,
  });
  return { paidFetch, network };
}

/** Constructor fields as kept for serialization: amounts as strings, live objects left out (keys are secrets, see `lc_secrets`). */
export function serializableFields<T extends ZeroGConnectionFields>(fields: T): T {
  const { account: _account, spendingLimit: _limit, store: _store, onReceipt: _onReceipt, fetch: _fetch, ...rest } = fields;
  const out: Record<string, unknown> = { ...rest };
  for (const key of ["maxSpend", "maxCostPerRequest", "maxInputPrice", "maxOutputPrice"] as const) {
    const value = fields[key];
    if (typeof value === "bigint") out[key] = `${value}wei`;
  }
  if (typeof fields.network === "object") out.network = { ...fields.network, fromBlock: fields.network.fromBlock.toString() };
  if (fields.networkOverrides?.fromBlock !== undefined)
    out.networkOverrides = { ...fields.networkOverrides, fromBlock: fields.networkOverrides.fromBlock.toString() };
  return out as T;
}
