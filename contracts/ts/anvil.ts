import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { mnemonicToAccount } from "viem/accounts";
import type { Hex } from "viem";

/** The mnemonic anvil derives its funded development accounts from. Public: never use it for real funds. */
export const ANVIL_MNEMONIC = "test test test test test test test test test test test junk";

/** Options for {@link startAnvil}. */
export interface AnvilOptions {
  /** Chain id (default 31337). */
  chainId?: number;
  /** Number of funded accounts (default 10). */
  accounts?: number;
  /** Balance of each account in whole native tokens (default 10000). */
  balance?: number;
  /** Seconds between blocks; omit for automine (a block per transaction). */
  blockTime?: number;
  /** Extra command-line flags (e.g. `--steps-tracing` for opcode traces). */
  extraArgs?: string[];
  /** Milliseconds to wait for anvil to listen (default 15000). */
  startTimeoutMs?: number;
}

/** A running anvil node bound to 127.0.0.1. */
export interface Anvil {
  /** HTTP JSON-RPC URL, e.g. `http://127.0.0.1:41234`. */
  readonly rpcUrl: string;
  readonly port: number;
  /** PID of the anvil process itself (not a wrapper). */
  readonly pid: number;
  readonly chainId: number;
  /** Private keys of the funded development accounts, in anvil's order. */
  readonly privateKeys: readonly Hex[];
  /** Stop the node by its PID (SIGTERM, then SIGKILL after 3 s). Safe to call twice. */
  stop(): Promise<void>;
}

/** Path of the anvil binary shipped by the `@foundry-rs/anvil-<os>-<arch>` npm package. */
export function anvilBinaryPath(): string {
  const require = createRequire(import.meta.url);
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`;
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${pkg}/package.json`);
  } catch {
    throw new Error(`anvil is not installed for ${process.platform}-${arch} (missing npm package ${pkg})`);
  }
  return join(dirname(pkgJson), "bin", process.platform === "win32" ? "anvil.exe" : "anvil");
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  // Last resort: never leave a node behind when the parent exits without calling stop().
  for (const child of running) {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
});

/**
 * Start anvil on 127.0.0.1 on a free port and wait until it listens.
 *
 * @example
 * const anvil = await startAnvil();
 * try {
 *   // use anvil.rpcUrl and anvil.privateKeys[0]
 * } finally {
 *   await anvil.stop();
 * }
 */
export async function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  const chainId = options.chainId ?? 31337;
  const accounts = options.accounts ?? 10;
  const args = [
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--chain-id",
    String(chainId),
    "--accounts",
    String(accounts),
    "--balance",
    String(options.balance ?? 10_000),
    "--mnemonic",
    ANVIL_MNEMONIC,
  ];
  if (options.blockTime !== undefined) args.push("--block-time", String(options.blockTime));
  if (options.extraArgs) args.push(...options.extraArgs);

  const child = spawn(anvilBinaryPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  const pid = child.pid;
  if (pid === undefined) throw new Error("anvil failed to start");

  let output = "";
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`anvil did not listen within ${options.startTimeoutMs ?? 15_000} ms:\n${output}`)),
      options.startTimeoutMs ?? 15_000,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      const match = /Listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePort(Number(match[1]));
      }
    };
    const fail = (err: Error): void => {
      clearTimeout(timer);
      if (child.exitCode === null) child.kill("SIGKILL");
      reject(err);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.once("exit", (code) => fail(new Error(`anvil exited with code ${code}:\n${output}`)));
    child.once("error", fail);
  });
  // Keep draining its output so the pipe never fills, but drop it.
  child.stdout.removeAllListeners("data");
  child.stderr.removeAllListeners("data");
  child.stdout.resume();
  child.stderr.resume();

  const privateKeys: Hex[] = [];
  for (let i = 0; i < accounts; i++) {
    const account = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i });
    const key = account.getHdKey().privateKey;
    if (!key) throw new Error("could not derive anvil account key");
    privateKeys.push(`0x${Buffer.from(key).toString("hex")}`);
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= new Promise<void>((resolveStop) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        running.delete(child);
        resolveStop();
        return;
      }
      const killTimer = setTimeout(() => {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }, 3000);
      child.once("exit", () => {
        clearTimeout(killTimer);
        running.delete(child);
        resolveStop();
      });
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        clearTimeout(killTimer);
        running.delete(child);
        resolveStop();
      }
    });
    return stopping;
  };

  return { rpcUrl: `http://127.0.0.1:${port}`, port, pid, chainId, privateKeys, stop };
}
