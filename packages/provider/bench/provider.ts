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
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createWalletClient, http, keccak256, toHex, type Hex, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { escrowAbi } from "@0g-compute/contracts";
import { startLocalChain } from "@0g-compute/contracts/testing";
import {
  createPaidFetch,
  encodeHeader,
  escrowDomain,
  MemoryLaneStore,
  requestHash,
  resolveNetwork,
  signTicket,
  TICKET_HEADER,
  ticketToWire,
  ZeroGClient,
} from "@0g-compute/core";
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
/** Upstream answer times for the backend-bound throughput runs. */
const LATENCIES_MS = [100, 1000];

const children: ChildProcess[] = [];
/** The admin token of the providers this bench starts (random: never a fixed string). */
const adminToken = randomBytes(24).toString("hex");
function child(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  nodeArgs: string[] = [],
): Promise<{ proc: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeArgs, script, ...args], { cwd: root, env, stdio: ["pipe", "pipe", "inherit"] });
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

/** CPU time (user + system) a process has used so far, in ms (Linux; undefined elsewhere). */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime in clock ticks of 10 ms
  } catch {
    return undefined;
  }
}

/** Tell the fake upstream child to answer after `ms`. */
function setLatency(upstream: ChildProcess, ms: number): Promise<void> {
  return new Promise((resolve) => {
    upstream.stdout!.once("data", () => resolve());
    upstream.stdin!.write(`latency ${ms}\n`);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  if (only === "llama") {
    const dir = await mkdtemp(join(tmpdir(), "0g-bench-"));
    try {
      const llama = await llamaRatio(dir);
      console.log(
        `llama backend tokens/s: through the provider ${llama["llama tokens/s via provider"]}, direct ${llama["llama tokens/s direct"]}, ratio ${llama["llama tokens/s ratio provider/direct"]} (target >= ${TARGET_LLAMA})`,
      );
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
    const network = resolveNetwork("devnet", {
      rpcUrl: chain.rpcUrl,
      escrow: chain.deployment.escrow,
      registry: chain.deployment.registry,
    });
    const upstreamChild = await child(join(dist, "testing", "fake-upstream-server.js"), []);
    const upstream = upstreamChild.line;
    const profile = process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    const unpaidChild = await child(join(dist, "testing", "unpaid-server.js"), [upstream, MODEL], process.env, profile);
    const unpaid = unpaidChild.line;

    // The provider, as an operator runs it.
    const port = 21000 + Math.floor(Math.random() * 20000);
    const responseKey = generatePrivateKey();
    await writeFile(
      join(dir, "0g-provider.json"),
      JSON.stringify({
        network: { name: "devnet", rpcUrl: chain.rpcUrl, escrow: chain.deployment.escrow, registry: chain.deployment.registry },
        keys: { provider: { env: "BENCH_PROVIDER_KEY" }, response: { env: "BENCH_RESPONSE_KEY" } },
        server: { host: "127.0.0.1", port, publicUrl: `http://127.0.0.1:${port}` },
        admin: { port: port + 1, tokenEnv: "BENCH_ADMIN_TOKEN" },
        backend: { kind: "upstream", baseUrl: upstream, contextLength: 2048 },
        service: { name: "chat", model: MODEL, inputPrice: "1000", outputPrice: "2000" },
        database: "provider.db",
        creditLimit: (10n ** 18n).toString(),
        settlement: { intervalSeconds: 3600 },
      }),
    );
    const providerWallet = chain.wallet(2);
    await registerService(providerWallet as unknown as Parameters<typeof registerService>[0], chain.publicClient, network, {
      name: "chat",
      model: MODEL,
      modelHash: keccak256(toHex(MODEL)),
      quantization: "",
      endpoint: `http://127.0.0.1:${port}`,
      inputPrice: 1000n,
      outputPrice: 2000n,
      signer: privateKeyToAccount(responseKey).address,
      metadata: "{}",
    });
    const providerChild = await child(
      join(dist, "cli", "main.js"),
      ["--config", join(dir, "0g-provider.json"), "--json", "start"],
      {
        ...process.env,
        BENCH_PROVIDER_KEY: chain.anvil.privateKeys[2],
        BENCH_RESPONSE_KEY: responseKey,
        BENCH_ADMIN_TOKEN: adminToken,
      },
      profile,
    );
    const url = (JSON.parse(providerChild.line) as { url: string }).url;

    // Users: one channel each.
    // One extra user for the sequential run, so the load test's lanes start fresh.
    const everyone = Array.from({ length: CLIENTS + 1 }, () => privateKeyToAccount(generatePrivateKey()));
    const users = everyone.slice(1);
    for (let i = 0; i < everyone.length; i += 16) {
      await Promise.all(
        everyone.slice(i, i + 16).map(async (u) => {
          await chain.testClient.setBalance({ address: u.address, value: 10n ** 19n });
          const w = createWalletClient({ account: u, chain: chain.chain, transport: http(chain.rpcUrl) });
          const hash = await w.writeContract({
            address: chain.deployment.escrow,
            abi: escrowAbi,
            functionName: "depositAndFund",
            args: [providerWallet.account.address],
            value: 10n ** 18n,
          });
          await chain.publicClient.waitForTransactionReceipt({ hash });
        }),
      );
    }
    const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "benchmark the payment layer" }], max_tokens: 8 });

    // 1. Overhead per request, sequential, full client path.
    const client = new ZeroGClient({ network, account: everyone[0]!, pollingIntervalMs: 20 });
    const paid = createPaidFetch({
      client,
      store: new MemoryLaneStore(),
      catalogueTtlSeconds: 3600,
    });
    await (await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body })).text(); // warm the catalogue
    const post = (u: string, b: string, headers: Record<string, string> = {}) =>
      fetch(`${u}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: b }).then(
        (r) => r.text(),
      );
    for (let i = 0; i < 20; i++) await post(unpaid, body);
    // Paired: each round times one unpaid and one paid request, so the overhead is a distribution of
    // differences measured under the same conditions.
    const base: number[] = [];
    const withPay: number[] = [];
    const overhead: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      let t = performance.now();
      await post(unpaid, body);
      const u = performance.now() - t;
      t = performance.now();
      await (await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body })).text();
      const p = performance.now() - t;
      base.push(u);
      withPay.push(p);
      overhead.push(p - u);
    }
    await paid.close();
    for (const xs of [base, withPay, overhead]) xs.sort((a, b) => a - b);
    results["unpaid latency p50 ms"] = +percentile(base, 50).toFixed(3);
    results["paid latency p50 ms"] = +percentile(withPay, 50).toFixed(3);
    results["payment overhead p50 ms"] = +percentile(overhead, 50).toFixed(3);
    results["payment overhead p99 ms"] = +percentile(overhead, 99).toFixed(3);
    console.log(
      `payment-layer overhead per request: p50 ${results["payment overhead p50 ms"]} ms, p99 ${results["payment overhead p99 ms"]} ms (unpaid p50 ${results["unpaid latency p50 ms"]} ms, paid p50 ${results["paid latency p50 ms"]} ms; client signs and verifies)`,
    );

    // 2. Throughput, 64 concurrent clients; tickets signed before the clock starts.
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    const service = (await client.registry.read.getProviderServices([providerWallet.account.address]))[0]!;
    const hash = requestHash("/v1/chat/completions", body);
    const deadline = (await chain.now()) + 3600n;
    let latencyOffset = 0;
    const tickets: string[][] = await Promise.all(
      users.map((u) =>
        Promise.all(
          Array.from({ length: PER_CLIENT }, async (_, i) =>
            encodeHeader(
              ticketToWire(
                await signTicket(u, domain, {
                  user: u.address,
                  provider: providerWallet.account.address,
                  nonce: BigInt(1 + i),
                  cumulative: 0n,
                  terms: {
                    serviceId: service.id,
                    serviceVersion: service.version,
                    inputPrice: 1000n,
                    outputPrice: 2000n,
                    maxCost: 10n ** 12n,
                    requestHash: hash,
                    deadline,
                  },
                }),
              ),
            ),
          ),
        ),
      ),
    );
    /** Requests per second, and the server's CPU ms per request (from /proc), for `perClient` requests per client. */
    const load = async (
      target: string,
      server: ChildProcess,
      headersFor: (client: number, i: number) => Record<string, string>,
      perClient = PER_CLIENT,
    ): Promise<{ rps: number; cpuPerRequest?: number }> => {
      let failures = 0;
      const cpu0 = cpuMs(server.pid);
      const started = performance.now();
      await Promise.all(
        users.map(async (_, ci) => {
          for (let i = 0; i < perClient; i++) {
            const res = await fetch(`${target}/v1/chat/completions`, {
              method: "POST",
              headers: { "content-type": "application/json", ...headersFor(ci, i) },
              body,
            });
            await res.arrayBuffer();
            if (!res.ok) failures += 1;
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const cpu1 = cpuMs(server.pid);
      if (failures > 0) throw new Error(`${failures} requests failed during the load test`);
      const n = CLIENTS * perClient;
      return { rps: n / seconds, ...(cpu0 !== undefined && cpu1 !== undefined ? { cpuPerRequest: (cpu1 - cpu0) / n } : {}) };
    };
    await load(unpaid, unpaidChild.proc, () => ({})); // warm up
    const unpaidRun = await load(unpaid, unpaidChild.proc, () => ({}));
    const paidRun = await load(url, providerChild.proc, (ci, i) => ({ [TICKET_HEADER]: tickets[ci]![i]! }));
    const [unpaidRps, paidRps] = [unpaidRun.rps, paidRun.rps];
    if (process.env.BENCH_PROFILE_DIR) {
      const admin = (JSON.parse(providerChild.line) as { admin: string }).admin;
      const m = await (await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
      console.log(
        m
          .split("\n")
          .filter((l) => /_(sum|count) /.test(l))
          .join("\n"),
      );
    }
    results["unpaid throughput rps"] = Math.round(unpaidRps);
    results["paid throughput rps"] = Math.round(paidRps);
    results["throughput ratio paid/unpaid (64 clients)"] = +(paidRps / unpaidRps).toFixed(3);
    console.log(
      `throughput with ${CLIENTS} concurrent clients: paid ${Math.round(paidRps)} req/s, unpaid ${Math.round(unpaidRps)} req/s, ratio ${results["throughput ratio paid/unpaid (64 clients)"]} (target >= ${TARGET_THROUGHPUT})`,
    );
    if (paidRun.cpuPerRequest !== undefined && unpaidRun.cpuPerRequest !== undefined) {
      results["server CPU ms per request, paid provider"] = +paidRun.cpuPerRequest.toFixed(3);
      results["server CPU ms per request, unpaid server"] = +unpaidRun.cpuPerRequest.toFixed(3);
      console.log(
        `server CPU per request: paid provider ${results["server CPU ms per request, paid provider"]} ms, unpaid server ${results["server CPU ms per request, unpaid server"]} ms (the payment layer's cost is the difference; with an instant upstream the ratio cannot exceed unpaid/paid CPU where cores are saturated)`,
      );
    }

    // 2b. The same with an upstream that takes as long as a short real answer: throughput is then bound by
    // the backend, not the payment layer. Tickets continue each client's nonces.
    for (const latency of LATENCIES_MS) {
      await setLatency(upstreamChild.proc, latency);
      const perClient = Math.max(2, Math.min(PER_CLIENT, Math.round(8000 / latency)));
      const u = await load(unpaid, unpaidChild.proc, () => ({}), perClient);
      const offset = PER_CLIENT;
      const extra: string[][] = await Promise.all(
        users.map((usr) =>
          Promise.all(
            Array.from({ length: perClient }, async (_, i) =>
              encodeHeader(
                ticketToWire(
                  await signTicket(usr, domain, {
                    user: usr.address,
                    provider: providerWallet.account.address,
                    nonce: BigInt(1 + offset + i + latencyOffset),
                    cumulative: 0n,
                    terms: {
                      serviceId: service.id,
                      serviceVersion: service.version,
                      inputPrice: 1000n,
                      outputPrice: 2000n,
                      maxCost: 10n ** 12n,
                      requestHash: hash,
                      deadline,
                    },
                  }),
                ),
              ),
            ),
          ),
        ),
      );
      latencyOffset += perClient;
      const p = await load(url, providerChild.proc, (ci, i) => ({ [TICKET_HEADER]: extra[ci]![i]! }), perClient);
      const key = `throughput ratio paid/unpaid (64 clients, upstream ${latency} ms)`;
      results[key] = +(p.rps / u.rps).toFixed(3);
      console.log(
        `throughput with ${CLIENTS} clients, upstream answering in ${latency} ms: paid ${Math.round(p.rps)} req/s, unpaid ${Math.round(u.rps)} req/s, ratio ${results[key]}`,
      );
    }
    await setLatency(upstreamChild.proc, 0);

    // 3. llama backend through the provider against direct node-llama-cpp.
    const llama = await llamaRatio(dir).catch((err: unknown) => {
      console.log(`llama backend: not measured (${(err as Error).message})`);
      return undefined;
    });
    if (llama) {
      Object.assign(results, llama);
      console.log(
        `llama backend tokens/s: through the provider ${llama["llama tokens/s via provider"]}, direct ${llama["llama tokens/s direct"]}, ratio ${llama["llama tokens/s ratio provider/direct"]} (target >= ${TARGET_LLAMA})`,
      );
    }
    if (jsonOut) {
      await writeFile(
        jsonOut,
        JSON.stringify(
          {
            benchmark: "provider",
            results,
            targets: {
              "throughput ratio paid/unpaid (64 clients)": `>= ${TARGET_THROUGHPUT}`,
              "llama tokens/s ratio provider/direct": `>= ${TARGET_LLAMA}`,
            },
          },
          null,
          2,
        ),
      );
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
  const modelPath = join(dir, "random.gguf");
  await writeTestModel(modelPath, { kind: "random", seed: 1, size: "bench" });
  const TOKENS = 128;
  const ROUNDS = 8;
  const body = { model: "random", messages: [{ role: "user" as const, content: "count" }], max_tokens: TOKENS };

  const direct = await LlamaBackend.load({ modelPath, modelId: "random", threads: 1, parallel: 1 });
  await direct.complete(body, { maxOutputTokens: 8, signal: new AbortController().signal });
  const directOnce = async (): Promise<number> =>
    (await direct.complete(body, { maxOutputTokens: TOKENS, signal: new AbortController().signal })).usage.outputTokens;

  const chain = await startLocalChain({ params: { minFund: 0n }, anvil: { accounts: 4 } });
  let provider: ChildProcess | undefined;
  try {
    const network = resolveNetwork("devnet", {
      rpcUrl: chain.rpcUrl,
      escrow: chain.deployment.escrow,
      registry: chain.deployment.registry,
    });
    // The provider runs in its own process, as an operator runs it; the client here plays the user.
    const responseKey = generatePrivateKey();
    const port = 21000 + Math.floor(Math.random() * 20000);
    await writeFile(
      join(dir, "llama-provider.json"),
      JSON.stringify({
        network: { name: "devnet", rpcUrl: chain.rpcUrl, escrow: chain.deployment.escrow, registry: chain.deployment.registry },
        keys: { provider: { env: "BENCH_PROVIDER_KEY" }, response: { env: "BENCH_RESPONSE_KEY" } },
        server: { host: "127.0.0.1", port, publicUrl: `http://127.0.0.1:${port}` },
        admin: { port: port + 1, tokenEnv: "BENCH_ADMIN_TOKEN" },
        backend: { kind: "llama", modelPath, threads: 1, parallel: 1 },
        service: { name: "chat", model: "random", inputPrice: "1", outputPrice: "1" },
        database: "llama.db",
        creditLimit: (10n ** 18n).toString(),
        settlement: { intervalSeconds: 3600 },
      }),
    );
    await registerService(chain.wallet(2) as unknown as Parameters<typeof registerService>[0], chain.publicClient, network, {
      name: "chat",
      model: "random",
      modelHash: keccak256(toHex("random")) as Hex,
      quantization: "F32",
      endpoint: `http://127.0.0.1:${port}`,
      inputPrice: 1n,
      outputPrice: 1n,
      signer: privateKeyToAccount(responseKey).address,
      metadata: "{}",
    });
    provider = (
      await child(
        join(dist, "cli", "main.js"),
        ["--config", join(dir, "llama-provider.json"), "--json", "start"],
        {
          ...process.env,
          BENCH_PROVIDER_KEY: chain.anvil.privateKeys[2],
          BENCH_RESPONSE_KEY: responseKey,
          BENCH_ADMIN_TOKEN: adminToken,
        },
        process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [],
      )
    ).proc;
    {
      const user = new ZeroGClient({ network, account: chain.wallet(1).account as LocalAccount, pollingIntervalMs: 20 });
      await user.depositAndFund(chain.wallet(2).account.address, 10n ** 17n);
      const paid = createPaidFetch({
        network,
        publicClient: user.publicClient,
        domain: user.domain,
        user: user.address,
        signer: user.account,
        store: new MemoryLaneStore(),
      });
      const ask = async (max: number) => {
        const res = await paid("http://0g.invalid/v1/chat/completions", {
          method: "POST",
          body: JSON.stringify({ ...body, max_tokens: max, stream: true }),
        });
        await res.text();
        return paid.receipts.at(-1)!.receipt.outputTokens;
      };
      await ask(8);
      // Interleaved rounds (direct, then through the provider), so that drift in the machine's load
      // falls on both sides alike.
      let directTokens = 0;
      let directMs = 0;
      let viaTokens = 0;
      let viaMs = 0;
      for (let i = 0; i < ROUNDS; i++) {
        let t = performance.now();
        directTokens += await directOnce();
        directMs += performance.now() - t;
        t = performance.now();
        viaTokens += await ask(TOKENS);
        viaMs += performance.now() - t;
      }
      const directTps = directTokens / (directMs / 1000);
      const viaTps = viaTokens / (viaMs / 1000);
      await paid.close();
      return {
        "llama tokens/s direct": +directTps.toFixed(1),
        "llama tokens/s via provider": +viaTps.toFixed(1),
        "llama tokens/s ratio provider/direct": +(viaTps / directTps).toFixed(3),
      };
    }
  } finally {
    if (provider?.pid !== undefined && provider.exitCode === null) process.kill(provider.pid, "SIGTERM");
    await chain.stop();
    await direct.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, "SIGTERM");
  process.exit(1);
});
