/** How the command-line tools report errors: one line each, and an exit code per kind of failure. */
import { ContractRevertError, RpcError, TransactionError } from "./chain-errors.js";
import { ModelNotFoundError, NoProviderError } from "./discovery.js";
import { InvalidArgumentError, ZeroGError } from "./errors.js";
import { KeyError } from "./keys.js";
import { NetworkConfigError } from "./network.js";
import { ReceiptError } from "./receipt.js";
import { ProviderError } from "./wire.js";

/** Exit codes of the command-line tools (`0g-compute`, `0g-provider`, `0g-mcp-server`): stable, one per kind of failure. */
export const EXIT = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  network: 3,
  refused: 4,
  provider: 5,
  receipt: 6,
  key: 7,
} as const;

/**
 * The exit code for an error.
 *
 * @example
 * main().catch((err) => { process.stderr.write(errorLine(err) + "\n"); process.exit(exitCodeFor(err)); });
 */
export function exitCodeFor(err: unknown): number {
  if (err instanceof InvalidArgumentError) return EXIT.usage;
  if (err instanceof RpcError || err instanceof NetworkConfigError || err instanceof TransactionError) return EXIT.network;
  if (err instanceof ZeroGError && ["WRONG_CHAIN", "CONTRACT_MISSING", "DOMAIN_MISMATCH"].includes(err.code)) return EXIT.network;
  if (
    err instanceof ModelNotFoundError ||
    (err instanceof ZeroGError && ["PORT_IN_USE", "MODEL_REQUIRED", "INVALID_REQUEST", "REQUEST_NOT_JSON"].includes(err.code))
  )
    return EXIT.usage;
  if (
    err instanceof ContractRevertError ||
    (err instanceof ZeroGError && ["BUDGET_EXCEEDED", "UNKNOWN_PROVIDER", "INSUFFICIENT_FUNDS", "SPENDING_LIMIT"].includes(err.code))
  )
    return EXIT.refused;
  if (err instanceof ProviderError || err instanceof NoProviderError) return EXIT.provider;
  if (err instanceof ReceiptError) return EXIT.receipt;
  if (err instanceof KeyError) return EXIT.key;
  return EXIT.unexpected;
}

/** An error as the CLIs print it: one line with its code and, where there is one, what to do about it. */
export function errorLine(err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, " ");
  if (!(err instanceof ZeroGError)) return `error: ${message}`;
  return `error [${err.code}]: ${message}${err.hint ? `; hint: ${err.hint}` : ""}`;
}
