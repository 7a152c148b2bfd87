/**
 * `npm run bench:provider`: what the payment layer costs.
 *
 * 1. Overhead per request (p50, p99): one client, sequential requests, through the paid provider (the
 *    full client path: ticket signing, receipt verification) minus the same backend served unpaid.
 * 2. Throughput with 64 concurrent clients (64 users, one channel each) on an instant fake upstream,
 *    as a ratio to the unpaid server. The provider, the unpaid server and the upstream each run in their
 *    own process; tickets are signed before the clock starts so the load generator measures the server.
 * 3. llama backend: output tokens/s through the provider (HTTP, paid, streaming) against direct
 *    node-llama-cpp on the same generated random-weights model, 1 thread.
 *
 * Loopback only; every process it starts is stopped by PID. `--json out.json` writes the figures.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createWalletClient, http, keccak256, toHex, type Hex, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { escrowAbi, startLocalChain } from "@0g-compute/contracts";
import { createPaidFetch, encodeHeader, escrowDomain, MemoryLaneStore, requestHash, resolveNetwork, signTicket, TICKET_HEADER, ticketToWire, ZeroGClient } from "@0g-compute/core";
import { registerService } from "../src/registration.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
// Children run the compiled JavaScript (dist/), as an operator runs the provider.
const dist = join(root, "packages", "provider", "dist");
const MODEL = "bench-model";
const CLIENTS = 64;
const PER_CLIENT = 40;
const SEQUENTIAL = 300;
const TARGET_THROUGHPUT = 0.9;
const TARGET_LLAMA = 0.95;

const children: ChildProcess[] = [];
function child(script: string, args: string[], env: NodeJS.ProcessEnv = process.env, nodeArgs: string[] = []): Promise<{ proc: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeArgs, script, ...args], { cwd: root, env, stdio: ["ignore", "pipe", "inherit"] });
    children.push(proc);
    let out = "";
    proc.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve({ proc, line: out.slice(0, nl) });
    });
    proc.once("exit", (code) => reject(new Error(`${script} exited ${code}`)));
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timed(n: number, fn: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  if (only === "llama") {
    const dir = await mkdtemp(join(tmpdir(), "0g-bench-"));
    try {
      const llama = await llamaRatio(dir);
      console.log(`llama backend tokens/s: through the provider ${llama["llama tokens/s via provider"]}, direct ${llama["llama tokens/s direct"]}, ratio ${llama["llama tokens/s ratio provider/direct"]} (target >= ${TARGET_LLAMA})`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return;
  }
  const jsonIndex = process.argv.indexOf("--json");
  const jsonOut = jsonIndex > 0 ? process.argv[jsonIndex + 1] : undefined;
  const results: Record<string, number> = {};
  const chain = await startLocalChain({ params: { minFund: 0n }, anvil: { accounts: 4 } });
  const dir = await mkdtemp(join(tmpdir(), "0g-bench-"));
  try {
    const network = resolveNetwork("devnet", { rpcUrl: chain.rpcUrl, escrow: chain.deployment.escrow, registry: chain.deployment.registry });
    const upstream = (await child(join(dist, "testing", "fake-upstream-server.js"), [])).line;
    const unpaid = (await child(join(dist, "testing", "unpaid-server.js"), [upstream, MODEL])).line;

    // The provider, as an operator runs it.
    const port = 21000 + Math.floor(Math.random() * 20000);
    const responseKey = generatePrivateKey();
    await writeFile(join(dir, "0g-provider.json"), JSON.stringify({
      network: { name: "devnet", rpcUrl: chain.rpcUrl, escrow: chain.deployment.escrow, registry: chain.deployment.registry },
      keys: { provider: { env: "BENCH_PROVIDER_KEY" }, response: { env: "BENCH_RESPONSE_KEY" } },
      server: { host: "127.0.0.1", port, publicUrl: `http://127.0.0.1:${port}` },
      admin: { port: port + 1, tokenEnv: "BENCH_ADMIN_TOKEN" },
      backend: { kind: "upstream", baseUrl: upstream, contextLength: 2048 },
      service: { name: "chat", model: MODEL, inputPrice: "1000", outputPrice: "2000" },
      database: "provider.db",
      creditLimit: (10n ** 18n).toString(),
      settlement: { intervalSeconds: 3600 },
    }));
    const providerWallet = chain.wallet(2);
    await registerService(providerWallet as unknown as Parameters<typeof registerService>[0], chain.publicClient, network, {
      name: "chat", model: MODEL, modelHash: keccak256(toHex(MODEL)), quantization: "", endpoint: `http://127.0.0.1:${port}`,
      inputPrice: 1000n, outputPrice: 2000n, signer: privateKeyToAccount(responseKey).address, metadata: "{}",
    });
    const providerUrl = (await child(join(dist, "cli", "main.js"), ["--config", join(dir, "0g-provider.json"), "--json", "start"], {
      ...process.env, BENCH_PROVIDER_KEY: chain.anvil.privateKeys[2], BENCH_RESPONSE_KEY: responseKey, BENCH_ADMIN_TOKEN: "bench",
    }, process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [])).line;
    const url = (JSON.parse(providerUrl) as { url: string }).url;

    // Users: one channel each.
    // One extra user for the sequential run, so the load test's lanes start fresh.
    const everyone = Array.from({ length: CLIENTS + 1 }, () => privateKeyToAccount(generatePrivateKey()));
    const users = everyone.slice(1);
    for (let i = 0; i < everyone.length; i += 16) {
      await Promise.all(everyone.slice(i, i + 16).map(async (u) => {
        await chain.testClient.setBalance({ address: u.address, value: 10n ** 19n });
        const w = createWalletClient({ account: u, chain: chain.chain, transport: http(chain.rpcUrl) });
        const hash = await w.writeContract({ address: chain.deployment.escrow, abi: escrowAbi, functionName: "depositAndFund", args: [providerWallet.account.address], value: 10n ** 18n });
        await chain.publicClient.waitForTransactionReceipt({ hash });
      }));
    }
    const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "benchmark the payment layer" }], max_tokens: 8 });

    // 1. Overhead per request, sequential, full client path.
    const client = new ZeroGClient({ network, account: everyone[0]!, pollingIntervalMs: 20 });
    const paid = createPaidFetch({ network, publicClient: client.publicClient, domain: client.domain, user: client.address, signer: client.account, store: new MemoryLaneStore(), catalogueTtlSeconds: 3600 });
    await (await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body })).text(); // warm the catalogue
    const post = (u: string, b: string, headers: Record<string, string> = {}) => fetch(`${u}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: b }).then((r) => r.text());
    for (let i = 0; i < 20; i++) await post(unpaid, body);
    const base = await timed(SEQUENTIAL, () => post(unpaid, body).then(() => undefined));
    const withPay = await timed(SEQUENTIAL, async () => {
      await (await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body })).text();
    });
    await paid.close();
    results["unpaid latency p50 ms"] = +percentile(base, 50).toFixed(3);
    results["paid latency p50 ms"] = +percentile(withPay, 50).toFixed(3);
    results["payment overhead p50 ms"] = +(percentile(withPay, 50) - percentile(base, 50)).toFixed(3);
    results["payment overhead p99 ms"] = +(percentile(withPay, 99) - percentile(base, 99)).toFixed(3);
    console.log(`payment-layer overhead per request: p50 ${results["payment overhead p50 ms"]} ms, p99 ${results["payment overhead p99 ms"]} ms (unpaid p50 ${results["unpaid latency p50 ms"]} ms, paid p50 ${results["paid latency p50 ms"]} ms; client signs and verifies)`);

    // 2. Throughput, 64 concurrent clients; tickets signed before the clock starts.
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    const service = (await client.registry.read.getProviderServices([providerWallet.account.address]))[0]!;
    const hash = requestHash("/v1/chat/completions", body);
    const deadline = (await chain.now()) + 3600n;
    const tickets: string[][] = await Promise.all(users.map((u) => Promise.all(Array.from({ length: PER_CLIENT }, async (_, i) =>
      encodeHeader(ticketToWire(await signTicket(u, domain, {
        user: u.address, provider: providerWallet.account.address, nonce: BigInt(1 + i), cumulative: 0n,
        terms: { serviceId: service.id, serviceVersion: service.version, inputPrice: 1000n, outputPrice: 2000n, maxCost: 10n ** 12n, requestHash: hash, deadline },
      })))))));
    const load = async (target: string, headersFor: (client: number, i: number) => Record<string, string>): Promise<number> => {
      let failures = 0;
      const started = performance.now();
      await Promise.all(users.map(async (_, ci) => {
        for (let i = 0; i < PER_CLIENT; i++) {
          const res = await fetch(`${target}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headersFor(ci, i) }, body });
          await res.arrayBuffer();
          if (!res.ok) failures += 1;
        }
      }));
      const seconds = (performance.now() - started) / 1000;
      if (failures > 0) throw new Error(`${failures} requests failed during the load test`);
      return (CLIENTS * PER_CLIENT) / seconds;
    };
    await load(unpaid, () => ({})); // warm up
    const unpaidRps = await load(unpaid, () => ({}));
    const paidRps = await load(url, (ci, i) => ({ [TICKET_HEADER]: tickets[ci]![i]! }));
    if (process.env.BENCH_PROFILE_DIR) {
      const m = await (await fetch(`${url}/metrics`)).text();
      console.log(m.split("\n").filter((l) => /_(sum|count) /.test(l)).join("\n"));
    }
    results["unpaid throughput rps"] = Math.round(unpaidRps);
    results["paid throughput rps"] = Math.round(paidRps);
    results["throughput ratio paid/unpaid (64 clients)"] = +(paidRps / unpaidRps).toFixed(3);
    console.log(`throughput with ${CLIENTS} concurrent clients: paid ${Math.round(paidRps)} req/s, unpaid ${Math.round(unpaidRps)} req/s, ratio ${results["throughput ratio paid/unpaid (64 clients)"]} (target >= ${TARGET_THROUGHPUT})`);

    // 3. llama backend through the provider against direct node-llama-cpp.
    const llama = await llamaRatio(dir).catch((err: unknown) => {
      console.log(`llama backend: not measured (${(err as Error).message})`);
      return undefined;
    });
    if (llama) {
      Object.assign(results, llama);
      console.log(`llama backend tokens/s: through the provider ${llama["llama tokens/s via provider"]}, direct ${llama["llama tokens/s direct"]}, ratio ${llama["llama tokens/s ratio provider/direct"]} (target >= ${TARGET_LLAMA})`);
    }
    if (jsonOut) {
      await writeFile(jsonOut, JSON.stringify({ benchmark: "provider", results, targets: { "throughput ratio paid/unpaid (64 clients)": `>= ${TARGET_THROUGHPUT}`, "llama tokens/s ratio provider/direct": `>= ${TARGET_LLAMA}` } }, null, 2));
    }
  } finally {
    for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, "SIGTERM");
    await chain.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Tokens/s of the random-weights model: direct LlamaBackend vs HTTP through a paid provider node. */
async function llamaRatio(dir: string): Promise<Record<string, number>> {
  const { writeTestModel } = await import("../src/test-model/generate.js");
  const { LlamaBackend } = await import("../src/backends/llama.js");
  const { ProviderNode } = await import("../src/node.js");
  const modelPath = join(dir, "random.gguf");
  await writeTestModel(modelPath, { kind: "random", seed: 1, size: "bench" });
  const TOKENS = 128;
  const ROUNDS = 3;
  const body = { model: "random", messages: [{ role: "user" as const, content: "count" }], max_tokens: TOKENS };

  const direct = await LlamaBackend.load({ modelPath, modelId: "random", threads: 1, parallel: 1 });
  await direct.complete(body, { maxOutputTokens: 8, signal: new AbortController().signal });
  let tokens = 0;
  let started = performance.now();
  for (let i = 0; i < ROUNDS; i++) tokens += (await direct.complete(body, { maxOutputTokens: TOKENS, signal: new AbortController().signal })).usage.outputTokens;
  const directTps = tokens / ((performance.now() - started) / 1000);
  await direct.close();

  const chain = await startLocalChain({ params: { minFund: 0n }, anvil: { accounts: 4 } });
  try {
    const network = resolveNetwork("devnet", { rpcUrl: chain.rpcUrl, escrow: chain.deployment.escrow, registry: chain.deployment.registry });
    const responseKey = privateKeyToAccount(generatePrivateKey());
    const node = await ProviderNode.start({
      network, providerAccount: chain.wallet(2).account as LocalAccount, responseSigner: responseKey,
      backend: await LlamaBackend.load({ modelPath, modelId: "random", threads: 1, parallel: 1 }),
      dbPath: join(dir, "llama.db"), autoSettle: false, log: () => undefined, creditLimit: 10n ** 18n,
    });
    try {
      await registerService(chain.wallet(2) as unknown as Parameters<typeof registerService>[0], chain.publicClient, network, {
        name: "chat", model: "random", modelHash: keccak256(toHex("random")) as Hex, quantization: "F32", endpoint: node.url, inputPrice: 1n, outputPrice: 1n, signer: responseKey.address, metadata: "{}",
      });
      await node.services.refresh();
      const user = new ZeroGClient({ network, account: chain.wallet(1).account as LocalAccount, pollingIntervalMs: 20 });
      await user.depositAndFund(chain.wallet(2).account.address, 10n ** 17n);
      const paid = createPaidFetch({ network, publicClient: user.publicClient, domain: user.domain, user: user.address, signer: user.account, store: new MemoryLaneStore() });
      const ask = async (max: number) => {
        const res = await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body: JSON.stringify({ ...body, max_tokens: max, stream: true }) });
        await res.text();
        return paid.receipts.at(-1)!.receipt.outputTokens;
      };
      await ask(8);
      tokens = 0;
      started = performance.now();
      for (let i = 0; i < ROUNDS; i++) tokens += await ask(TOKENS);
      const viaTps = tokens / ((performance.now() - started) / 1000);
      await paid.close();
      return {
        "llama tokens/s direct": +directTps.toFixed(1),
        "llama tokens/s via provider": +viaTps.toFixed(1),
        "llama tokens/s ratio provider/direct": +(viaTps / directTps).toFixed(3),
      };
    } finally {
      await node.stop();
    }
  } finally {
    await chain.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, "SIGTERM");
  process.exit(1);
});
