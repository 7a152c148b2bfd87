// The provider's ZK mode on anvil with the CI circuit: the settler rebuilds its tree from the chain,
// proves in a separate process, and settles deposits and vouchers of several users per proof.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getContract, type LocalAccount } from "viem";
import { deployZkEscrow, zkEscrowAbi, type ZkDeployment } from "@0g-compute/contracts";
import { startLocalChain, type LocalChain } from "@0g-compute/contracts/testing";
import { type ProviderError, resolveNetwork } from "@0g-compute/core";
import { deriveZkKey, signZkVoucher, submitZkVoucher, type ZkKey, type ZkVoucher } from "@0g-compute/core/zk";
import { ProviderNode, UpstreamBackend } from "../src/index.js";
import { startFakeUpstream, type FakeUpstream } from "../src/testing/fake-upstream.js";
import { ZkSettler } from "../src/zk/index.js";
import { CI_CIRCUIT, ensureZkArtifacts, type ZkArtifacts } from "../../../contracts/zk/build.js";

describe("provider ZK settlement", () => {
  let chain: LocalChain;
  let art: ZkArtifacts;
  let zk: ZkDeployment;
  let settler: ZkSettler;
  const vouchers: ZkVoucher[] = [];

  beforeAll(async () => {
    art = await ensureZkArtifacts(CI_CIRCUIT);
    chain = await startLocalChain({ params: { minFund: 0n } });
    zk = await deployZkEscrow(chain.wallet(0), chain.publicClient, {
      lockSeconds: 3600n,
      minFund: 0n,
      verifier: { abi: art.verifierAbi, bytecode: art.verifierBytecode },
      ...art.config,
    });
    const provider = chain.wallet(5);
    settler = new ZkSettler({
      publicClient: chain.publicClient,
      wallet: provider as never,
      escrow: zk.escrow,
      provider: provider.account.address,
      artifacts: { wasm: art.wasm, zkey: art.zkey, shape: art.config },
      vouchers: () => vouchers,
    });
  }, 600_000);
  afterAll(async () => {
    await settler?.close();
    await chain?.stop();
  });

  it("settles queued deposits and several users' vouchers, proving off the serving process", async () => {
    const provider = chain.wallet(5).account.address;
    const keys: ZkKey[] = [];
    for (const i of [1, 2]) {
      const user = chain.wallet(i);
      const key = await deriveZkKey(user.account as LocalAccount, chain.chain.id, zk.escrow);
      keys.push(key);
      const escrow = getContract({ address: zk.escrow, abi: zkEscrowAbi, client: { public: chain.publicClient, wallet: user } });
      await chain.publicClient.waitForTransactionReceipt({
        hash: await escrow.write.openZkChannel([provider, key.publicKey[0], key.publicKey[1]]),
      });
      await chain.publicClient.waitForTransactionReceipt({ hash: await escrow.write.zkDeposit([provider], { value: 1000n }) });
    }
    const scope = { chainId: chain.chain.id, escrow: zk.escrow, provider };
    vouchers.push(signZkVoucher(keys[0]!, { ...scope, leafIndex: 0 }, 400n), signZkVoucher(keys[1]!, { ...scope, leafIndex: 1 }, 700n));

    // Q = 1: the first proof brings in user 1's deposit and pays its voucher; user 2 is not in the tree yet.
    const first = await settler.run();
    expect(first).toMatchObject({ consumed: 1, applied: 1, paid: 400n });
    expect(first.skipped).toEqual([{ leafIndex: 1, reason: "unknown-leaf" }]);
    expect(settler.proverPid).not.toBe(0);
    expect(settler.proverPid).not.toBe(process.pid);

    const second = await settler.run();
    expect(second).toMatchObject({ consumed: 1, applied: 1, paid: 700n });
    expect((await settler.run()).reason).toBe("nothing-due");
    const escrow = getContract({ address: zk.escrow, abi: zkEscrowAbi, client: chain.publicClient });
    expect((await escrow.read.getZkProvider([provider]))[4]).toBe(1100n);
  });
});

describe("a provider node in ZK mode", () => {
  let chain: LocalChain;
  let zk: ZkDeployment;
  let node: ProviderNode;
  let upstream: FakeUpstream;
  let dir: string;

  beforeAll(async () => {
    const art = await ensureZkArtifacts(CI_CIRCUIT);
    chain = await startLocalChain({ params: { minFund: 0n } });
    zk = await deployZkEscrow(chain.wallet(0), chain.publicClient, {
      lockSeconds: 3600n,
      minFund: 0n,
      verifier: { abi: art.verifierAbi, bytecode: art.verifierBytecode },
      ...art.config,
    });
    upstream = await startFakeUpstream();
    dir = await mkdtemp(join(tmpdir(), "0g-zk-node-"));
    node = await ProviderNode.start({
      network: resolveNetwork("devnet", { rpcUrl: chain.rpcUrl, escrow: chain.deployment.escrow, registry: chain.deployment.registry }),
      providerAccount: chain.wallet(6).account as LocalAccount,
      responseSigner: chain.wallet(7).account as LocalAccount,
      backend: new UpstreamBackend({ baseUrl: upstream.url, models: [{ id: "m", contextLength: 2048 }] }),
      dbPath: join(dir, "provider.db"),
      autoSettle: false,
      log: () => undefined,
      zk: { escrow: zk.escrow, artifacts: { wasm: art.wasm, zkey: art.zkey, shape: art.config } },
    });
  }, 600_000);
  afterAll(async () => {
    await node?.stop();
    await upstream?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("takes vouchers over HTTP only from the key the user bound, keeps the newest, and settles them with a proof", async () => {
    const provider = chain.wallet(6).account.address;
    const user = chain.wallet(3);
    const key = await deriveZkKey(user.account as LocalAccount, chain.chain.id, zk.escrow);
    const escrow = getContract({ address: zk.escrow, abi: zkEscrowAbi, client: { public: chain.publicClient, wallet: user } });
    await chain.publicClient.waitForTransactionReceipt({
      hash: await escrow.write.openZkChannel([provider, key.publicKey[0], key.publicKey[1]]),
    });
    await chain.publicClient.waitForTransactionReceipt({ hash: await escrow.write.zkDeposit([provider], { value: 1000n }) });
    const leafIndex = (await escrow.read.getZkChannel([user.account.address, provider])).leafIndex;
    const scope = { chainId: chain.chain.id, escrow: zk.escrow, provider, leafIndex };

    expect(await submitZkVoucher(node.url, user.account.address, signZkVoucher(key, scope, 300n))).toBe(300n);
    // A lower cumulative is not kept (the provider holds the newest).
    expect(await submitZkVoucher(node.url, user.account.address, signZkVoucher(key, scope, 200n))).toBe(300n);
    // Another key, even signing correctly for the user's leaf, is refused; so is a tampered voucher.
    const stranger = await deriveZkKey(chain.wallet(4).account as LocalAccount, chain.chain.id, zk.escrow);
    const refused = (p: Promise<unknown>) =>
      p.then(
        () => "accepted",
        (e: ProviderError) => `${e.status} ${e.providerCode}`,
      );
    expect(await refused(submitZkVoucher(node.url, user.account.address, signZkVoucher(stranger, scope, 900n)))).toBe(
      "401 key_not_authorized",
    );
    expect(await refused(submitZkVoucher(node.url, user.account.address, { ...signZkVoucher(key, scope, 400n), cumulative: 950n }))).toBe(
      "401 bad_signature",
    );
    expect(
      await refused(
        submitZkVoucher(node.url, user.account.address, signZkVoucher(key, { ...scope, provider: chain.wallet(5).account.address }, 500n)),
      ),
    ).toBe("401 bad_signature");

    const run = await node.zk!.run();
    expect(run).toMatchObject({ consumed: 1, applied: 1, paid: 300n });
    const read = getContract({ address: zk.escrow, abi: zkEscrowAbi, client: chain.publicClient });
    expect((await read.read.getZkProvider([provider]))[4]).toBe(300n);
  });
});
