// Child process for benchmarks: an instant fake OpenAI-compatible upstream on 127.0.0.1; prints its URL.
import { startFakeUpstream } from "./fake-upstream.js";

const upstream = await startFakeUpstream({ mode: "ok", keepBodies: 1 });
process.stdout.write(`${upstream.url}\n`);
process.once("SIGTERM", () => void upstream.close().then(() => process.exit(0)));
