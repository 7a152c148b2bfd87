import { describe, expect, it } from "@jest/globals";
import {
  affordableOutputTokens,
  InvalidArgumentError,
  inputTokenBound,
  MAX_UINT128,
  maxCostFor,
  RESPONSE_FORMAT_TOKEN_ALLOWANCE,
  requestedMaxTokens,
  TEMPLATE_TOKEN_ALLOWANCE,
  TOKENS_PER_TOOL,
  TOOLS_TOKEN_ALLOWANCE,
} from "../src/index.js";

const tool = { type: "function", function: { name: "f" } };

describe("pricing: the bounds client and provider compute alike", () => {
  it("the input bound is the bytes plus the template, tool and response-format allowances", () => {
    expect(inputTokenBound({}, 100)).toBe(100 + TEMPLATE_TOKEN_ALLOWANCE);
    expect(inputTokenBound({ tools: [] }, 100)).toBe(100 + TEMPLATE_TOKEN_ALLOWANCE);
    expect(inputTokenBound({ tools: [tool] }, 100)).toBe(100 + TEMPLATE_TOKEN_ALLOWANCE + TOOLS_TOKEN_ALLOWANCE + TOKENS_PER_TOOL);
    expect(inputTokenBound({ tools: [tool, tool, tool] }, 100)).toBe(
      100 + TEMPLATE_TOKEN_ALLOWANCE + TOOLS_TOKEN_ALLOWANCE + 3 * TOKENS_PER_TOOL,
    );
    expect(inputTokenBound({ tools: [tool], tool_choice: "auto" }, 100)).toBe(inputTokenBound({ tools: [tool] }, 100));
    // Tools offered with tool_choice "none" are not rendered.
    expect(inputTokenBound({ tools: [tool], tool_choice: "none" }, 100)).toBe(100 + TEMPLATE_TOKEN_ALLOWANCE);
    expect(inputTokenBound({ response_format: { type: "json_object" } }, 100)).toBe(
      100 + TEMPLATE_TOKEN_ALLOWANCE + RESPONSE_FORMAT_TOKEN_ALLOWANCE,
    );
    expect(inputTokenBound({ response_format: { type: "json_schema", json_schema: {} } }, 100)).toBe(
      100 + TEMPLATE_TOKEN_ALLOWANCE + RESPONSE_FORMAT_TOKEN_ALLOWANCE,
    );
    expect(inputTokenBound({ response_format: { type: "text" } }, 100)).toBe(100 + TEMPLATE_TOKEN_ALLOWANCE);
    expect(inputTokenBound({ response_format: "json_object" }, 100)).toBe(100 + TEMPLATE_TOKEN_ALLOWANCE);
    expect([TEMPLATE_TOKEN_ALLOWANCE, TOOLS_TOKEN_ALLOWANCE, TOKENS_PER_TOOL, RESPONSE_FORMAT_TOKEN_ALLOWANCE]).toEqual([
      256, 1536, 128, 256,
    ]);
  });

  it("the maximum cost is exact, and never wider than a ticket's uint128", () => {
    expect(maxCostFor({ inputPrice: 3n, outputPrice: 5n }, 10, 7)).toBe(65n);
    expect(maxCostFor({ inputPrice: MAX_UINT128, outputPrice: 0n }, 1, 1)).toBe(MAX_UINT128);
    expect(() => maxCostFor({ inputPrice: MAX_UINT128, outputPrice: 1n }, 1, 1)).toThrow(InvalidArgumentError);
  });

  it("affordable output: what the maximum cost leaves after the input, at most max_tokens", () => {
    const terms = { inputPrice: 2n, outputPrice: 3n, maxCost: 2n * 10n + 3n * 5n };
    expect(affordableOutputTokens(terms, 10, 8)).toBe(5);
    expect(affordableOutputTokens(terms, 10, 5)).toBe(5);
    expect(affordableOutputTokens(terms, 10, 4)).toBe(4);
    expect(affordableOutputTokens({ ...terms, maxCost: 20n + 3n * 5n - 1n }, 10, 8)).toBe(4);
    expect(affordableOutputTokens({ ...terms, maxCost: 20n }, 10, 8)).toBe(0);
    expect(affordableOutputTokens({ ...terms, maxCost: 19n }, 10, 8)).toBe(0); // not even the input
    expect(affordableOutputTokens({ ...terms, outputPrice: 0n }, 10, 8)).toBe(8); // free output: max_tokens alone
  });

  it("max_tokens must be a positive safe integer; max_completion_tokens wins", () => {
    expect(requestedMaxTokens({})).toBeUndefined();
    expect(requestedMaxTokens({ max_tokens: null })).toBeUndefined();
    expect(requestedMaxTokens({ max_tokens: 1 })).toBe(1);
    expect(requestedMaxTokens({ max_tokens: Number.MAX_SAFE_INTEGER })).toBe(Number.MAX_SAFE_INTEGER);
    expect(requestedMaxTokens({ max_tokens: 64, max_completion_tokens: 32 })).toBe(32);
    for (const bad of [0, -1, 1.5, 1e30, "64", Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => requestedMaxTokens({ max_tokens: bad })).toThrow(InvalidArgumentError);
      expect(() => requestedMaxTokens({ max_completion_tokens: bad })).toThrow(InvalidArgumentError);
    }
  });
});
