/** How the command-line tools report errors: one line each, and an exit code per kind of failure. */
import { type ErrorKind, errorKind, ZeroGError } from "./errors.js";

/** Exit codes of the command-line tools (`0g-compute`, `0g-provider`, `0g-mcp-server`): stable, one per {@link ErrorKind}. */
export const EXIT = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  network: 3,
  refused: 4,
  provider: 5,
  receipt: 6,
  key: 7,
} as const satisfies Record<ErrorKind | "ok", number>;

/**
 * The exit code for an error: the one of its code's kind ({@link errorKind}); 1 for anything that is not a
 * {@link ZeroGError}.
 *
 * @example
 * main().catch((err) => { process.stderr.write(errorLine(err) + "\n"); process.exit(exitCodeFor(err)); });
 */
export function exitCodeFor(err: unknown): number {
  return err instanceof ZeroGError ? EXIT[errorKind(err.code)] : EXIT.unexpected;
}

/** An error as the CLIs print it: one line with its code and, where there is one, what to do about it. */
export function errorLine(err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, " ");
  if (!(err instanceof ZeroGError)) return `error: ${message}`;
  return `error [${err.code}]: ${message}${err.hint ? `; hint: ${err.hint}` : ""}`;
}
