import type { ProtocolErrorCode } from "./wire.js";

/**
 * What kind of failure an error is. Each kind has its own exit code in every command-line tool
 * ({@link EXIT}): `usage` (a bad argument or configuration), `network` (the chain or RPC), `refused`
 * (a cap, a balance or a contract said no; nothing was spent), `provider` (the provider failed or
 * misbehaved), `receipt` (a receipt did not verify), `key` (no usable key), `unexpected` (anything else).
 */
export type ErrorKind = "usage" | "network" | "refused" | "provider" | "receipt" | "key" | "unexpected";

/**
 * Every error code the suite raises (core, the LangChain model, the MCP server, the provider node), with
 * its kind. `docs/errors.md` explains each one. Two families are open-ended and not listed:
 * `PROVIDER_<CODE>` (a provider refused with its protocol code, kind `provider`) and `ADMISSION_<CODE>`
 * (the provider side of the same refusal, kind `refused`).
 */
export const ERROR_CODES = {
  // Arguments and configuration.
  INVALID_ARGUMENT: "usage",
  INVALID_REQUEST: "usage",
  REQUEST_NOT_JSON: "usage",
  MODEL_REQUIRED: "usage",
  MODEL_NOT_FOUND: "usage",
  PORT_IN_USE: "usage",
  LISTEN_FAILED: "usage",
  NETWORK_CONFIG: "network",
  PROVIDER_CONFIG: "usage",
  MCP_CONFIG: "usage",
  CHAT_CONFIG: "usage",
  // The chain and its RPC.
  RPC_UNAVAILABLE: "network",
  CHAIN_ERROR: "network",
  TX_REVERTED: "network",
  TX_TIMEOUT: "network",
  WRONG_CHAIN: "network",
  CONTRACT_MISSING: "network",
  DOMAIN_MISMATCH: "network",
  // Refused before anything was spent: caps, balances, unknown providers.
  INSUFFICIENT_FUNDS: "refused",
  BUDGET_EXCEEDED: "refused",
  SPENDING_LIMIT: "refused",
  FUNDS_CAP: "refused",
  UNKNOWN_PROVIDER: "refused",
  SESSION_KEY_ONLY: "refused",
  // The provider's answers.
  NO_PROVIDER: "provider",
  WIRE_FORMAT: "provider",
  SSE_NOT_JSON: "provider",
  STREAM_RECEIPT_MISSING: "provider",
  CHAT_BAD_RESPONSE: "provider",
  EMBEDDINGS_BAD_RESPONSE: "provider",
  RECEIPT_INVALID: "receipt",
  // Keys.
  KEY_MISSING: "key",
  KEY_NOT_FOUND: "key",
  KEY_BAD_PASSWORD: "key",
  KEY_MALFORMED: "key",
  KEY_EXISTS: "key",
  KEY_UNSAFE_PERMISSIONS: "key",
  CHAT_NO_KEY: "key",
  // Local state and processes.
  LANE_LOCKED: "unexpected",
  LANE_STATE_CORRUPT: "unexpected",
  LANE_STORE_CLOSED: "unexpected",
  STORE_COMMIT_FAILED: "unexpected",
  SHUTTING_DOWN: "unexpected",
  NODE_NOT_RUNNING: "network",
  ADMIN_REFUSED: "refused",
  BACKEND_ERROR: "provider",
  UNEXPECTED: "unexpected",
  // ZK settlement (the provider's prover and the client's channel index).
  ZK_AMOUNT_RANGE: "usage",
  ZK_OUT_OF_FIELD: "usage",
  ZK_BAD_DATA: "unexpected",
  ZK_BAD_DEPTH: "unexpected",
  ZK_BAD_KEY: "key",
  ZK_BAD_LEAF: "unexpected",
  ZK_INDEX_CALL: "network",
  ZK_INDEX_GAP: "network",
  ZK_INDEX_ROOT: "network",
  ZK_QUEUE_MISMATCH: "unexpected",
  ZK_PROVE_FAILED: "unexpected",
  // The contracts' custom errors, by name in SCREAMING_SNAKE_CASE (ContractRevertError).
  ALREADY_STAKED: "refused",
  AMOUNT_TOO_LARGE: "refused",
  BAD_DELEGATION_NONCE: "refused",
  BAD_DELEGATION_SIGNATURE: "refused",
  BAD_MERKLE_PROOF: "refused",
  BAD_ZK_CONFIG: "refused",
  BAD_ZK_DATA: "refused",
  BATCH_TOO_LARGE: "refused",
  BELOW_MIN_FUND: "refused",
  CAP_DECREASE: "refused",
  CHANNEL_IN_ZK_MODE: "refused",
  CHANNEL_NOT_EMPTY: "refused",
  DEPOSIT_PENDING: "refused",
  EMPTY_BATCH: "refused",
  FIELD_LENGTH: "refused",
  INSUFFICIENT_CHANNEL: "refused",
  INSUFFICIENT_LEDGER: "refused",
  INVALID_KEY: "refused",
  INVALID_PROOF: "refused",
  INVALID_SHORT_STRING: "refused",
  INVALID_ZK_KEY: "refused",
  KEY_NOT_AUTHORIZED: "refused",
  LOCK_OUT_OF_RANGE: "refused",
  NAME_IMMUTABLE: "refused",
  NO_PENDING_WITHDRAW: "refused",
  NOT_AFIELD_ELEMENT: "refused",
  NOT_FROZEN: "refused",
  NOT_SERVICE_OWNER: "refused",
  NOT_STAKED: "refused",
  NOT_UNBONDING: "refused",
  NOTHING_TO_RECLAIM: "refused",
  NOTHING_TO_WITHDRAW: "refused",
  REENTRANCY_GUARD_REENTRANT_CALL: "refused",
  SELF_CHANNEL: "refused",
  SERVICE_EXISTS: "refused",
  STILL_BONDED: "refused",
  STRING_TOO_LONG: "refused",
  TERMS_DELAY_TOO_SHORT: "refused",
  TOO_MANY_SERVICES: "refused",
  TRANSFER_FAILED: "refused",
  TREE_FULL: "refused",
  UNBOND_TOO_SHORT: "refused",
  UNBONDING: "refused",
  UNKNOWN_SERVICE: "refused",
  VALID_UNTIL_IN_PAST: "refused",
  WITHDRAW_LOCKED: "refused",
  WRONG_STAKE: "refused",
  ZERO_ADDRESS: "refused",
  ZERO_AMOUNT: "refused",
  ZERO_SIGNER: "refused",
  ZK_AMOUNT_TOO_LARGE: "refused",
  ZK_CHANNEL_NOT_ACTIVE: "refused",
  ZK_CHANNEL_OPEN: "refused",
  ZK_FROZEN: "refused",
  ZK_KEY_MISMATCH: "refused",
  ZK_QUEUE_FULL: "refused",
} as const satisfies Record<string, ErrorKind>;

/** A code listed in {@link ERROR_CODES}. */
export type ListedErrorCode = keyof typeof ERROR_CODES;

/**
 * The code of a {@link ZeroGError}: a listed code, `PROVIDER_<CODE>` for a provider's refusal as a client
 * sees it ({@link ProviderError}), or `ADMISSION_<CODE>` for the same refusal raised on the provider.
 */
export type ErrorCode = ListedErrorCode | `PROVIDER_${Uppercase<string>}` | `ADMISSION_${Uppercase<ProtocolErrorCode>}`;

/**
 * The kind of failure a code stands for.
 *
 * @example
 * errorKind("SPENDING_LIMIT"); // "refused"
 * errorKind("PROVIDER_INSUFFICIENT_BALANCE"); // "provider"
 */
export function errorKind(code: ErrorCode): ErrorKind {
  if (Object.hasOwn(ERROR_CODES, code)) return ERROR_CODES[code as ListedErrorCode];
  if (code.startsWith("PROVIDER_")) return "provider";
  if (code.startsWith("ADMISSION_")) return "refused";
  return "unexpected";
}

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
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
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
