import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { NETWORK_PRESETS, networkFromEnv, readDevnetRecord } from "../src/index.js";

describe("networkFromEnv", () => {
  let home: string;
  const escrow = "0x1111111111111111111111111111111111111111";
  const registry = "0x2222222222222222222222222222222222222222";
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), "0g-network-env-"));
    await writeFile(
      join(home, "devnet.json"),
      JSON.stringify({ rpcUrl: "http://127.0.0.1:41234", chainId: 31337, escrow, registry, fromBlock: "7" }),
    );
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it("reads the running devnet's record for the devnet preset", () => {
    expect(readDevnetRecord(home)).toMatchObject({ rpcUrl: "http://127.0.0.1:41234", fromBlock: "7" });
    expect(networkFromEnv({ env: { ZG_HOME: home } })).toEqual({
      name: "devnet",
      chainId: 31337,
      rpcUrl: "http://127.0.0.1:41234",
      escrow,
      registry,
      fromBlock: 7n,
      confirmations: 0,
    });
  });

  it("environment beats the record, explicit overrides beat both; no record means the preset", () => {
    const net = networkFromEnv({ env: { ZG_HOME: home, ZG_RPC_URL: "http://127.0.0.1:5000" }, overrides: { escrow: registry } });
    expect(net).toMatchObject({ rpcUrl: "http://127.0.0.1:5000", escrow: registry, registry });
    const bare = networkFromEnv({ env: {}, home: join(home, "missing") });
    expect(bare).toMatchObject({ rpcUrl: NETWORK_PRESETS.devnet.rpcUrl, escrow: NETWORK_PRESETS.devnet.escrow });
    expect(() => networkFromEnv({ name: "galileo", env: {}, home })).toThrow(expect.objectContaining({ code: "NETWORK_CONFIG" }));
  });
});
