/**
 * Compiles the Solidity sources with the npm `solc` package (standard JSON, optimizer + via-IR) and
 * writes typed ABI/bytecode modules to `contracts/generated/`. Skips the work when the sources, the
 * compiler version and the settings hash the same as last time.
 *
 * Usage: `npm run build:contracts` (or `tsx contracts/scripts/compile.ts [--force]`).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { poseidonHasherSource } from "../zk/poseidon-sol.js";

const require = createRequire(import.meta.url);
const solc = require("solc") as {
  version(): string;
  compile(input: string, options: { import: (path: string) => { contents: string } | { error: string } }): string;
};

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const srcDir = join(root, "src");
const outDir = join(root, "generated");

/** Contracts whose ABI and bytecode are exported, by source file and contract name. */
export const EXPORTS = [
  { file: "Escrow.sol", name: "Escrow", id: "escrow" },
  { file: "ServiceRegistry.sol", name: "ServiceRegistry", id: "serviceRegistry" },
  { file: "test/ReentrantReceiver.sol", name: "ReentrantReceiver", id: "reentrantReceiver" },
  { file: "ZkEscrow.sol", name: "ZkEscrow", id: "zkEscrow" },
  { file: "test/AcceptingVerifier.sol", name: "AcceptingVerifier", id: "acceptingVerifier" },
  { file: "generated/PoseidonHasher.sol", name: "PoseidonHasher", id: "poseidonHasher" },
] as const;

/** Sources generated at build time rather than kept in `src` (deterministic, so they hash like sources). */
function generatedSources(): Record<string, { content: string }> {
  return { "generated/PoseidonHasher.sol": { content: poseidonHasherSource() } };
}

export type SolcOutput = {
  errors?: { severity: string; formattedMessage: string }[];
  contracts: Record<
    string,
    Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>
  >;
};

/**
 * Compile standard-JSON sources with this project's settings; throws on errors. `only` limits code
 * generation to the named contracts (by source file), which is much faster with via-IR.
 */
export function compileSources(sources: Record<string, { content: string }>, only?: readonly { file: string; name: string }[]): SolcOutput {
  const selection = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"];
  const outputSelection = only
    ? Object.fromEntries(
        [...new Set(only.map((c) => c.file))].map((file) => [
          file,
          Object.fromEntries(only.filter((c) => c.file === file).map((c) => [c.name, selection])),
        ]),
      )
    : SETTINGS.outputSelection;
  const output = JSON.parse(
    solc.compile(JSON.stringify({ language: "Solidity", sources, settings: { ...SETTINGS, outputSelection } }), { import: findImport }),
  ) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) throw new Error(`solidity compilation failed:\n${errors.map((e) => e.formattedMessage).join("\n")}`);
  return output;
}

/**
 * Compile one generated contract (e.g. a snarkjs-exported verifier) with the project's settings, cached
 * in `cacheDir` by the hash of its source and the compiler.
 *
 * @example
 * const { abi, bytecode } = compileStandalone(verifierSource, "Groth16Verifier", buildDir);
 */
export function compileStandalone(source: string, name: string, cacheDir: string): { abi: unknown[]; bytecode: `0x${string}` } {
  const hash = createHash("sha256")
    .update(JSON.stringify({ source, name, settings: SETTINGS, solc: solc.version() }))
    .digest("hex")
    .slice(0, 16);
  const cached = join(cacheDir, `${name}.${hash}.json`);
  if (existsSync(cached)) return JSON.parse(readFileSync(cached, "utf8")) as { abi: unknown[]; bytecode: `0x${string}` };
  const output = compileSources({ [`${name}.sol`]: { content: source } });
  const artifact = output.contracts[`${name}.sol`]?.[name];
  if (!artifact) throw new Error(`compiler output lacks ${name}`);
  const result = { abi: artifact.abi, bytecode: `0x${artifact.evm.bytecode.object}` as `0x${string}` };
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(cached + ".tmp", JSON.stringify(result));
  renameSync(cached + ".tmp", cached);
  return result;
}

const SETTINGS = {
  optimizer: { enabled: true, runs: 10_000 },
  viaIR: true,
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function listSources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listSources(path);
    return name.endsWith(".sol") ? [path] : [];
  });
}

function findImport(path: string): { contents: string } | { error: string } {
  const candidates = [join(srcDir, path)];
  try {
    candidates.push(require.resolve(path));
  } catch {
    // not a package path
  }
  for (const candidate of candidates) {
    if (existsSync(candidate)) return { contents: readFileSync(candidate, "utf8") };
  }
  return { error: `import not found: ${path}` };
}

/** The sources the project compiles: `contracts/src` (by path relative to it) and the generated ones. */
export function projectSources(): Record<string, { content: string }> {
  const sources: Record<string, { content: string }> = {};
  for (const file of listSources(srcDir).sort()) sources[relative(srcDir, file)] = { content: readFileSync(file, "utf8") };
  Object.assign(sources, generatedSources());
  return sources;
}

/** The typed module (`<Name>.ts`) of one exported contract. */
function artifactModule(id: string, artifact: SolcOutput["contracts"][string][string]): string {
  return [
    "// Generated by contracts/scripts/compile.ts from contracts/src. Do not edit.",
    `export const ${id}Abi = ${JSON.stringify(artifact.abi, null, 2)} as const;`,
    `export const ${id}Bytecode = "0x${artifact.evm.bytecode.object}" as const;`,
    `export const ${id}DeployedBytecode = "0x${artifact.evm.deployedBytecode.object}" as const;`,
    "",
  ].join("\n");
}

/**
 * Write the typed modules of the exported contracts found in `output` to `dir`, and the index that
 * re-exports every exported contract (the others must already be in `dir`).
 */
export function writeArtifactModules(output: SolcOutput, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const index: string[] = [
    "// Generated by contracts/scripts/compile.ts from contracts/src. Do not edit.",
    `export const solcVersion = ${JSON.stringify(solc.version())};`,
  ];
  for (const { file, name, id } of EXPORTS) {
    const artifact = output.contracts[file]?.[name];
    if (artifact) writeFileSync(join(dir, `${name}.ts`), artifactModule(id, artifact));
    else if (!existsSync(join(dir, `${name}.ts`))) throw new Error(`compiler output lacks ${file}:${name}`);
    index.push(`export * from "./${name}.js";`);
  }
  writeFileSync(join(dir, "index.ts"), index.join("\n") + "\n");
}

function main(): void {
  const force = process.argv.includes("--force");
  const sources = projectSources();
  const files = Object.keys(sources).filter((name) => !name.startsWith("generated/"));

  const ozVersion = (require("@openzeppelin/contracts/package.json") as { version: string }).version;
  const hash = createHash("sha256")
    .update(JSON.stringify({ sources, settings: SETTINGS, solc: solc.version(), oz: ozVersion, exports: EXPORTS }))
    .digest("hex");
  const hashFile = join(outDir, ".source-hash");
  if (!force && existsSync(hashFile) && readFileSync(hashFile, "utf8") === hash) {
    return;
  }

  const started = Date.now();
  let output: SolcOutput;
  try {
    output = compileSources(sources);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
  for (const e of output.errors ?? []) process.stderr.write(e.formattedMessage + "\n");

  writeArtifactModules(output, outDir);
  // Write the hash last (atomically), so an interrupted run compiles again next time.
  writeFileSync(hashFile + ".tmp", hash);
  renameSync(hashFile + ".tmp", hashFile);
  process.stderr.write(`compiled ${files.length} Solidity files with solc ${solc.version()} in ${Date.now() - started} ms\n`);
}

// Run only as a script (the ZK build imports compileStandalone without compiling everything).
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
