// The one-click install: the `.mcpb` bundle is built (Vite bundles the server into one file), validated and
// packed with @anthropic-ai/mcpb, unpacked, and launched as Claude Desktop launches it: the manifest's
// command with `${__dirname}` and `${user_config.*}` filled in (empty for settings the user left out). It then
// serves a paid answer from a local network with no node_modules beside it. The registry's server.json and
// the manifest name only settings the server reads, with this package's version.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { parseAmount } from "@0g-compute/core";
import { startLocalNetwork, type LocalNetwork, type LocalUser } from "@0g-compute/provider/testing";
import { ALL_TOOLS, callOk } from "./helpers.js";

const run = promisify(execFile);
const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const root = join(pkgDir, "../..");
const mcpbCli = join(root, "node_modules/@anthropic-ai/mcpb/dist/cli/cli.js");

interface Manifest {
  version: string;
  server: { entry_point: string; mcp_config: { command: string; args: string[]; env: Record<string, string> } };
  user_config: Record<string, { default?: string | number; required?: boolean }>;
}

/** Every file under `dir`, relative to it. */
async function files(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await files(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

/** The names of environment variables the server's configuration reads. */
async function variablesRead(): Promise<Set<string>> {
  const sources = [join(pkgDir, "src/config.ts"), join(root, "packages/core/src/network-env.ts")];
  const names = new Set<string>();
  for (const file of sources) for (const m of (await readFile(file, "utf8")).matchAll(/\bZG_[A-Z_]+\b/g)) names.add(m[0]);
  return names;
}

describe("the .mcpb bundle", () => {
  let work: string;
  let unpacked: string;
  let manifest: Manifest;
  let net: LocalNetwork;
  let user: LocalUser;
  let pid: number | undefined;
  const version = async () => (JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8")) as { version: string }).version;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "0g-mcpb-test-"));
    const bundle = join(work, "0g-compute.mcpb");
    await run(
      process.execPath,
      ["--conditions=@0g-compute/source", "--import", "tsx", join(pkgDir, "scripts/build-mcpb.ts"), "--out", bundle],
      {
        cwd: root,
      },
    );
    unpacked = join(work, "installed");
    await run(process.execPath, [mcpbCli, "unpack", bundle, unpacked]);
    manifest = JSON.parse(await readFile(join(unpacked, "manifest.json"), "utf8")) as Manifest;
    net = await startLocalNetwork({ providers: [{ kind: "upstream" }] });
    user = await net.newUser({ deposit: parseAmount("1"), fund: parseAmount("0.1") });
  }, 180_000);

  afterAll(async () => {
    if (pid) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // exited
      }
    }
    await net?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("holds one server file, the manifest and the version, and nothing else", async () => {
    expect(await files(unpacked)).toEqual(["manifest.json", "package.json", "server/index.js"]);
    expect(manifest.version).toBe(await version());
    expect(manifest.server.entry_point).toBe("server/index.js");
    await expect(run(process.execPath, [mcpbCli, "validate", join(unpacked, "manifest.json")])).resolves.toBeDefined();
  });

  it("runs as an MCP host launches it, with only the settings the user gave, and sells a paid answer", async () => {
    const settings: Record<string, string> = {
      network: "devnet",
      rpc_url: net.network.rpcUrl,
      escrow: net.network.escrow,
      registry: net.network.registry,
      private_key: user.privateKey,
      spend_cap_session: "0.01",
      spend_cap_day: "0.1",
      funds_cap_session: "0",
      funds_cap_day: "0",
      max_tokens: "256",
    };
    // What the host does: fill in the placeholders; a setting the user left out becomes an empty string.
    const fill = (value: string) =>
      value.replaceAll(`\${__dirname}`, unpacked).replace(/\$\{user_config\.([\w-]+)\}/g, (_m, key: string) => settings[key] ?? "");
    const env = Object.fromEntries(Object.entries(manifest.server.mcp_config.env).map(([k, v]) => [k, fill(v)]));
    expect(env.ZG_SESSION_KEY).toBe(""); // left out: must read as unset
    const transport = new StdioClientTransport({
      command: manifest.server.mcp_config.command === "node" ? process.execPath : manifest.server.mcp_config.command,
      args: manifest.server.mcp_config.args.map(fill),
      env: { PATH: process.env.PATH ?? "", HOME: work, ...env },
      cwd: work, // nowhere near the repository's node_modules
      stderr: "pipe",
    });
    let stderr = "";
    transport.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    const client = new Client({ name: "mcpb-host", version: "1.0.0" });
    await client.connect(transport);
    pid = transport.pid ?? undefined;
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(ALL_TOOLS);
      expect(tools.map((t) => t.name).sort()).toEqual(
        (manifest as unknown as { tools: { name: string }[] }).tools.map((t) => t.name).sort(),
      );
      const answer = await callOk<{ text: string; receipt: { signature: string }; cost: { wei: string } }>(client, "ask", {
        prompt: "hello",
        max_tokens: 16,
      });
      expect(answer.text.length).toBeGreaterThan(0);
      expect(BigInt(answer.cost.wei)).toBeGreaterThan(0n);
      expect(answer.receipt.signature).toMatch(/^0x[0-9a-f]{130}$/);
    } finally {
      await client.close();
    }
    expect(stderr).not.toContain(user.privateKey.slice(2));
  }, 120_000);

  it("names only settings the server reads, in the manifest and in server.json, at this version", async () => {
    const read = await variablesRead();
    for (const name of Object.keys(manifest.server.mcp_config.env)) expect([name, read.has(name)]).toEqual([name, true]);
    // Every user setting is used, and every placeholder names a user setting.
    const used = new Set(
      Object.values(manifest.server.mcp_config.env).flatMap((v) => [...v.matchAll(/\$\{user_config\.([\w-]+)\}/g)].map((m) => m[1])),
    );
    expect([...used].sort()).toEqual(Object.keys(manifest.user_config).sort());

    const pkg = JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8")) as { name: string; version: string; mcpName: string };
    const server = JSON.parse(await readFile(join(pkgDir, "server.json"), "utf8")) as {
      name: string;
      description: string;
      version: string;
      packages: { registryType: string; identifier: string; version: string; environmentVariables: { name: string }[] }[];
    };
    expect(server.name).toBe(pkg.mcpName);
    expect(server.version).toBe(pkg.version);
    expect(server.description.length).toBeLessThanOrEqual(100);
    expect(server.packages).toEqual([expect.objectContaining({ registryType: "npm", identifier: pkg.name, version: pkg.version })]);
    for (const { name } of server.packages[0]!.environmentVariables) expect([name, read.has(name)]).toEqual([name, true]);
  });
});
