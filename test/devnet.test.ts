// End-to-end: `npm start` runs the whole story as a child process (a LangChain agent with a tool and an
// MCP client buying inference from provider nodes serving generated GGUF models, settlement, the
// withdrawal lock), reports balanced books, exits 0 and leaves no process behind.
import { describe, expect, it } from "@jest/globals";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function runDevnet(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@0g-compute/source", "--import", "tsx", "scripts/devnet.ts"], { cwd: root });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    }, 150_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const field = (stdout: string, name: string): string | undefined => new RegExp(`^  ${name}\\s+(.+)$`, "m").exec(stdout)?.[1];

describe("npm start (the whole story on a local network)", () => {
  it("buys inference through LangChain and MCP, verifies every receipt, settles, refunds after the lock, and stops everything", async () => {
    const { code, stdout, stderr } = await runDevnet();
    expect(stderr).toBe("");
    expect(code).toBe(0);
    // The agent called its tool with the model's arguments and streamed an answer.
    expect(stdout).toContain('tool calls: get_weather({"city":"Paris"})');
    expect(stdout).toContain("tool get_weather -> It is sunny and 21 °C in Paris.");
    expect(stdout).toMatch(/receipts verified 2\/2/);
    // The MCP client's ask was answered by the scripted model, with a verified receipt.
    expect(stdout).toContain("< Hello from 0G Compute!");
    expect(stdout).toMatch(/receipt verified 1\/1/);
    // A paid retrieval: the sentence sharing the question's words, with every embedding receipt verified.
    expect(stdout).toContain('closest of 3 sentences: "The cat sat on the mat by the kitchen door."');
    expect(stdout).toMatch(/2 paid embedding requests, \d+ input tokens, .*receipts verified 2\/2/);
    // Settlement happened on-chain before the refund, and the books balance.
    expect(stdout).toMatch(/tx 0x[0-9a-f]{64}\s+gas \d+/);
    expect(stdout).toContain("completing before the unlock is refused (WITHDRAW_LOCKED)");
    expect(field(stdout, "funded - fees = refunded")).toBe("yes");
    const fees = /fees paid \(verified receipts\)\s+([\d.]+) 0G \(5 receipts, all verified\)/.exec(stdout)?.[1];
    const settled = /settled on-chain\s+([\d.]+) 0G in 3 transactions/.exec(stdout)?.[1];
    expect(fees).toBeDefined();
    expect(settled).toBe(fees);
    // Nothing it started is left: the chain and every provider are gone.
    const rpc = /^ {2}RPC\s+(http:\/\/127\.0\.0\.1:\d+)/m.exec(stdout)?.[1];
    const providers = field(stdout, "providers")?.split(" ") ?? [];
    expect(rpc).toBeDefined();
    expect(providers).toHaveLength(3);
    for (const url of [rpc!, ...providers]) await expect(fetch(url, { method: "POST", body: "{}" })).rejects.toThrow();
  });
});
