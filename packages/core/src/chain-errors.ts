import { escrowAbi, serviceRegistryAbi, zkEscrowAbi } from "@0g-compute/contracts";
import {
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  HttpRequestError,
  InsufficientFundsError,
  TimeoutError,
  WaitForTransactionReceiptTimeoutError,
  type Hash,
  type Hex,
} from "viem";
import { ERROR_CODES, type ListedErrorCode, ZeroGError } from "./errors.js";

/** Hints for the contracts' custom errors, by error name. */
const REVERT_HINTS: Record<string, string> = {
  InsufficientLedger: "deposit more first (0g-compute deposit), or fund with deposit-and-fund",
  InsufficientChannel: "the channel holds less than that; check 0g-compute balance",
  BelowMinFund: "a channel must hold at least the deployment's minimum funding",
  WithdrawLocked: "the withdrawal lock has not passed yet; see the unlock time in 0g-compute balance",
  NoPendingWithdraw: "request a withdrawal first (0g-compute withdraw request)",
  SelfChannel: "a provider cannot open a channel to itself",
  ZeroAmount: "the amount must be above zero",
  CapDecrease: "a session key's cap can only rise; revoke it and authorize a new key instead",
  ValidUntilInPast: "a session key's expiry must be in the future",
  InvalidKey: "a session key must be a fresh address, not the user's or the provider's",
  NothingToWithdraw: "no settled earnings to withdraw",
  NotStaked: "post the listing bond first (0g-provider register does it)",
  UnknownService: "no such service in the registry",
};

/** The chain refused a call: a contract's custom error, decoded. `code` is the error name in SCREAMING_SNAKE_CASE. */
export class ContractRevertError extends ZeroGError {
  readonly errorName: string;
  readonly args: readonly unknown[];
  constructor(errorName: string, args: readonly unknown[], cause: unknown) {
    const hint = REVERT_HINTS[errorName];
    const code = errorName.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
    // Every custom error of the suite's contracts is listed in ERROR_CODES (a test holds the list to the ABIs).
    super(
      Object.hasOwn(ERROR_CODES, code) ? (code as ListedErrorCode) : "CHAIN_ERROR",
      `the contract refused: ${errorName}(${args.map(String).join(", ")})`,
      hint === undefined ? { cause } : { hint, cause },
    );
    this.errorName = errorName;
    this.args = args;
  }
}

/** The custom errors of the suite's contracts, to decode a revert whose call carried only its function's ABI. */
const SUITE_ERRORS = [...escrowAbi, ...zkEscrowAbi, ...serviceRegistryAbi].filter((item) => item.type === "error");

/**
 * Decode revert data against the suite's custom errors. viem decodes a simulation's revert with the
 * contract's whole ABI, but the request a simulation returns carries only the function, so a revert
 * while sending (the state changed after the simulation) arrives as a bare selector and arguments.
 */
function decodeSuiteError(raw: Hex | undefined): { errorName: string; args: readonly unknown[] } | undefined {
  if (raw === undefined || raw.length < 10) return undefined;
  try {
    const decoded = decodeErrorResult({ abi: SUITE_ERRORS, data: raw });
    return { errorName: decoded.errorName, args: decoded.args ?? [] };
  } catch {
    return undefined;
  }
}

/** The RPC endpoint could not be reached or failed. Nothing was sent, or the outcome is unknown (see `txHash`). */
export class RpcError extends ZeroGError {
  readonly txHash: Hash | undefined;
  constructor(message: string, cause: unknown, txHash?: Hash) {
    super("RPC_UNAVAILABLE", message, {
      hint: "check the RPC URL and your connection; if a transaction hash is shown, check it before retrying",
      cause,
    });
    this.txHash = txHash;
  }
}

/** A transaction was mined but reverted, or was not mined in time (dropped or replaced). */
export class TransactionError extends ZeroGError {
  readonly txHash: Hash;
  constructor(code: "TX_REVERTED" | "TX_TIMEOUT", message: string, txHash: Hash, cause?: unknown) {
    super(code, message, {
      hint:
        code === "TX_TIMEOUT"
          ? "the transaction may have been dropped; check its hash and your balance before retrying"
          : "the state changed between simulation and mining; check balances and retry",
      cause,
    });
    this.txHash = txHash;
  }
}

/** Turn anything viem throws into a typed {@link ZeroGError}; a ZeroGError passes through. */
export function toZeroGError(err: unknown, txHash?: Hash): ZeroGError {
  if (err instanceof ZeroGError) return err;
  if (err instanceof BaseError) {
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      const decoded = revert.data?.errorName
        ? { errorName: revert.data.errorName, args: revert.data.args ?? [] }
        : decodeSuiteError(revert.raw);
      if (decoded) return new ContractRevertError(decoded.errorName, decoded.args, err);
    }
    if (err.walk((e) => e instanceof InsufficientFundsError)) {
      return new ZeroGError("INSUFFICIENT_FUNDS", "the account's wallet holds too little for this amount plus gas", {
        hint: "send 0G to the account first (0g-compute account show prints its address; on the devnet, use the funded key npm start -- --keep prints)",
        cause: err,
      });
    }
    if (err instanceof WaitForTransactionReceiptTimeoutError && txHash) {
      return new TransactionError("TX_TIMEOUT", `transaction ${txHash} was not mined in time`, txHash, err);
    }
    if (err.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError)) {
      return new RpcError(`RPC request failed: ${err.shortMessage}`, err, txHash);
    }
    return new ZeroGError("CHAIN_ERROR", err.shortMessage, { cause: err });
  }
  if (err instanceof Error && /fetch failed|ECONNREFUSED|ENOTFOUND/i.test(err.message)) return new RpcError(err.message, err, txHash);
  return new ZeroGError("UNEXPECTED", err instanceof Error ? err.message : String(err), { cause: err });
}
