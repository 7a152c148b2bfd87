// One vocabulary of error codes: every contract error has a listed code, and every code's kind fixes the
// exit code of every command-line tool.
import { describe, expect, it } from "@jest/globals";
import { escrowAbi, serviceRegistryAbi, zkEscrowAbi } from "@0g-compute/contracts";
import {
  ContractRevertError,
  ERROR_CODES,
  errorKind,
  EXIT,
  exitCodeFor,
  InvalidArgumentError,
  KeyError,
  ModelNotFoundError,
  ProviderError,
  ReceiptError,
  RpcError,
  ZeroGError,
} from "../src/index.js";

describe("error codes", () => {
  it("lists every custom error of the contracts, as a refusal", () => {
    const names = [...escrowAbi, ...zkEscrowAbi, ...serviceRegistryAbi].filter((e) => e.type === "error").map((e) => e.name);
    expect(names.length).toBeGreaterThan(40);
    for (const name of names) {
      const err = new ContractRevertError(name, [], undefined);
      expect([name, err.code, errorKind(err.code)]).toEqual([name, expect.not.stringMatching(/^CHAIN_ERROR$/), "refused"]);
    }
    expect(new ContractRevertError("InsufficientLedger", [1n], undefined).code).toBe("INSUFFICIENT_LEDGER");
    // A name from no contract of the suite is a chain error, never an unlisted code.
    expect(new ContractRevertError("SomethingElse", [], undefined).code).toBe("CHAIN_ERROR");
  });

  it("gives the open families their kinds", () => {
    expect(errorKind("PROVIDER_INSUFFICIENT_BALANCE")).toBe("provider");
    expect(errorKind("ADMISSION_NONCE_USED")).toBe("refused");
    expect(errorKind("PROVIDER_CONFIG")).toBe("usage"); // listed: the table wins over the prefix
  });

  it("maps each kind to the same exit code in every tool", () => {
    expect(exitCodeFor(new InvalidArgumentError("x"))).toBe(EXIT.usage);
    expect(exitCodeFor(new ModelNotFoundError("m", []))).toBe(EXIT.usage);
    expect(exitCodeFor(new RpcError("down", undefined))).toBe(EXIT.network);
    expect(exitCodeFor(new ContractRevertError("InsufficientLedger", [], undefined))).toBe(EXIT.refused);
    expect(exitCodeFor(new ProviderError(402, "insufficient_balance", "no"))).toBe(EXIT.provider);
    expect(exitCodeFor(new ReceiptError("bad_signature", "bad"))).toBe(EXIT.receipt);
    expect(exitCodeFor(new KeyError("KEY_MISSING", "none"))).toBe(EXIT.key);
    expect(exitCodeFor(new ZeroGError("UNEXPECTED", "?"))).toBe(EXIT.unexpected);
    expect(exitCodeFor(new Error("plain"))).toBe(EXIT.unexpected);
    for (const kind of new Set(Object.values(ERROR_CODES))) expect(EXIT[kind]).toBeGreaterThan(0);
  });
});
