/**
 * `0g-compute`: the user CLI of 0G Compute. Accounts and keys, deposits and channels, withdrawals with
 * their lock, the service catalogue, chat, and `serve`, a local OpenAI-compatible gateway.
 * Human output by default, `--json` for scripts; exit codes in core's `EXIT`. Importing this module runs
 * nothing: the `0g-compute` bin calls {@link main}.
 */
import { createRequire } from "node:module";
import { Command, CommanderError } from "commander";
import { errorLine, EXIT, exitCodeFor } from "../cli-errors.js";
import { ZeroGError } from "../errors.js";
import { registerAccount } from "./commands/account.js";
import { registerChatAndServe } from "./commands/chat.js";
import { registerFunds } from "./commands/funds.js";
import { registerNetwork } from "./commands/network.js";
import { registerServices } from "./commands/services.js";
import type { GlobalOptions } from "./context.js";

const VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;

/** The `0g-compute` command tree. */
export function createProgram(): Command {
  const program = new Command();
  program
    .name("0g-compute")
    .description("Buy AI inference on the 0G Compute network: pay per token from escrow, verify every receipt.")
    .option("--network <name>", "devnet, galileo, mainnet or custom (env ZG_NETWORK)")
    .option("--rpc-url <url>", "JSON-RPC endpoint (env ZG_RPC_URL)")
    .option("--escrow <address>", "escrow contract (env ZG_ESCROW)")
    .option("--registry <address>", "registry contract (env ZG_REGISTRY)")
    .option("--chain-id <id>", "chain id of a custom network (env ZG_CHAIN_ID)")
    .option("--keystore <path>", "encrypted keystore (env ZG_KEYSTORE; default ~/.0g-compute/keystore.json)")
    .option("--key-env <VAR>", "read the private key from this environment variable instead (ZG_PRIVATE_KEY is used when set)")
    .option("--home <dir>", "state directory (env ZG_HOME; default ~/.0g-compute)")
    .option("--json", "machine-readable output (amounts in wei)")
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  registerNetwork(program, globals);
  registerAccount(program, globals);
  registerFunds(program, globals);
  registerServices(program, globals);
  registerChatAndServe(program, globals);
  return program;
}

/**
 * Run the CLI with `argv` (as `process.argv`) and resolve to its exit code; errors are printed, one line each.
 *
 * @example
 * process.exitCode = await main(process.argv);
 */
export async function main(argv: string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (program.opts<GlobalOptions>().json) {
      process.stdout.write(
        JSON.stringify({
          error: {
            code: err instanceof ZeroGError ? err.code : "UNEXPECTED",
            message: err instanceof Error ? err.message : String(err),
            ...(err instanceof ZeroGError && err.hint ? { hint: err.hint } : {}),
          },
        }) + "\n",
      );
    } else {
      process.stderr.write(errorLine(err) + "\n");
    }
    return exitCodeFor(err);
  }
}
