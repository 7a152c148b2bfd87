import { access, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ZeroGClient, type TxProgress } from "../client.js";
import { accountFromEnv, KeyError, loadKeystore } from "../keys.js";
import { resolveNetwork, type NetworkConfig, type NetworkPreset } from "../network.js";

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

/** The CLI's home directory: keystore, lane state, devnet pointer. */
export function homeDir(opts: GlobalOptions): string {
  return opts.home ?? process.env.ZG_HOME ?? join(homedir(), ".0g-compute");
}

/** Where `npm start -- --keep` records the running devnet. */
export function devnetFile(opts: GlobalOptions): string {
  return join(homeDir(opts), "devnet.json");
}

/** Resolve the network from flags, then environment, then the preset (and the running devnet's record). */
export async function networkFrom(opts: GlobalOptions): Promise<NetworkConfig> {
  const name = (opts.network ?? process.env.ZG_NETWORK ?? "devnet") as NetworkPreset | "custom";
  let devnet: { rpcUrl?: string; escrow?: string; registry?: string; chainId?: number; fromBlock?: string } = {};
  if (name === "devnet") {
    try {
      devnet = JSON.parse(await readFile(devnetFile(opts), "utf8")) as typeof devnet;
    } catch {
      devnet = {};
    }
  }
  const pick = (flag: string | undefined, env: string | undefined, dev: string | undefined) => flag ?? env ?? dev;
  const rpcUrl = pick(opts.rpcUrl, process.env.ZG_RPC_URL, devnet.rpcUrl);
  const escrow = pick(opts.escrow, process.env.ZG_ESCROW, devnet.escrow);
  const registry = pick(opts.registry, process.env.ZG_REGISTRY, devnet.registry);
  const chainId = opts.chainId ?? process.env.ZG_CHAIN_ID;
  return resolveNetwork(name, {
    ...(rpcUrl ? { rpcUrl } : {}),
    ...(escrow ? { escrow } : {}),
    ...(registry ? { registry } : {}),
    ...(chainId ? { chainId: Number(chainId) } : devnet.chainId ? { chainId: devnet.chainId } : {}),
    ...(devnet.fromBlock ? { fromBlock: BigInt(devnet.fromBlock) } : {}),
  });
}

/** Read a line from the terminal without echo (for passwords). */
export async function promptHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw new KeyError("KEY_BAD_PASSWORD", "no password given", "set ZG_KEYSTORE_PASSWORD when not running in a terminal");
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
  if (!(await access(path).then(() => true, () => false))) {
    throw new KeyError("KEY_MISSING", `no key to sign with: no keystore at ${path}, and ZG_PRIVATE_KEY is not set`,
      "create a key with `0g-compute account create`, import one with `0g-compute account import --from-env VAR`, or set ZG_PRIVATE_KEY (`npm start -- --keep` prints a funded devnet key)");
  }
  const password = process.env.ZG_KEYSTORE_PASSWORD ?? (await promptHidden("Keystore password: "));
  return loadKeystore(path, password);
}

/** Human progress on stderr for each transaction. */
export function progressPrinter(): (p: TxProgress) => void {
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
  const network = await networkFrom(opts);
  const account = options.needKey === false ? READ_ONLY_ACCOUNT : await accountFrom(opts);
  return new ZeroGClient({
    network,
    account,
    onProgress: progressPrinter(),
    ...(network.chainId === 31337 ? { pollingIntervalMs: 100 } : {}),
  });
}

/** JSON with bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
}

/** Print a result: JSON on stdout with --json, else the human text. */
export function output(opts: GlobalOptions, value: unknown, human: () => string): void {
  process.stdout.write((opts.json ? toJson(value) : human()) + "\n");
}
