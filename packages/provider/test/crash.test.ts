// The provider as an operator runs it (the 0g-provider CLI in a child process), killed with SIGKILL at
// random moments under load and restarted: no acknowledged voucher is lost, nothing is billed twice,
// replays are refused, and settlement pays exactly what was acknowledged.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import Database from "better-sqlite3";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LocalAccount } from "viem";
import { generatePrivateKey } from "viem/accounts";
import { startLocalChain, type LocalChain } from "@0g-compute/contracts/testing";
import { createPaidFetch, encodeHeader, FileLaneStore, MemoryLaneStore, resolveNetwork, ticketToWire, ZeroGClient } from "@0g-compute/core";
import { startFakeUpstream, type FakeUpstream } from "../src/testing/fake-upstream.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const cli = join(root, "packages", "provider", "bin", "0g-provider.js");
const MODEL = "crash-model";
// One process per node (tsx as a loader, not a wrapper), so the PID we kill is the server itself.
const NODE_ARGS = ["--conditions=@0g-compute/source", "--import", "tsx"];

describe("provider crash safety (SIGKILL at random points, via the CLI)", () => {
  let chain: LocalChain;
  let upstream: FakeUpstream;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let port: number;
  let child: ChildProcess | undefined;

  function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [...NODE_ARGS, cli, "--config", join(dir, "0g-provider.json"), ...args], { cwd: root, env });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      p.once("error", reject);
      p.once("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }

  function startNode(): Promise<ChildProcess> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [...NODE_ARGS, cli, "--config", join(dir, "0g-provider.json"), "start"], { cwd: root, env });
      let out = "";
      const timer = setTimeout(() => reject(new Error(`provider did not start: ${out}`)), 30_000);
      p.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("serving at")) {
          clearTimeout(timer);
          resolve(p);
        }
      });
      p.stderr!.on("data", () => undefined);
      p.once("exit", (code) => {
        clearTimeout(timer);
        if (!out.includes("serving at")) reject(new Error(`provider exited ${code}: ${out}`));
      });
    });
  }

  async function kill9(p: ChildProcess): Promise<void> {
    const exited = new Promise((r) => p.once("exit", r));
    if (p.pid !== undefined) process.kill(p.pid, "SIGKILL");
    await exited;
  }

  beforeAll(async () => {
    chain = await startLocalChain({ params: { lockSeconds: 600n, minFund: 0n } });
    upstream = await startFakeUpstream({ mode: "slow", slowMs: 20 });
    dir = await mkdtemp(join(tmpdir(), "0g-crash-"));
    port = 20000 + Math.floor(Math.random() * 20000);
    const responseKey = generatePrivateKey();
    env = {
      PATH: process.env.PATH,
      HOME: dir,
      ZG_TEST_PROVIDER_KEY: chain.anvil.privateKeys[2],
      ZG_TEST_RESPONSE_KEY: responseKey,
      ZG_ADMIN_TOKEN: randomBytes(24).toString("hex"),
    };
    const config = {
      network: { name: "devnet", rpcUrl: chain.rpcUrl, escrow: chain.deployment.escrow, registry: chain.deployment.registry },
      keys: { provider: { env: "ZG_TEST_PROVIDER_KEY" }, response: { env: "ZG_TEST_RESPONSE_KEY" } },
      server: { host: "127.0.0.1", port, publicUrl: `http://127.0.0.1:${port}` },
      admin: { port: port + 1, tokenEnv: "ZG_ADMIN_TOKEN" },
      backend: { kind: "upstream", baseUrl: upstream.url, contextLength: 2048 },
      service: { name: "chat", model: MODEL, inputPrice: "1000000", outputPrice: "2000000" },
      database: "provider.db",
      creditLimit: "100000000000",
      settlement: { intervalSeconds: 3600 },
    };
    await writeFile(join(dir, "0g-provider.json"), JSON.stringify(config));
    const reg = await run(["register", "--json"]);
    expect(reg.code).toBe(0);
    expect(JSON.parse(reg.stdout)).toMatchObject({ version: 1 });
  });
  afterAll(async () => {
    if (child && child.exitCode === null) await kill9(child);
    await upstream?.close();
    await chain?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("kill -9 under load, three times: vouchers survive, nothing is billed twice, settlement pays what was acknowledged", async () => {
    const network = resolveNetwork("devnet", {
      rpcUrl: chain.rpcUrl,
      escrow: chain.deployment.escrow,
      registry: chain.deployment.registry,
    });
    const user = new ZeroGClient({ network, account: chain.wallet(1).account as LocalAccount, pollingIntervalMs: 20 });
    const providerAddress = chain.wallet(2).account.address;
    child = await startNode();
    await user.depositAndFund(providerAddress, 10n ** 17n);
    const store = await FileLaneStore.open(join(dir, "client-state"));
    const paid = createPaidFetch({
      client: user,
      store,
      ackDelayMs: 20,
      catalogueTtlSeconds: 0,
    });
    let verified = 0n;
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };

    for (let cycle = 0; cycle < 3; cycle++) {
      const load = Promise.allSettled(
        Array.from({ length: 8 }, async (_, i) => {
          const body = JSON.stringify({
            model: MODEL,
            messages: [{ role: "user", content: `c${cycle} r${i}` }],
            max_tokens: 6,
            stream: i % 2 === 0,
          });
          const res = await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body });
          await res.text();
        }),
      );
      await new Promise((r) => setTimeout(r, 50 + Math.floor(rand() * 250)));
      await kill9(child);
      await load;
      child = await startNode();
    }
    // Work after the last restart goes through, and the acknowledgement is flushed.
    const res = await paid("http://0g.invalid/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "after" }], max_tokens: 6 }),
    });
    expect(res.status).toBe(200);
    await res.text();
    await paid.close();
    verified = paid.receipts.reduce((s, r) => s + r.fee, 0n);
    const clientState = await store.read({
      chainId: chain.chain.id,
      escrow: chain.deployment.escrow,
      user: user.address,
      provider: providerAddress,
      signer: user.address,
    });
    await store.close();
    expect(clientState.acked).toBe(verified);

    // The provider holds a voucher for every fee the client acknowledged (nothing lost).
    const status = (await run(["status", "--json"])).stdout;
    expect(JSON.parse(status)).toMatchObject({ acknowledged: verified.toString(), reserved: "0" });

    // Nothing billed twice: one row per ticket, and the lane total equals the sum of the receipts.
    await kill9(child);
    child = undefined;
    const db = new Database(join(dir, "provider.db"), { readonly: true });
    const rows = db.prepare("SELECT digest, fee, status FROM requests WHERE status = 'billed'").all() as { digest: string; fee: string }[];
    const lane = db.prepare("SELECT billed, highest_nonce FROM lanes WHERE user = ?").get(user.address.toLowerCase()) as {
      billed: string;
      highest_nonce: string;
    };
    // Reservations live in memory: the disk holds receipts only, whatever moment the kills hit.
    const unbilled = db.prepare("SELECT COUNT(*) FROM requests WHERE status != 'billed'").pluck().get();
    db.close();
    expect(unbilled).toBe(0);
    // A nonce mark is committed before its request runs: every answered ticket's nonce is marked on disk.
    const answered = paid.receipts.reduce((m, r) => (r.ticket.nonce > m ? r.ticket.nonce : m), 0n);
    expect(BigInt(lane.highest_nonce)).toBeGreaterThanOrEqual(answered);
    expect(new Set(rows.map((r) => r.digest)).size).toBe(rows.length);
    expect(BigInt(lane.billed)).toBe(rows.reduce((s, r) => s + BigInt(r.fee), 0n));
    // Every receipt the client verified is one the provider billed.
    const billedDigests = new Set(rows.map((r) => r.digest));
    for (const r of paid.receipts) expect(billedDigests.has(r.ticketDigest.toLowerCase())).toBe(true);

    // A replayed ticket after all the restarts is refused with its stored receipt, never served again.
    const last = paid.receipts.at(-1)!;
    child = await startNode();
    const served = upstream.requests;
    const sameBody = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "after" }], max_tokens: 6 });
    const replay = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-0g-ticket": encodeHeader(ticketToWire(last.ticket)) },
      body: sameBody,
    });
    expect(replay.status).toBe(409);
    expect(((await replay.json()) as { error: { code: string; details: { receipt: { fee: string } } } }).error).toMatchObject({
      code: "nonce_used",
      details: { receipt: { fee: last.fee.toString() } },
    });
    expect(upstream.requests).toBe(served);

    // Settlement pays exactly what was acknowledged.
    const settled = await run(["settle", "--json"]);
    expect(settled.code).toBe(0);
    const channel = await user.channel(providerAddress);
    expect(channel.ownerSettled).toBe(verified);
  });

  it("killed while a settlement is being mined: the transaction was recorded before the wait, and is reconciled on restart", async () => {
    const network = resolveNetwork("devnet", {
      rpcUrl: chain.rpcUrl,
      escrow: chain.deployment.escrow,
      registry: chain.deployment.registry,
    });
    const user = new ZeroGClient({ network, account: chain.wallet(3).account as LocalAccount, pollingIntervalMs: 20 });
    const providerAddress = chain.wallet(2).account.address;
    if (!child || child.exitCode !== null) child = await startNode();
    await user.depositAndFund(providerAddress, 10n ** 17n);
    const paid = createPaidFetch({
      network,
      publicClient: user.publicClient,
      domain: user.domain,
      user: user.address,
      signer: user.account,
      store: new MemoryLaneStore(),
      ackDelayMs: 20,
      catalogueTtlSeconds: 0,
    });
    for (let i = 0; i < 3; i++)
      await (
        await paid("http://0g.invalid/v1/chat/completions", {
          method: "POST",
          body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `s${i}` }], max_tokens: 6 }),
        })
      ).text();
    await paid.close();
    const owed = paid.receipts.reduce((s, r) => s + r.fee, 0n);
    const before = (await user.channel(providerAddress)).ownerSettled;

    // Blocks stop coming: the node sends the settlement and waits for it to be mined.
    await chain.testClient.setAutomine(false);
    try {
      const settling = run(["settle", "--json"]);
      const db = new Database(join(dir, "provider.db"), { readonly: true });
      let sent: { tx_hash: string } | undefined;
      for (let i = 0; i < 200 && !sent; i++) {
        await new Promise((r) => setTimeout(r, 50));
        sent = db.prepare("SELECT tx_hash FROM settlements WHERE status = 'sent'").get() as { tx_hash: string } | undefined;
      }
      db.close();
      expect(sent).toBeDefined();
      await kill9(child!);
      child = undefined;
      await settling; // the CLI loses its node
      await chain.testClient.mine({ blocks: 1 });
    } finally {
      await chain.testClient.setAutomine(true);
    }
    expect((await user.channel(providerAddress)).ownerSettled).toBe(before + owed);

    child = await startNode();
    let row: { status: string; paid: string } | undefined;
    for (let i = 0; i < 100 && row?.status !== "mined"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const db = new Database(join(dir, "provider.db"), { readonly: true });
      row = db.prepare("SELECT status, paid FROM settlements ORDER BY created_at DESC LIMIT 1").get() as
        | { status: string; paid: string }
        | undefined;
      db.close();
    }
    expect(row).toEqual({ status: "mined", paid: owed.toString() });
    const status = JSON.parse((await run(["status", "--json"])).stdout) as { settlements: { status: string }[] };
    expect(status.settlements.filter((s) => s.status === "sent")).toEqual([]);
  });
});
