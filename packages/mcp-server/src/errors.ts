import { ZeroGError } from "@0g-compute/core";

/**
 * The operator's configuration (environment variables or options) is missing or malformed.
 *
 * @example
 * try {
 *   await configFromEnv(process.env);
 * } catch (err) {
 *   if (err instanceof McpConfigError) console.error(err.message, err.hint);
 * }
 */
export class McpConfigError extends ZeroGError {
  constructor(message: string, hint?: string) {
    super("MCP_CONFIG", message, hint === undefined ? {} : { hint });
  }
}

/**
 * A deposit or channel funding would move more than the operator allows per session or per day.
 * Nothing was sent.
 */
export class FundsCapError extends ZeroGError {
  constructor(
    readonly limit: string,
    readonly cap: bigint,
    readonly moved: bigint,
    readonly requested: bigint,
    formatted: { cap: string; moved: string; requested: string },
  ) {
    super(
      "FUNDS_CAP",
      `refused: moving ${formatted.requested} would exceed the ${limit} cap on funds moved (${formatted.moved} moved of ${formatted.cap}); nothing was sent`,
      {
        hint: "ask the operator to raise ZG_MCP_FUNDS_CAP_SESSION / ZG_MCP_FUNDS_CAP_DAY, or move a smaller amount",
      },
    );
  }
}

/** A tool cannot run with this server's key: a session key signs tickets but cannot move funds. */
export class SessionKeyOnlyError extends ZeroGError {
  constructor(action: string) {
    super("SESSION_KEY_ONLY", `${action} needs the account's own key; this server holds a session key, which can only pay for inference`, {
      hint: "run the action with the 0g-compute CLI, or configure the server with the account's key",
    });
  }
}
