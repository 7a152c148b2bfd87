/**
 * `npm run bench:provider`: what the payment layer costs, measured against its physical floor.
 *
 * Placement (Linux with taskset and 2+ cores): the server under test runs alone on core 0; the load
 * generator, the upstream, the chain and this process run on core 1. Every server is a child process,
 * warmed by the same load; rounds are interleaved (the order rotates each round) and reported as median
 * [min-max].
 *
 * 1. Floor: the primitives no implementation can skip (native secp256k1 recovery and signature, the
 *    keccaks, two SQLite writes in a shared commit), timed on core 0 (bench/floor.ts).
 * 2. Instant upstream, 32 keep-alive clients, pre-signed tickets (bench/load-generator.ts, node:http):
 *    throughput and server CPU per request (/proc) of the paid provider, the same backend behind Hono
 *    unpaid (the provider's HTTP stack) and behind bare node:http unpaid. Payment CPU = paid − Hono.
 * 3. Upstream answering in 100 ms and in 1 s: throughput paid / Hono.
 * 4. The client as shipped (createPaidFetch: signing, verification, core's undici transport): sequential
 *    rounds of one unpaid request through the same transport, one through plain `fetch` and one paid,
 *    order rotating. Latency overhead = paid − unpaid (same transport), p50 and p99; the client's CPU
 *    per paid request beyond the unpaid one, on the main thread (/proc schedstat, so V8's compiler and
 *    GC helper threads do not count); plain `fetch` printed for scale.
 * 5. llama: output tokens/s streamed through the provider (HTTP, paid) against node-llama-cpp driven
 *    directly, both in child processes on core 0, 1 thread, the client on core 1.
 * 6. Embeddings: embeddings/s of the bench-size embedding model through the provider (one paid
 *    `/v1/embeddings` request per batch) against node-llama-cpp's own embedding API, at batch sizes 1
 *    and 32, placed like part 5.
 *
 * Loopback only; every process it starts is stopped by PID. `--json out.json` writes the figures;
 * `--only=llama` runs part 5 alone, `--only=embeddings` part 6, `--only=payment` parts 1-4,
 * `--only=client` part 4.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createWalletClient, type Hex, http, keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { escrowAbi } from "@0g-compute/contracts";
import { type LocalChain, startLocalChain } from "@0g-compute/contracts/testing";
import {
  createPaidFetch,
  encodeHeader,
  escrowDomain,
  MemoryLaneStore,
  type NetworkConfig,
  requestHash,
  resolveNetwork,
  signingAccount,
  signTicket,
  ticketToWire,
  undiciTransport,
  ZeroGClient,
} from "@0g-compute/core";
import { registerService } from "../src/registration.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
// Servers run the compiled JavaScript (dist/), as an operator runs the provider.
const dist = join(root, "packages", "provider", "dist");
const MODEL = "bench-model";
const CLIENTS = 32;
const ROUNDS = 3;
const WARM = 20;
/** Requests per client per round, by upstream latency. */
const PER_ROUND: Record<number, number> = { 0: 40, 100: 10, 1000: 3 };
const SEQUENTIAL = 400;
const TARGETS = {
  "payment CPU per request / floor": "<= 1.25",
  "latency overhead p50 ms": "<= 1",
  "latency overhead p99 ms": "<= 3",
  "throughput ratio paid/Hono, upstream 100 ms": ">= 0.98",
  "throughput ratio paid/Hono, upstream 1000 ms": ">= 0.99",
  "llama tokens/s ratio provider/direct": ">= 0.97",
  "embeddings/s ratio provider/direct, batch 1": ">= 0.95",
  "embeddings/s ratio provider/direct, batch 32": ">= 0.95",
  "client CPU ms per paid request": "<= 0.3",
};

const canPin = process.platform === "linux" && cpus().length >= 2 && spawnSync("taskset", ["-V"]).status === 0;
const SERVER_CORE = "0";
const LOAD_CORE = "1";
/** Pin a running process (all its threads) to a core. */
function pin(pid: number | undefined, core: string): void {
  if (canPin && pid !== undefined) spawnSync("taskset", ["-apc", core, String(pid)], { stdio: "ignore" });
}

const children: ChildProcess[] = [];
const adminToken = randomBytes(24).toString("hex");
/** Start a node child on `core`; resolves with its first stdout line. */
function child(
  core: string,
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  nodeArgs: string[] = [],
): Promise<{ proc: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const argv = [...nodeArgs, script, ...args];
    const proc = canPin
      ? spawn("taskset", ["-c", core, process.execPath, ...argv], { cwd: root, env, stdio: ["pipe", "pipe", "inherit"] })
      : spawn(process.execPath, argv, { cwd: root, env, stdio: ["pipe", "pipe", "inherit"] });
    children.push(proc);
    proc.once("exit", (code) => reject(new Error(`${script} exited ${code}`)));
    void nextLine(proc).then((line) => resolve({ proc, line }));
  });
}

/** A child's next line on stdout. */
function nextLine(proc: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const onData = (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        proc.stdout!.off("data", onData);
        resolve(out.slice(0, nl));
      }
    };
    proc.stdout!.on("data", onData);
  });
}
const TSX = ["--conditions=@0g-compute/source", "--import", "tsx"];
/** `BENCH_PROFILE_DIR=dir`: the provider writes a CPU profile there when it stops. */
const PROFILE = process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];

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

/**
 * CPU time of this process's main thread in µs: from the scheduler (ns) on Linux, so V8's compiler and
 * GC helper threads do not count; elsewhere the whole process's user + system time.
 */
function mainThreadCpuUs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1000;
  } catch {
    const u = process.cpuUsage();
    return u.user + u.system;
  }
}

/** Send a line to a child and wait for its next stdout line. */
function ask(proc: ChildProcess, line: string): Promise<string> {
  const answer = nextLine(proc);
  proc.stdin!.write(`${line}\n`);
  return answer;
}

interface Stats {
  median: number;
  min: number;
  max: number;
}
const stats = (xs: number[]): Stats => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted.at(-1)! };
};
const fmt = (s: Stats, digits = 3) => `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}-${s.max.toFixed(digits)}]`;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

/** The provider's config, its service registered on the chain; returns the config path. */
async function providerConfig(
  dir: string,
  name: string,
  chain: LocalChain,
  network: NetworkConfig,
  backend: Record<string, unknown>,
  model: string,
  responseKey: Hex,
  kind: "chat" | "embedding" = "chat",
): Promise<{ path: string; port: number }> {
  const port = 21000 + Math.floor(Math.random() * 20000);
  const path = join(dir, `${name}.json`);
  await writeFile(
    path,
    JSON.stringify({
      network: { name: "devnet", rpcUrl: chain.rpcUrl, escrow: chain.deployment.escrow, registry: chain.deployment.registry },
      keys: { provider: { env: "BENCH_PROVIDER_KEY" }, response: { env: "BENCH_RESPONSE_KEY" } },
      server: { host: "127.0.0.1", port, publicUrl: `http://127.0.0.1:${port}` },
      admin: { port: port + 1, tokenEnv: "BENCH_ADMIN_TOKEN" },
      backend,
      service: { name: kind === "chat" ? "chat" : "embeddings", kind, model, inputPrice: "1000", outputPrice: "2000" },
      database: `${name}.db`,
      creditLimit: (10n ** 18n).toString(),
      settlement: { intervalSeconds: 3600 },
    }),
  );
  await registerService(chain.wallet(2) as unknown as Parameters<typeof registerService>[0], chain.publicClient, network, {
    name: kind === "chat" ? "chat" : "embeddings",
    model,
    modelHash: keccak256(toHex(model)),
    quantization: "",
    endpoint: `http://127.0.0.1:${port}`,
    inputPrice: 1000n,
    outputPrice: 2000n,
    signer: privateKeyToAccount(responseKey).address,
    metadata: kind === "chat" ? "{}" : JSON.stringify({ kind }),
  });
  return { path, port };
}

function startProvider(configPath: string, chain: LocalChain, responseKey: Hex): Promise<{ proc: ChildProcess; line: string }> {
  return child(
    SERVER_CORE,
    join(root, "packages", "provider", "bin", "0g-provider.js"),
    ["--config", configPath, "--json", "start"],
    {
      ...process.env,
      BENCH_PROVIDER_KEY: chain.anvil.privateKeys[2],
      BENCH_RESPONSE_KEY: responseKey,
      BENCH_ADMIN_TOKEN: adminToken,
    },
    PROFILE,
  );
}

async function startChain(): Promise<{ chain: LocalChain; network: NetworkConfig }> {
  const chain = await startLocalChain({ params: { minFund: 0n }, anvil: { accounts: 4 } });
  pin(chain.anvil.pid, LOAD_CORE);
  const network = resolveNetwork("devnet", { rpcUrl: chain.rpcUrl, escrow: chain.deployment.escrow, registry: chain.deployment.registry });
  return { chain, network };
}

async function main(): Promise<void> {
  pin(process.pid, LOAD_CORE);
  const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  const jsonIndex = process.argv.indexOf("--json");
  const jsonOut = jsonIndex > 0 ? process.argv[jsonIndex + 1] : undefined;
  const results: Record<string, number> = {};
  console.log(
    canPin
      ? `placement: servers under test on core ${SERVER_CORE}; load generator, upstream, chain and this process on core ${LOAD_CORE}`
      : "placement: not pinned (needs Linux, taskset and 2+ cores); figures mix processes",
  );
  const dir = await mkdtemp(join(tmpdir(), "0g-bench-"));
  try {
    if (only === undefined || only === "payment" || only === "client") await paymentLayer(dir, results, only === "client");
    if (only === undefined || only === "llama") await llama(dir, results);
    if (only === undefined || only === "embeddings") await embeddings(dir, results);
  } finally {
    for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, "SIGTERM");
    await rm(dir, { recursive: true, force: true });
  }
  console.log("\nfigure | measured | target");
  for (const [name, target] of Object.entries(TARGETS))
    console.log(`${name} | ${results[name] === undefined ? "not measured" : results[name]} | ${target}`);
  if (jsonOut) await writeFile(jsonOut, JSON.stringify({ benchmark: "provider", results, targets: TARGETS }, null, 2));
}

/** Part 1: the floor per paid request (µs), timed in a child on the servers' core. */
async function measureFloor(results: Record<string, number>): Promise<number> {
  const floor = JSON.parse((await child(SERVER_CORE, join(here, "floor.ts"), [], process.env, TSX)).line) as {
    backend: string;
    figures: Record<string, Stats>;
    totalUs: number;
  };
  console.log(`\nfloor per paid request on core ${SERVER_CORE} (µs, median [range] over 7 rounds; secp256k1 ${floor.backend}):`);
  for (const [name, f] of Object.entries(floor.figures)) console.log(`  ${name}: ${fmt(f, 1)}`);
  console.log(`  total: ${floor.totalUs.toFixed(1)}`);
  results["floor µs per paid request"] = +floor.totalUs.toFixed(1);
  return floor.totalUs;
}

async function paymentLayer(dir: string, results: Record<string, number>, clientOnly: boolean): Promise<void> {
  // 1. The floor, on the core the servers will use, before anything else runs there.
  const floorUs = clientOnly ? Number.NaN : await measureFloor(results);

  const { chain, network } = await startChain();
  try {
    const upstreamChild = await child(LOAD_CORE, join(dist, "testing", "fake-upstream-server.js"), []);
    const upstream = upstreamChild.line;
    const hono = await child(SERVER_CORE, join(dist, "testing", "unpaid-server.js"), [upstream, MODEL, "hono"]);
    const bare = await child(SERVER_CORE, join(dist, "testing", "unpaid-server.js"), [upstream, MODEL, "bare"]);
    const responseKey = generatePrivateKey();
    const config = await providerConfig(
      dir,
      "provider",
      chain,
      network,
      { kind: "upstream", baseUrl: upstream, contextLength: 2048 },
      MODEL,
      responseKey,
    );
    const provider = await startProvider(config.path, chain, responseKey);
    const paidUrl = (JSON.parse(provider.line) as { url: string }).url;
    const setLatency = (ms: number) => ask(upstreamChild.proc, `latency ${ms}`);
    const adminUrl = (JSON.parse(provider.line) as { admin: string }).admin;
    /** The provider's own admission time so far (sum and count of its histogram). */
    const admissionTotals = async () => {
      const text = await (await fetch(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
      const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
      return { sum: read("zg_provider_admission_seconds_sum"), count: read("zg_provider_admission_seconds_count") };
    };

    // Users: one channel each; one more for the sequential client.
    const keys = Array.from({ length: CLIENTS + 1 }, () => generatePrivateKey());
    const accounts = keys.map((k) => privateKeyToAccount(k));
    for (let i = 0; i < accounts.length; i += 16) {
      await Promise.all(
        accounts.slice(i, i + 16).map(async (u) => {
          await chain.testClient.setBalance({ address: u.address, value: 10n ** 19n });
          const w = createWalletClient({ account: u, chain: chain.chain, transport: http(chain.rpcUrl) });
          const hash = await w.writeContract({
            address: chain.deployment.escrow,
            abi: escrowAbi,
            functionName: "depositAndFund",
            args: [chain.wallet(2).account.address],
            value: 10n ** 18n,
          });
          await chain.publicClient.waitForTransactionReceipt({ hash });
        }),
      );
    }
    const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "benchmark the payment layer" }], max_tokens: 8 });

    // The sequential client (part 4) also tells the fee of this request, which the pre-signed tickets
    // acknowledge as a real client does: each ticket's cumulative is the sum of the lane's earlier fees.
    // The account core gives every tool (signingAccount: native secp256k1), as a user's client has it.
    const client = new ZeroGClient({ network, account: signingAccount(keys[0]!), pollingIntervalMs: 20 });
    const paid = createPaidFetch({ client, store: new MemoryLaneStore(), catalogueTtlSeconds: 3600 });
    await (await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body })).text();
    const fee = paid.receipts[0]!.fee;

    // Tickets for every paid request of the load runs, signed before any clock starts, in nonce order.
    const service = (await client.registry.read.getProviderServices([chain.wallet(2).account.address]))[0]!;
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    const deadline = (await chain.now()) + 7200n;
    const hash = requestHash("/v1/chat/completions", body);
    const perUser = WARM + ROUNDS * (PER_ROUND[0]! + PER_ROUND[100]! + PER_ROUND[1000]!);
    const signers = keys.slice(1).map((k) => signingAccount(k));
    const tickets = await Promise.all(
      signers.map(async (u) => {
        const out: string[] = [];
        for (let n = 1; n <= perUser; n++) {
          const t = await signTicket(u, domain, {
            user: u.address,
            provider: chain.wallet(2).account.address,
            nonce: BigInt(n),
            cumulative: BigInt(n - 1) * fee,
            terms: {
              serviceId: service.id,
              serviceVersion: service.version,
              inputPrice: 1000n,
              outputPrice: 2000n,
              maxCost: 10n ** 12n,
              requestHash: hash,
              deadline,
            },
          });
          out.push(encodeHeader(ticketToWire(t)));
        }
        return out;
      }),
    );
    let used = 0;
    const takeTickets = (n: number) => {
      const slice = tickets.map((list) => list.slice(used, used + n));
      used += n;
      return slice;
    };

    const servers = {
      paid: { url: paidUrl, proc: provider.proc },
      hono: { url: hono.line, proc: hono.proc },
      bare: { url: bare.line, proc: bare.proc },
    };
    type ServerName = keyof typeof servers;
    let specCount = 0;
    /** One load run against a server: requests/s, server CPU µs per request, and the load core's busy share. */
    const load = async (name: ServerName, perClient: number) => {
      const spec: Record<string, unknown> = { url: servers[name].url, body, requests: perClient };
      if (name === "paid") spec.tickets = takeTickets(perClient);
      else spec.clients = CLIENTS;
      const specPath = join(dir, `load-${++specCount}.json`);
      await writeFile(specPath, JSON.stringify(spec));
      const server = servers[name].proc.pid;
      const side = [upstreamChild.proc.pid, chain.anvil.pid];
      const cpu0 = cpuMs(server);
      const side0 = side.map(cpuMs);
      const out = JSON.parse((await child(LOAD_CORE, join(here, "load-generator.ts"), [specPath], process.env, TSX)).line) as {
        seconds: number;
        requests: number;
        failures: number;
        p50Ms: number;
        p99Ms: number;
        cpuMs: number;
      };
      const cpu1 = cpuMs(server);
      if (out.failures > 0) throw new Error(`${out.failures} of ${out.requests} requests to the ${name} server failed`);
      let sideMs = 0;
      side.forEach((pid, i) => {
        sideMs += (cpuMs(pid) ?? 0) - (side0[i] ?? 0);
      });
      return {
        rps: out.requests / out.seconds,
        cpuUs: cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) * 1000) / out.requests : Number.NaN,
        loadCoreBusy: (out.cpuMs + sideMs) / (out.seconds * 1000),
        p50Ms: out.p50Ms,
        p99Ms: out.p99Ms,
      };
    };

    if (!clientOnly) await serverRuns();
    async function serverRuns(): Promise<void> {
      // Every server warmed by the same load.
      for (const name of ["paid", "hono", "bare"] as ServerName[]) await load(name, WARM);

      // 2. Instant upstream.
      const order: ServerName[] = ["paid", "hono", "bare"];
      const runs: Record<ServerName, { rps: number[]; cpuUs: number[]; busy: number[] }> = {
        paid: { rps: [], cpuUs: [], busy: [] },
        hono: { rps: [], cpuUs: [], busy: [] },
        bare: { rps: [], cpuUs: [], busy: [] },
      };
      const ratioHono: number[] = [];
      const ratioBare: number[] = [];
      const paymentCpu: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const round: Partial<Record<ServerName, Awaited<ReturnType<typeof load>>>> = {};
        for (let k = 0; k < order.length; k++) {
          const name = order[(r + k) % order.length]!;
          const x = await load(name, PER_ROUND[0]!);
          round[name] = x;
          runs[name].rps.push(x.rps);
          runs[name].cpuUs.push(x.cpuUs);
          runs[name].busy.push(x.loadCoreBusy);
        }
        ratioHono.push(round.paid!.rps / round.hono!.rps);
        ratioBare.push(round.paid!.rps / round.bare!.rps);
        paymentCpu.push(round.paid!.cpuUs - round.hono!.cpuUs);
      }
      console.log(
        `\ninstant upstream, ${CLIENTS} keep-alive clients, ${PER_ROUND[0]} requests each per round, ${ROUNDS} interleaved rounds:`,
      );
      for (const name of order) {
        console.log(
          `  ${name === "paid" ? "paid provider " : name === "hono" ? "unpaid, Hono   " : "unpaid, node:http"}: ${fmt(stats(runs[name].rps), 0)} req/s, server CPU ${fmt(stats(runs[name].cpuUs), 0)} µs/request, load core busy ${fmt(stats(runs[name].busy), 2)}`,
        );
      }
      const pay = stats(paymentCpu);
      console.log(
        `  payment CPU per request (paid − Hono): ${fmt(pay, 0)} µs; floor ${floorUs.toFixed(0)} µs; ratio ${(pay.median / floorUs).toFixed(2)}`,
      );
      console.log(`  throughput ratio paid/Hono ${fmt(stats(ratioHono))}, paid/node:http ${fmt(stats(ratioBare))}`);
      const busiest = Math.max(...Object.values(runs).flatMap((x) => x.busy));
      if (busiest > 0.9) console.log(`  NOTE: the load core was ${busiest.toFixed(2)} busy: the generator may have limited these runs`);
      results["payment CPU µs per request"] = +pay.median.toFixed(0);
      results["payment CPU per request / floor"] = +(pay.median / floorUs).toFixed(2);
      results["server CPU µs per request, paid"] = +stats(runs.paid.cpuUs).median.toFixed(0);
      results["server CPU µs per request, Hono unpaid"] = +stats(runs.hono.cpuUs).median.toFixed(0);
      results["server CPU µs per request, node:http unpaid"] = +stats(runs.bare.cpuUs).median.toFixed(0);
      results["throughput ratio paid/Hono, instant upstream"] = +stats(ratioHono).median.toFixed(3);
      results["throughput ratio paid/node:http, instant upstream"] = +stats(ratioBare).median.toFixed(3);

      // 3. Upstream latency: the backend bounds throughput.
      for (const latency of [100, 1000]) {
        await setLatency(latency);
        const ratios: number[] = [];
        const p50: { paid: number[]; hono: number[] } = { paid: [], hono: [] };
        const admission0 = await admissionTotals();
        for (let r = 0; r < ROUNDS; r++) {
          const first: ServerName = r % 2 === 0 ? "paid" : "hono";
          const a = await load(first, PER_ROUND[latency]!);
          const b = await load(first === "paid" ? "hono" : "paid", PER_ROUND[latency]!);
          const [p, u] = first === "paid" ? [a, b] : [b, a];
          ratios.push(p.rps / u.rps);
          p50.paid.push(p.p50Ms);
          p50.hono.push(u.p50Ms);
        }
        const key = `throughput ratio paid/Hono, upstream ${latency} ms`;
        results[key] = +stats(ratios).median.toFixed(3);
        const admission1 = await admissionTotals();
        const admissionMs = ((admission1.sum - admission0.sum) * 1000) / (admission1.count - admission0.count);
        console.log(
          `upstream answering in ${latency} ms: throughput ratio paid/Hono ${fmt(stats(ratios))}; latency p50 paid ${fmt(stats(p50.paid), 1)} ms, Hono ${fmt(stats(p50.hono), 1)} ms; the provider's admission ${admissionMs.toFixed(1)} ms on average`,
        );
      }
      await setLatency(0);
    }

    // 4. Latency overhead and client CPU, the client as shipped, sequential and interleaved: each paid
    // request next to the same unpaid request sent through the same transport (core's, undici) and
    // through a plain `fetch`. The overhead and the client's CPU are paid minus the same transport; the
    // plain fetch is printed for scale.
    const url = new URL(`${servers.hono.url}/v1/chat/completions`);
    const bodyBytes = new TextEncoder().encode(body);
    const ways = {
      transport: async () =>
        (await undiciTransport(url, { method: "POST", headers: { "content-type": "application/json" }, body: bodyBytes })).text(),
      fetch: async () => (await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body })).text(),
      paid: async () => (await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body })).text(),
    };
    type Way = keyof typeof ways;
    for (let i = 0; i < 300; i++) for (const way of Object.values(ways)) await way();
    const ms: Record<Way, number[]> = { transport: [], fetch: [], paid: [] };
    const cpuUs: Record<Way, number> = { transport: 0, fetch: 0, paid: 0 };
    const overhead: number[] = [];
    const order = Object.keys(ways) as Way[];
    for (let i = 0; i < SEQUENTIAL; i++) {
      for (let k = 0; k < order.length; k++) {
        const way = order[(i + k) % order.length]!;
        const c = mainThreadCpuUs();
        const t = performance.now();
        await ways[way]();
        ms[way].push(performance.now() - t);
        cpuUs[way] += mainThreadCpuUs() - c;
      }
      overhead.push(ms.paid.at(-1)! - ms.transport.at(-1)!);
    }
    await paid.close();
    overhead.sort((a, b) => a - b);
    const p50 = (xs: number[]) =>
      percentile(
        [...xs].sort((a, b) => a - b),
        0.5,
      );
    results["latency overhead p50 ms"] = +percentile(overhead, 0.5).toFixed(3);
    results["latency overhead p99 ms"] = +percentile(overhead, 0.99).toFixed(3);
    results["client CPU ms per paid request"] = +((cpuUs.paid - cpuUs.transport) / SEQUENTIAL / 1000).toFixed(3);
    results["client CPU ms per plain fetch"] = +(cpuUs.fetch / SEQUENTIAL / 1000).toFixed(3);
    results["client CPU ms per unpaid request, core's transport"] = +(cpuUs.transport / SEQUENTIAL / 1000).toFixed(3);
    console.log(
      `\nclient as shipped, ${SEQUENTIAL} sequential rounds (unpaid via core's transport, unpaid via fetch, paid; order rotating):`,
    );
    console.log(
      `  latency p50: unpaid ${p50(ms.transport).toFixed(2)} ms, plain fetch ${p50(ms.fetch).toFixed(2)} ms, paid ${p50(ms.paid).toFixed(2)} ms`,
    );
    console.log(
      `  latency overhead (paid − unpaid, same transport): p50 ${results["latency overhead p50 ms"]} ms, p99 ${results["latency overhead p99 ms"]} ms`,
    );
    console.log(
      `  client CPU per request: unpaid ${results["client CPU ms per unpaid request, core's transport"]} ms, plain fetch ${results["client CPU ms per plain fetch"]} ms; paid adds ${results["client CPU ms per paid request"]} ms`,
    );
  } finally {
    for (const c of children.splice(0)) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, "SIGTERM");
    await chain.stop();
  }
}

/** 5. Tokens/s of the random-weights model, streamed: through a paid provider node against direct node-llama-cpp. */
async function llama(dir: string, results: Record<string, number>): Promise<void> {
  const { writeTestModel } = await import("../src/test-model/generate.js");
  const modelPath = join(dir, "random.gguf");
  await writeTestModel(modelPath, { kind: "random", seed: 1, size: "bench" });
  const TOKENS = 128;
  const LLAMA_ROUNDS = 6;
  const direct = await child(SERVER_CORE, join(here, "llama-direct.ts"), [modelPath, "1"], process.env, TSX);
  const { chain, network } = await startChain();
  try {
    const responseKey = generatePrivateKey();
    const config = await providerConfig(
      dir,
      "llama",
      chain,
      network,
      { kind: "llama", modelPath, threads: 1, parallel: 1 },
      "random",
      responseKey,
    );
    const provider = await startProvider(config.path, chain, responseKey);
    const user = new ZeroGClient({ network, account: signingAccount(chain.anvil.privateKeys[1] as Hex), pollingIntervalMs: 20 });
    await user.depositAndFund(chain.wallet(2).account.address, 10n ** 17n);
    const paid = createPaidFetch({ client: user, store: new MemoryLaneStore(), catalogueTtlSeconds: 3600 });
    const body = { model: "random", messages: [{ role: "user", content: "count" }], stream: true };
    const viaProvider = async (max: number) => {
      const t = performance.now();
      const res = await paid("http://0g.invalid/v1/chat/completions", {
        method: "POST",
        body: JSON.stringify({ ...body, max_tokens: max }),
      });
      await res.text();
      return { tokens: paid.receipts.at(-1)!.receipt.outputTokens, ms: performance.now() - t };
    };
    const viaDirect = async (max: number) => JSON.parse(await ask(direct.proc, `run ${max}`)) as { tokens: number; ms: number };
    // Warm both alike.
    await viaDirect(16);
    await viaProvider(16);
    const ratios: number[] = [];
    const directTps: number[] = [];
    const providerTps: number[] = [];
    for (let r = 0; r < LLAMA_ROUNDS; r++) {
      const first = r % 2 === 0 ? viaDirect : viaProvider;
      const second = first === viaDirect ? viaProvider : viaDirect;
      const a = await first(TOKENS);
      const b = await second(TOKENS);
      const [d, p] = first === viaDirect ? [a, b] : [b, a];
      directTps.push(d.tokens / (d.ms / 1000));
      providerTps.push(p.tokens / (p.ms / 1000));
      ratios.push(p.tokens / p.ms / (d.tokens / d.ms));
    }
    await paid.close();
    results["llama tokens/s direct"] = +stats(directTps).median.toFixed(1);
    results["llama tokens/s via provider"] = +stats(providerTps).median.toFixed(1);
    results["llama tokens/s ratio provider/direct"] = +stats(ratios).median.toFixed(3);
    console.log(
      `llama (bench-size random model, 1 thread, ${TOKENS} tokens streamed, ${LLAMA_ROUNDS} interleaved rounds): direct ${fmt(stats(directTps), 1)} tok/s, through the provider ${fmt(stats(providerTps), 1)} tok/s, ratio ${fmt(stats(ratios))}`,
    );
    process.kill(provider.proc.pid!, "SIGTERM");
  } finally {
    process.kill(direct.proc.pid!, "SIGTERM");
    await chain.stop();
  }
}

/** 6. Embeddings/s of the bench-size embedding model: through a paid provider node against node-llama-cpp's own API. */
async function embeddings(dir: string, results: Record<string, number>): Promise<void> {
  const { writeTestModel } = await import("../src/test-model/generate.js");
  const modelPath = join(dir, "embedding.gguf");
  const CONTEXT = 512;
  await writeTestModel(modelPath, { kind: "embedding", seed: 1, size: "bench", contextLength: CONTEXT });
  const ROUNDS = 5;
  const direct = await child(SERVER_CORE, join(here, "embeddings-direct.ts"), [modelPath, String(CONTEXT), "1"], process.env, TSX);
  const { chain, network } = await startChain();
  try {
    const responseKey = generatePrivateKey();
    const backend = { kind: "llama", modelPath, threads: 1, parallel: 1, contextSize: CONTEXT };
    const config = await providerConfig(dir, "embeddings", chain, network, backend, "embed", responseKey, "embedding");
    const provider = await startProvider(config.path, chain, responseKey);
    const user = new ZeroGClient({ network, account: signingAccount(chain.anvil.privateKeys[1] as Hex), pollingIntervalMs: 20 });
    await user.depositAndFund(chain.wallet(2).account.address, 10n ** 17n);
    const paid = createPaidFetch({ client: user, store: new MemoryLaneStore(), catalogueTtlSeconds: 3600 });
    const words = "the cat sat on a mat while markets fell and rain came over the north by the kitchen door".split(" ");
    // Sentences of 16 words, each different.
    const texts = (n: number, salt: number) =>
      Array.from({ length: n }, (_, i) => Array.from({ length: 16 }, (_, w) => words[(i * 7 + w * 3 + salt) % words.length]).join(" "));
    const viaProvider = async (batch: string[][]) => {
      const t = performance.now();
      for (const input of batch) {
        const res = await paid("http://0g.invalid/v1/embeddings", { method: "POST", body: JSON.stringify({ model: "embed", input }) });
        await res.text();
      }
      return { embeddings: batch.flat().length, ms: performance.now() - t };
    };
    const viaDirect = async (batch: string[][]) => {
      const r = JSON.parse(await ask(direct.proc, `run ${JSON.stringify(batch.flat())}`)) as { embeddings: number; ms: number };
      return r;
    };
    for (const size of [1, 32]) {
      // Requests per round: 64 single texts, or 4 batches of 32.
      const requests = size === 1 ? 64 : 4;
      const work = (salt: number) => Array.from({ length: requests }, (_, r) => texts(size, salt + r));
      await viaDirect(work(100));
      await viaProvider(work(100));
      const directRate: number[] = [];
      const providerRate: number[] = [];
      const ratios: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const batch = work(r);
        const directFirst = r % 2 === 0;
        const a = directFirst ? await viaDirect(batch) : await viaProvider(batch);
        const b = directFirst ? await viaProvider(batch) : await viaDirect(batch);
        const [d, p] = directFirst ? [a, b] : [b, a];
        directRate.push(d.embeddings / (d.ms / 1000));
        providerRate.push(p.embeddings / (p.ms / 1000));
        ratios.push(d.ms / p.ms);
      }
      results[`embeddings/s direct, batch ${size}`] = +stats(directRate).median.toFixed(1);
      results[`embeddings/s via provider, batch ${size}`] = +stats(providerRate).median.toFixed(1);
      results[`embeddings/s ratio provider/direct, batch ${size}`] = +stats(ratios).median.toFixed(3);
      console.log(
        `embeddings (bench-size model, 16-word texts, 1 thread, batch ${size}, ${ROUNDS} interleaved rounds): direct ${fmt(stats(directRate), 1)}/s, through the provider ${fmt(stats(providerRate), 1)}/s, ratio ${fmt(stats(ratios))}`,
      );
    }
    await paid.close();
    process.kill(provider.proc.pid!, "SIGTERM");
  } finally {
    process.kill(direct.proc.pid!, "SIGTERM");
    await chain.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, "SIGTERM");
  process.exit(1);
});
