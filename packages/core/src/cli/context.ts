import { access } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { getAddress, isAddress, type Address, type LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { formatAmount } from "../amount.js";
import { ZeroGClient } from "../client.js";
import type { TxProgress } from "../transaction.js";
import { InvalidArgumentError } from "../errors.js";
import { accountFromEnv, KeyError, loadKeystore } from "../keys.js";
import type { NetworkConfig, NetworkPreset } from "../network.js";
import { defaultHome, networkFromEnv } from "../network-env.js";

/** Options every command understands. */
export interface GlobalOptions {
  network?: string;
  rpcUrl?: string;
  escrow?: string;
  registry?: string;
  chainId?: string;
  keystore?: string;
  keyEnv?: string;
  home?: string;
  json?: boolean;
}

/** The CLI's home directory: keystore, lane state, devnet record (`--home`, else {@link defaultHome}). */
export function homeDir(opts: GlobalOptions): string {
  return opts.home ?? defaultHome();
}

/** Resolve the network from flags, then the environment, then the running devnet's record, then the preset. */
export function networkFrom(opts: GlobalOptions): NetworkConfig {
  return networkFromEnv({
    ...(opts.network ? { name: opts.network as NetworkPreset | "custom" } : {}),
    home: homeDir(opts),
    overrides: {
      ...(opts.rpcUrl ? { rpcUrl: opts.rpcUrl } : {}),
      ...(opts.escrow ? { escrow: opts.escrow as Address } : {}),
      ...(opts.registry ? { registry: opts.registry as Address } : {}),
      ...(opts.chainId ? { chainId: Number(opts.chainId) } : {}),
    },
  });
}

/** Read a line from the terminal without echo (for passwords). */
export async function promptHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY)
    throw new KeyError("KEY_BAD_PASSWORD", "no password given", "set ZG_KEYSTORE_PASSWORD when not running in a terminal");
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const output = rl as unknown as { _writeToOutput: (s: string) => void };
    process.stderr.write(question);
    output._writeToOutput = () => undefined;
    rl.question("", (answer) => {
      rl.close();
      process.stderr.write("\n");
      resolve(answer);
    });
  });
}

/** The keystore path in use. */
export function keystorePath(opts: GlobalOptions): string {
  return opts.keystore ?? process.env.ZG_KEYSTORE ?? join(homeDir(opts), "keystore.json");
}

/** The signing account: a key from an environment variable, or the encrypted keystore. */
export async function accountFrom(opts: GlobalOptions): Promise<LocalAccount> {
  const envName = opts.keyEnv ?? (process.env.ZG_PRIVATE_KEY ? "ZG_PRIVATE_KEY" : undefined);
  if (envName) return accountFromEnv(envName);
  const path = keystorePath(opts);
  if (
    !(await access(path).then(
      () => true,
      () => false,
    ))
  ) {
    throw new KeyError(
      "KEY_MISSING",
      `no key to sign with: no keystore at ${path}, and ZG_PRIVATE_KEY is not set`,
      "create a key with `0g-compute account create`, import one with `0g-compute account import --from-env VAR`, or set ZG_PRIVATE_KEY (`npm start -- --keep` prints a funded devnet key)",
    );
  }
  const password = process.env.ZG_KEYSTORE_PASSWORD ?? (await promptHidden("Keystore password: "));
  return loadKeystore(path, password);
}

/** Human progress on stderr for each transaction. */
function progressPrinter(): (p: TxProgress) => void {
  return (p) => {
    if (p.stage === "simulating") process.stderr.write(`… ${p.action}: checking\n`);
    else if (p.stage === "sent") process.stderr.write(`… ${p.action}: sent ${p.hash}, waiting for it to be mined\n`);
    else process.stderr.write(`✓ ${p.action}: mined in block ${p.blockNumber} (gas ${p.gasUsed})\n`);
  };
}

/** A throwaway account for read-only commands (catalogue, network checks), which never sign anything. */
const READ_ONLY_ACCOUNT = privateKeyToAccount(`0x${"1".padStart(64, "0")}`);

/** A client for the user's own key (or, with `needKey: false`, a read-only client). */
export async function clientFrom(opts: GlobalOptions, options: { needKey?: boolean } = {}): Promise<ZeroGClient> {
  const network = networkFrom(opts);
  const account = options.needKey === false ? READ_ONLY_ACCOUNT : await accountFrom(opts);
  return new ZeroGClient({
    network,
    account,
    onProgress: progressPrinter(),
    ...(network.chainId === 31337 ? { pollingIntervalMs: 100 } : {}),
  });
}

/** JSON with bigints as decimal strings. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
}

/** Print a result: JSON on stdout with --json, else the human text. */
export function output(opts: GlobalOptions, value: unknown, human: () => string): void {
  process.stdout.write((opts.json ? toJson(value) : human()) + "\n");
}

/** A checksummed address from a command-line argument; `what` names it in the error. */
export function address(value: string, what = "address"): Address {
  if (!isAddress(value, { strict: false })) throw new InvalidArgumentError(`not an ${what}: ${value}`);
  return getAddress(value);
}

/**
 * A chain time (unlocks, scheduled terms) for people: the date it falls on and how far it is, both on the
 * chain's clock (`chainNow`, the latest block's time), which may run ahead of or behind this machine's.
 */
export function when(unix: bigint, chainNow: bigint): string {
  if (unix === 0n) return "-";
  const delta = unix - chainNow;
  return `${new Date(Number(unix) * 1000).toISOString()} (chain time; ${delta > 0n ? `in ${delta} s` : "passed"})`;
}

/** The chain's time now: the latest block's timestamp. */
export async function chainNow(client: ZeroGClient): Promise<bigint> {
  return (await client.publicClient.getBlock()).timestamp;
}

/** Price per token in wei, shown per 1M tokens in 0G. */
export function perMillion(pricePerToken: bigint): string {
  return formatAmount(pricePerToken * 1_000_000n);
}
