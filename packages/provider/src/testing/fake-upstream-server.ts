// Child process for benchmarks: a fake OpenAI-compatible upstream on 127.0.0.1; prints its URL. A line
// `latency <ms>` on stdin sets a fixed delay before every answer (answered with `ok`).
import { createInterface } from "node:readline";
import { startFakeUpstream } from "./fake-upstream.js";

const upstream = await startFakeUpstream({ mode: "ok", keepBodies: 1 });
process.stdout.write(`${upstream.url}\n`);
createInterface({ input: process.stdin }).on("line", (line) => {
  const m = /^latency (\d+)$/.exec(line.trim());
  if (m) {
    upstream.latencyMs = Number(m[1]);
    process.stdout.write("ok\n");
  }
});
process.once("SIGTERM", () => void upstream.close().then(() => process.exit(0)));
