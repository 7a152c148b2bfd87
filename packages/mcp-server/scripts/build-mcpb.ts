/**
 * Builds the MCP Bundle (`.mcpb`) of the server for one-click installation in Claude Desktop:
 *
 *   npm run bundle -w @0g-compute/mcp-server [-- --out path.mcpb]
 *
 * The server and everything it imports are bundled by Vite into one file (`server/index.js`, for Node.js
 * 20 or later, no node_modules), next to `manifest.json` (mcpb/manifest.json with this package's version);
 * the manifest is validated and the folder packed with `@anthropic-ai/mcpb`. Offline: nothing is downloaded.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { build } from "vite";

const run = promisify(execFile);
const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const mcpb = join(pkgDir, "../../node_modules/@anthropic-ai/mcpb/dist/cli/cli.js");

/** Build the bundle into `out` and return the path of its unpacked folder (removed by the caller). */
export async function buildMcpb(out: string): Promise<string> {
  const pkg = JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8")) as { version: string };
  const manifest = JSON.parse(await readFile(join(pkgDir, "mcpb/manifest.json"), "utf8")) as { version: string };
  const stage = await mkdtemp(join(tmpdir(), "0g-mcpb-"));
  await build({
    configFile: false,
    logLevel: "warn",
    // The workspace packages from their TypeScript sources, as in the tests.
    resolve: { conditions: ["@0g-compute/source", "node", "import", "default"] },
    ssr: { noExternal: true, target: "node" },
    build: {
      ssr: join(pkgDir, "bin/0g-mcp-server.js"),
      outDir: join(stage, "server"),
      target: "node20",
      minify: false,
      emptyOutDir: true,
      reportCompressedSize: false,
      rollupOptions: { output: { format: "es", entryFileNames: "index.js", codeSplitting: false } },
    },
  });
  // The server reads its version from the package.json above its own folder.
  await writeFile(
    join(stage, "package.json"),
    `${JSON.stringify({ name: "0g-compute-mcpb", version: pkg.version, private: true, type: "module" }, null, 2)}\n`,
  );
  await writeFile(join(stage, "manifest.json"), `${JSON.stringify({ ...manifest, version: pkg.version }, null, 2)}\n`);
  await run(process.execPath, [mcpb, "validate", join(stage, "manifest.json")]);
  await mkdir(dirname(out), { recursive: true });
  await run(process.execPath, [mcpb, "pack", stage, out]);
  return stage;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  const out = resolve(values.out ?? join(pkgDir, "mcpb/0g-compute.mcpb"));
  const stage = await buildMcpb(out);
  await rm(stage, { recursive: true, force: true });
  process.stdout.write(`${out}\n`);
}
