// The 0g-compute CLI as a user runs it: a child process per command, against a local chain and a protocol peer.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { getContract, keccak256, toHex, type Hex, type LocalAccount } from "viem";
import { serviceRegistryAbi } from "@0g-compute/contracts";
import { startLocalChain, type LocalChain } from "@0g-compute/contracts/testing";
import { escrowDomain } from "../src/index.js";
import { startPeer, type Peer } from "./peer.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const cliPath = join(root, "packages", "core", "bin", "0g-compute.js"); // the bin, with the source under tsx

describe("0g-compute CLI", () => {
  let chain: LocalChain;
  let peer: Peer;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let provider: Hex;

  function cli(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(join(root, "node_modules", ".bin", "tsx"), ["--conditions=@0g-compute/source", cliPath, ...args], {
        cwd: root,
        env,
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.once("error", reject);
      child.once("exit", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input ?? "");
    });
  }
  const json = async (args: string[]) => {
    const r = await cli([...args, "--json"]);
    if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stdout} ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  beforeAll(async () => {
    chain = await startLocalChain({ params: { lockSeconds: 600n } });
    home = await mkdtemp(join(tmpdir(), "0g-cli-"));
    await writeFile(
      join(home, "devnet.json"),
      JSON.stringify({
        rpcUrl: chain.rpcUrl,
        escrow: chain.deployment.escrow,
        registry: chain.deployment.registry,
        chainId: chain.chain.id,
      }),
    );
    env = { PATH: process.env.PATH, HOME: home, ZG_HOME: home, ZG_PRIVATE_KEY: chain.anvil.privateKeys[1] };
    const wallet = chain.wallet(2);
    provider = wallet.account.address;
    let terms = { serviceId: `0x${"0".repeat(64)}` as Hex, versions: [{ version: 1, inputPrice: 10n ** 9n, outputPrice: 2n * 10n ** 9n }] };
    peer = await startPeer({
      domain: escrowDomain(chain.chain.id, chain.deployment.escrow),
      provider,
      signer: wallet.account as LocalAccount,
      terms: () => terms,
    });
    const registry = getContract({
      address: chain.deployment.registry,
      abi: serviceRegistryAbi,
      client: { public: chain.publicClient, wallet },
    });
    await chain.publicClient.waitForTransactionReceipt({
      hash: await registry.write.stake({ value: chain.deployment.params.providerStake }),
    });
    await chain.publicClient.waitForTransactionReceipt({
      hash: await registry.write.addService([
        {
          name: "chat",
          model: "peer-model",
          modelHash: keccak256(toHex("m")),
          quantization: "Q4_K_M",
          endpoint: peer.url,
          inputPrice: 10n ** 9n,
          outputPrice: 2n * 10n ** 9n,
          signer: provider,
          metadata: "{}",
        },
      ]),
    });
    const service = (await registry.read.getProviderServices([provider]))[0]!;
    terms = { serviceId: service.id, versions: [{ version: service.version, inputPrice: 10n ** 9n, outputPrice: 2n * 10n ** 9n }] };
  });
  afterAll(async () => {
    await peer?.close();
    await chain?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it("network: resolves the running devnet and checks it", async () => {
    const r = await json(["network"]);
    expect(r).toMatchObject({ chainId: 31337, escrow: chain.deployment.escrow, lockSeconds: "600" });
  });

  it("deposit, fund, balance, withdraw request and complete, with exit codes that mean something", async () => {
    expect(await json(["deposit", "0.01"])).toMatchObject({ amount: "10000000000000000" });
    expect(await json(["fund", provider, "0.004"])).toMatchObject({ amount: "4000000000000000" });
    expect(await json(["fund", provider, "0.001", "--deposit"])).toMatchObject({ amount: "1000000000000000" });
    const b = await json(["balance"]);
    expect(b).toMatchObject({ ledger: "6000000000000000", channels: [{ provider, balance: "5000000000000000", pendingWithdraw: "0" }] });
    const human = await cli(["balance"]);
    expect(human.stdout).toMatch(/channel {2}0x[0-9a-fA-F]{40}: 0\.005 0G/);

    const req = await json(["withdraw", "request", provider, "all"]);
    expect(req.amount).toBe("5000000000000000");
    const early = await cli(["withdraw", "complete", provider, "--json"]);
    expect(early.code).toBe(4);
    expect(JSON.parse(early.stdout)).toMatchObject({ error: { code: "WITHDRAW_LOCKED" } });
    await chain.increaseTime(600n);
    expect(await json(["withdraw", "complete", provider])).toMatchObject({ amount: "5000000000000000" });

    expect((await cli(["deposit", "-1"])).code).toBe(2);
    expect((await cli(["fund", "0x123", "1"])).code).toBe(2);
    const tooMuch = await cli(["fund", provider, "100"]);
    expect(tooMuch.code).toBe(4);
    expect(tooMuch.stderr).toMatch(/InsufficientLedger[\s\S]*hint: deposit more first/);
    expect((await cli(["balance", "--rpc-url", "http://127.0.0.1:9"])).code).toBe(3);
    expect((await cli(["nonsense"])).code).toBe(2);
  });

  it("services: the catalogue with prices per 1M tokens", async () => {
    const human = await cli(["services"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("peer-model");
    expect(human.stdout).toContain("in 0.001 0G / out 0.002 0G per 1M tokens");
    const rows = (await json(["services"])) as unknown as { provider: string; healthy: boolean }[];
    expect(rows[0]).toMatchObject({ provider, healthy: true });
  });

  it("chat: one-shot streams the answer and reports the verified receipt; a prompt on stdin works too", async () => {
    const r = await cli(["chat", "hello", "there"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Hello from the peer\n");
    expect(r.stderr).toMatch(/10 in \+ 5 out tokens, 0\.00000002 0G, receipt verified/);
    const piped = await cli(["chat", "--no-stream", "--json"], "what is 0G?");
    expect(piped.code).toBe(0);
    expect(JSON.parse(piped.stdout)).toMatchObject({ answer: "Hello from the peer", receipts: [{ provider, fee: "20000000000" }] });
    // The lane state persisted across the two processes: the second used a higher nonce, no resync needed.
    expect(peer.requests).toBe(2);
  });

  it("account: create an encrypted keystore and use it", async () => {
    const keystore = join(home, "ks.json");
    const created = await cli(["account", "create", "--keystore", keystore, "--json"].concat([]), undefined);
    expect(created.code).toBe(7); // no password in a non-interactive run
    env.ZG_KEYSTORE_PASSWORD = "pw";
    const ok = JSON.parse((await cli(["account", "create", "--keystore", keystore, "--json"])).stdout) as { address: string };
    const saved = env.ZG_PRIVATE_KEY;
    delete env.ZG_PRIVATE_KEY;
    expect(JSON.parse((await cli(["account", "show", "--keystore", keystore, "--json"])).stdout)).toEqual({ address: ok.address });
    env.ZG_KEYSTORE_PASSWORD = "wrong";
    expect((await cli(["account", "show", "--keystore", keystore])).code).toBe(7);
    env.ZG_PRIVATE_KEY = saved;
    delete env.ZG_KEYSTORE_PASSWORD;
  });
});
