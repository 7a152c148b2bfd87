// The docs name only what the code has: every protocol error code is in docs/protocol.md's table and every
// code there is one the code can send; every configuration key docs/operations.md documents is one the
// provider's configuration schema accepts; docs/errors.md lists exactly the suite's error codes with their kinds.
import { describe, expect, it } from "@jest/globals";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ERROR_CODES, PROTOCOL_ERROR_CODES } from "@0g-compute/core";
import { providerConfigSchema } from "@0g-compute/provider";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const doc = (name: string) => readFileSync(join(root, "docs", name), "utf8");

/** The rows of the markdown table that follows `heading`, as arrays of cells. */
function tableAfter(text: string, heading: RegExp): string[][] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => heading.test(l));
  expect(start).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith("#")) break;
    if (!line.startsWith("|")) {
      if (rows.length > 0) break;
      continue;
    }
    if (/^\|\s*-/.test(line)) continue;
    rows.push(
      line
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows.slice(1); // without the header row
}

const backticked = (cell: string): string[] => [...cell.matchAll(/`([a-z_A-Z]+)`/g)].map((m) => m[1]!);

describe("docs", () => {
  it("the protocol's error table lists exactly the codes the code sends, with their status", () => {
    const rows = tableAfter(doc("protocol.md"), /^### Errors/);
    const documented = new Map<string, number>();
    for (const [status, codes] of rows) {
      const statuses = status!.split("/").map((s) => s.trim());
      // Only the code column: details named in parentheses are not codes.
      for (const code of backticked(codes!.replace(/\(details:[^)]*\)/g, "")))
        documented.set(code, Number(statuses[0]!.replace("5xx", "500")));
    }
    const sent = Object.keys(PROTOCOL_ERROR_CODES).sort();
    expect([...documented.keys()].sort()).toEqual(sent);
    for (const [code, status] of Object.entries(PROTOCOL_ERROR_CODES)) {
      if (status < 500) expect([code, documented.get(code)]).toEqual([code, status]);
    }
  });

  it("every settlement key the operations guide documents is accepted by the configuration schema", () => {
    const rows = tableAfter(doc("operations.md"), /^### Settlement tuning/);
    expect(rows.length).toBeGreaterThan(3);
    const base = {
      network: { name: "devnet" },
      keys: { provider: { env: "K" }, response: { env: "R" } },
      server: { host: "127.0.0.1", port: 8080 },
      admin: { port: 8081 },
      backend: { kind: "upstream", baseUrl: "http://127.0.0.1:8000/v1", contextLength: 4096 },
      service: { name: "chat", model: "m", quantization: "", inputPrice: "1", outputPrice: "2", metadata: {} },
      database: "provider.db",
    };
    const unknown: string[] = [];
    for (const [keyCell] of rows) {
      const key = backticked(keyCell!)[0]!;
      const parsed = providerConfigSchema.safeParse({ ...base, settlement: { [key]: key === "minValue" ? "1" : 1 } });
      if (!parsed.success && parsed.error.issues.some((i) => i.code === "unrecognized_keys")) unknown.push(key);
      else expect(parsed.success).toBe(true);
    }
    expect(unknown).toEqual([]);
  });

  it("the error page lists every code of ERROR_CODES with its kind, and nothing else", () => {
    const text = doc("errors.md");
    const rows = tableAfter(text, /^## Listed codes/);
    const documented = Object.fromEntries(rows.map(([code, kind]) => [backticked(code!)[0]!, kind]));
    // The list of revert codes is the section's last paragraph.
    const reverts = text.slice(text.indexOf("## Contract reverts")).trim().split("\n\n").at(-1)!;
    for (const code of backticked(reverts)) documented[code] = "refused";
    expect(documented).toEqual({ ...ERROR_CODES });
  });
});
