// The server's configuration from its environment: what an MCP host passes for settings the user left
// out (an empty string, or the `${user_config.…}` placeholder itself) reads as not set.
import { describe, expect, it } from "@jest/globals";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { configFromEnv } from "../src/index.js";

const key = generatePrivateKey();
/** The placeholder of a `.mcpb` manifest, as a host that did not fill it passes it on. */
const unfilled = (setting: string) => `\${user_config.${setting}}`;
const base = {
  ZG_NETWORK: "custom",
  ZG_CHAIN_ID: "31337",
  ZG_RPC_URL: "http://127.0.0.1:8545",
  ZG_ESCROW: privateKeyToAccount(generatePrivateKey()).address,
  ZG_REGISTRY: privateKeyToAccount(generatePrivateKey()).address,
  ZG_PRIVATE_KEY: key,
  ZG_HOME: "/nonexistent-0g-home",
};

describe("configFromEnv", () => {
  it("reads settings an MCP host left unfilled or empty as not set", async () => {
    const plain = await configFromEnv(base);
    for (const unset of [
      {
        ZG_SESSION_KEY: unfilled("session_key"),
        ZG_USER: unfilled("user"),
        ZG_MODEL: unfilled("model"),
        ZG_MCP_SPEND_CAP_SESSION: unfilled("spend_cap_session"),
        ZG_MCP_MAX_TOKENS: unfilled("max_tokens"),
        ZG_KEYSTORE: unfilled("keystore"),
      },
      { ZG_SESSION_KEY: "", ZG_USER: "", ZG_MODEL: "", ZG_MCP_SPEND_CAP_SESSION: "", ZG_MCP_MAX_TOKENS: "", ZG_KEYSTORE: "" },
    ]) {
      const config = await configFromEnv({ ...base, ...unset });
      expect(config.account.address).toBe(privateKeyToAccount(key).address);
      expect(config.user).toBeUndefined();
      expect(config.model).toBeUndefined();
      expect(config.caps).toEqual(plain.caps);
      expect(config.maxTokens).toBe(plain.maxTokens);
    }
  });

  it("still refuses a value that is set but wrong", async () => {
    await expect(configFromEnv({ ...base, ZG_MCP_SPEND_CAP_SESSION: "lots" })).rejects.toMatchObject({ code: "MCP_CONFIG" });
    await expect(configFromEnv({ ...base, ZG_MCP_MAX_TOKENS: unfilled("max_tokens").slice(0, -1) })).rejects.toMatchObject({
      code: "MCP_CONFIG",
    });
  });
});
