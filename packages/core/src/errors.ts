/**
 * Every error the SDK raises is a `ZeroGError` with a stable machine-readable `code` and, where it
 * helps, a short `hint` that says what to do about it.
 *
 * @example
 * try {
 *   await client.fund(provider, amount);
 * } catch (err) {
 *   if (err instanceof ZeroGError && err.code === "INSUFFICIENT_LEDGER") console.error(err.hint);
 * }
 */
export class ZeroGError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }
}

/** A value handed to the SDK is out of range or malformed (an amount, an address, a field width). */
export class InvalidArgumentError extends ZeroGError {
  constructor(message: string, hint?: string) {
    super("INVALID_ARGUMENT", message, hint === undefined ? {} : { hint });
  }
}
