import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { spawn, type ChildProcess } from "node:child_process";
import { ZeroGError } from "@0g-compute/core";
import type { SnarkjsGroth16Proof } from "@0g-compute/core/zk";

/** Proving failed in the prover process. */
export class ZkProverError extends ZeroGError {
  constructor(message: string) {
    super("ZK_PROVE_FAILED", message, { hint: "check that the circuit artifacts match the escrow's verifier" });
  }
}

// The prover's code, run with `node --input-type=module -e`, so it loads the same way from source and
// from dist. A child process, not a worker thread: snarkjs's thread pool (the web-worker package) takes
// over any worker thread it is loaded in, so it cannot run inside one.
const PROVER_SOURCE = `
const snarkjs = await import(process.env.ZG_SNARKJS_URL);
process.on("disconnect", () => process.exit(0));
process.on("message", (job) => {
  snarkjs.groth16.fullProve(job.input, job.wasm, job.zkey)
    .then(({ proof }) => process.send({ id: job.id, proof }))
    .catch((err) => process.send({ id: job.id, error: String((err && err.message) || err) }));
});
process.send({ ready: true });
`;

/** URL of snarkjs's ES module entry, imported by the prover process. */
function snarkjsUrl(): string {
  let dir = dirname(createRequire(import.meta.url).resolve("snarkjs"));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return pathToFileURL(join(dir, "main.js")).href;
}

/** The circuit files a prover needs (built by contracts/zk/build.ts). */
export interface ZkProverArtifacts {
  wasm: string;
  zkey: string;
}

/**
 * Groth16 prover in its own process: proving takes seconds to minutes of CPU and must never block the
 * provider's HTTP serving. One process, one proof at a time; `close()` ends it (by its PID).
 *
 * @example
 * const prover = new ZkProver({ wasm, zkey });
 * const proof = await prover.prove(batch.input);
 * await prover.close();
 */
export class ZkProver {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (p: SnarkjsGroth16Proof) => void; reject: (e: Error) => void }>();

  constructor(private readonly artifacts: ZkProverArtifacts) {}

  /** PID of the prover process (0 before the first proof). */
  get pid(): number {
    return this.child?.pid ?? 0;
  }

  prove(input: Record<string, unknown>): Promise<SnarkjsGroth16Proof> {
    const child = this.ensureChild();
    const id = this.nextId++;
    child.ref(); // keep the provider alive while a proof is pending, not while idle
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.send({ id, input, wasm: this.artifacts.wasm, zkey: this.artifacts.zkey });
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolveClose) => {
      child.once("exit", () => resolveClose());
      child.kill("SIGTERM");
    });
  }

  private ensureChild(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(process.execPath, ["--input-type=module", "-e", PROVER_SOURCE], {
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      env: { ...process.env, ZG_SNARKJS_URL: snarkjsUrl() },
    });
    child.on("message", (m: { id?: number; proof?: SnarkjsGroth16Proof; error?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) {
        child.unref();
        child.channel?.unref();
      }
      if (m.proof) p.resolve(m.proof);
      else p.reject(new ZkProverError(m.error ?? "proving failed"));
    });
    child.on("error", (err) => this.failAll(new ZkProverError(err.message)));
    child.on("exit", () => {
      if (this.child === child) this.child = undefined;
      this.failAll(new ZkProverError("prover process exited"));
    });
    this.child = child;
    return child;
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
