// End-to-end: `npm start`'s walk-through runs as a child process, reports real figures, exits 0 and
// leaves no chain behind.
import { describe, expect, it } from "@jest/globals";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function runDevnet(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(root, "node_modules", ".bin", "tsx"), ["--conditions=@0g-compute/source", "scripts/devnet.ts"], { cwd: root });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    }, 90_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("npm start (devnet walk-through)", () => {
  it("settles the newest voucher, refunds the rest after the lock, and stops its chain", async () => {
    const { code, stdout, stderr } = await runDevnet();
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const fees = /fees for 3 requests\s+([\d.]+) 0G/.exec(stdout)?.[1];
    const earned = /provider earned\s+([\d.]+) 0G/.exec(stdout)?.[1];
    const refunded = /user refunded after the lock\s+([\d.]+) 0G/.exec(stdout)?.[1];
    expect(fees).toBe("0.00189");
    expect(earned).toBe(fees);
    expect(Number(refunded) + Number(fees)).toBeCloseTo(1, 12);
    const rpc = /RPC\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
    expect(rpc).toBeDefined();
    // The chain it started is gone.
    await expect(fetch(rpc!, { method: "POST", body: "{}" })).rejects.toThrow();
  });
});
