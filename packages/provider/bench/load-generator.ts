/**
 * Child process of `bench:provider`: a cheap load generator (node:http, one keep-alive socket per virtual
 * client, nothing else on its event loop). Each virtual client sends its requests one after another;
 * paid runs carry pre-signed ticket headers, so no signing happens while the clock runs.
 *
 * Input: the path of a JSON file `{ url, body, requests: number, tickets?: string[][] }` (one ticket list
 * per client, or `clients` when unpaid). Output (stdout, one line): `{ seconds, requests, failures,
 * p50Ms, p99Ms, cpuMs }`, where `cpuMs` is this process's own CPU time during the run, so the caller can
 * check that the generator was not the bottleneck.
 */
import { Agent, request } from "node:http";
import { readFileSync } from "node:fs";

interface LoadSpec {
  url: string;
  body: string;
  /** Requests per virtual client. */
  requests: number;
  /** Virtual clients when `tickets` is absent. */
  clients?: number;
  /** The ticket header of each request, per client. */
  tickets?: string[][];
}

const spec = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as LoadSpec;
const target = new URL("/v1/chat/completions", spec.url);
const clients = spec.tickets?.length ?? spec.clients ?? 1;
const agent = new Agent({ keepAlive: true, maxSockets: clients });
const body = Buffer.from(spec.body);

function send(ticket: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": body.length };
    if (ticket !== undefined) headers["x-0g-ticket"] = ticket;
    const req = request(target, { method: "POST", agent, headers }, (res) => {
      res.on("data", () => undefined);
      res.on("end", () => resolve(res.statusCode === 200));
    });
    req.on("error", () => resolve(false));
    req.end(body);
  });
}

const latencies: number[] = [];
let failures = 0;
const cpu0 = process.cpuUsage();
const started = performance.now();
await Promise.all(
  Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; i < spec.requests; i++) {
      const t = performance.now();
      const ok = await send(spec.tickets?.[c]?.[i]);
      latencies.push(performance.now() - t);
      if (!ok) failures += 1;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
latencies.sort((a, b) => a - b);
const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
process.stdout.write(
  `${JSON.stringify({
    seconds,
    requests: latencies.length,
    failures,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    cpuMs: (cpu.user + cpu.system) / 1000,
  })}\n`,
);
agent.destroy();
