/**
 * Builds everything a ZK settlement circuit needs, cached outside the repository (see
 * {@link ZK_BUILD_DIR}) by a hash of the circuit source, the toolchain versions and the shape (K voucher
 * slots, Q queue slots, tree depth D), so a fresh clone on the same machine reuses what was built:
 *
 *   1. circom 2 (the `circom2` WebAssembly build, `--O2`) -> r1cs + witness generator (wasm)
 *   2. powers of tau: an operator-supplied ceremony file (`ptauFile`), or for tests and benchmarks a
 *      test file made by `generateTestPtau` from a public seed (insecure; cached by power)
 *   3. Groth16 circuit key (phase 2): `zkey new`, then two contributions with fresh random entropy and
 *      a final beacon, with snarkjs
 *   4. verification key (JSON) and the Solidity verifier exported by snarkjs, compiled with the
 *      project's solc settings
 *
 * Nothing built here is committed. Usage as a script:
 *   tsx contracts/zk/build.ts --batch 4 --queue 2 --depth 16 [--ptau ceremony.ptau]
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as snarkjs from "snarkjs";
import { compileStandalone } from "../scripts/compile.js";
import { withBuildLock } from "./build-lock.js";
import { generateTestPtau } from "./ptau.js";

const require = createRequire(import.meta.url);
const contractsDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const circuitFile = join(contractsDir, "circuits", "zk_settlement.circom");
/**
 * Where built circuits, keys and test ptau files are cached: `$ZG_ZK_BUILD_DIR` when set, else
 * `0g-compute/zk-build` in the user's cache folder (`$XDG_CACHE_HOME`, default `~/.cache`). Entries are
 * named by their inputs' hash, so clones and versions of the project share it safely.
 */
export const ZK_BUILD_DIR =
  process.env.ZG_ZK_BUILD_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "0g-compute", "zk-build");
/** Bump when the build steps change in a way that changes their output. */
const SETUP_VERSION = "1";

/** The shape of a settlement circuit. */
export interface ZkCircuitConfig {
  /** Voucher slots per proof (K). */
  batchSize: number;
  /** Queue entries consumed per proof at most (Q). */
  queueSlots: number;
  /** Channel tree depth (D), at most 32. */
  depth: number;
}

/** The small circuit CI uses: K = 2, Q = 1, a 16-leaf tree. */
export const CI_CIRCUIT: ZkCircuitConfig = { batchSize: 2, queueSlots: 1, depth: 4 };

/** Paths and facts of a built circuit. */
export interface ZkArtifacts {
  config: ZkCircuitConfig;
  hash: string;
  dir: string;
  wasm: string;
  zkey: string;
  vkey: unknown;
  verifierAbi: unknown[];
  verifierBytecode: `0x${string}`;
  constraints: number;
  /** log2 of the Groth16 domain (the powers of tau needed). */
  power: number;
  /** Where the powers of tau came from. */
  ptau: { file: string; kind: "test-seed" | "ceremony" };
  /** Seconds each step took when it ran (absent when it came from the cache). */
  timings?: Record<string, number>;
}

/** Options for {@link ensureZkArtifacts}. */
export interface ZkBuildOptions {
  /** A public ceremony's prepared ptau file; without it an INSECURE test ptau is generated. */
  ptauFile?: string;
  log?: (message: string) => void;
}

/** A package's folder, found from its entry point (some packages do not export `package.json`). */
function packageDir(pkg: string): string {
  let dir = dirname(require.resolve(pkg));
  while (
    !existsSync(join(dir, "package.json")) ||
    (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string }).name !== pkg
  ) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the folder of ${pkg}`);
    dir = up;
  }
  return dir;
}

function toolchainHash(config: ZkCircuitConfig): string {
  const version = (pkg: string): string =>
    (JSON.parse(readFileSync(join(packageDir(pkg), "package.json"), "utf8")) as { version: string }).version;
  return createHash("sha256")
    .update(
      JSON.stringify({
        circuit: readFileSync(circuitFile, "utf8"),
        config,
        circom2: version("circom2"),
        circomlib: version("circomlib"),
        snarkjs: version("snarkjs"),
        setup: SETUP_VERSION,
      }),
    )
    .digest("hex")
    .slice(0, 16);
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolveRun() : reject(new Error(`${cmd} ${args.join(" ")} failed (${code}):\n${out}`))));
  });
}

/** Compile the circuit for `config` into `dir` (circom2, --O2): main.r1cs and main_js/main.wasm. */
async function compileCircuit(config: ZkCircuitConfig, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // circom2 must run from the folder that holds node_modules: it cannot include files above it.
  const nodeModules = dirname(packageDir("circomlib"));
  const cwd = dirname(nodeModules);
  const main = join(dir, "main.circom");
  writeFileSync(
    main,
    [
      "pragma circom 2.1.5;",
      `include "${relative(cwd, circuitFile)}";`,
      `component main {public [pub]} = ZkSettlement(${config.batchSize}, ${config.queueSlots}, ${config.depth});`,
      "",
    ].join("\n"),
  );
  const circom = join(packageDir("circom2"), "cli.js");
  await run(
    process.execPath,
    [circom, relative(cwd, main), "--r1cs", "--wasm", "--O2", "-o", relative(cwd, dir), "-l", relative(cwd, nodeModules), "-l", "."],
    cwd,
  );
}

/**
 * Compile only (no keys), to count constraints (and to time a prover on a timing-only key, see
 * `timing-key.ts`): cached like the full build.
 *
 * @example
 * const { constraints } = await countZkConstraints({ batchSize: 64, queueSlots: 16, depth: 16 });
 */
export async function countZkConstraints(
  config: ZkCircuitConfig,
): Promise<{ constraints: number; power: number; dir: string; r1cs: string; wasm: string }> {
  const dir = join(ZK_BUILD_DIR, `k${config.batchSize}-q${config.queueSlots}-d${config.depth}-${toolchainHash(config)}`);
  const r1cs = join(dir, "main.r1cs");
  const wasm = join(dir, "main_js", "main.wasm");
  // Both outputs, so a compile cut short (tens of minutes at K = 64) runs again instead of half-serving.
  if (!existsSync(r1cs) || !existsSync(wasm)) await compileCircuit(config, dir);
  const info = await snarkjs.r1cs.info(r1cs);
  await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
  return { constraints: info.nConstraints, power: circuitPower(info), dir, r1cs, wasm };
}

/** The snarkjs domain power for a circuit (how snarkjs sizes it). */
function circuitPower(info: { nConstraints: number; nPubInputs: number; nOutputs: number }): number {
  return Math.floor(Math.log2(info.nConstraints + info.nPubInputs + info.nOutputs)) + 1;
}

/** Path of the cached test ptau of `power`, generated if missing. */
async function ensureTestPtau(power: number, log: (m: string) => void = () => undefined): Promise<string> {
  const dir = join(ZK_BUILD_DIR, "ptau");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `test_seeded_${power}.ptau`);
  return withBuildLock(
    `${file}.lock`,
    () => existsSync(file),
    async () => {
      if (!existsSync(file)) {
        log(`generating test powers of tau 2^${power} (insecure, public seed)`);
        await generateTestPtau(file, power, { log });
      }
      return file;
    },
    () => file,
  );
}

/**
 * The artifacts built into `dir` (an entry of {@link ZK_BUILD_DIR}), with paths under `dir` wherever the
 * entry was built.
 *
 * @example
 * const art = loadZkArtifacts(join(ZK_BUILD_DIR, "k2-q1-d4-cc93e8115e00599e"));
 */
export function loadZkArtifacts(dir: string): ZkArtifacts {
  return {
    ...(JSON.parse(readFileSync(join(dir, "artifacts.json"), "utf8")) as ZkArtifacts),
    dir,
    wasm: join(dir, "main_js", "main.wasm"),
    zkey: join(dir, "final.zkey"),
  };
}

/**
 * Build (or load from the cache) the circuit, keys and verifier for `config`.
 *
 * @example
 * const art = await ensureZkArtifacts(CI_CIRCUIT);
 * const { proof } = await snarkjs.groth16.fullProve(batch.input, art.wasm, art.zkey);
 */
export async function ensureZkArtifacts(config: ZkCircuitConfig, options: ZkBuildOptions = {}): Promise<ZkArtifacts> {
  const log = options.log ?? (() => undefined);
  const hash =
    toolchainHash(config) +
    (options.ptauFile ? `-${createHash("sha256").update(resolve(options.ptauFile)).digest("hex").slice(0, 8)}` : "");
  const name = `k${config.batchSize}-q${config.queueSlots}-d${config.depth}-${hash}`;
  const dir = join(ZK_BUILD_DIR, name);
  const doneFile = join(dir, "artifacts.json");
  const load = (): ZkArtifacts => loadZkArtifacts(dir);
  if (existsSync(doneFile)) return load();
  mkdirSync(ZK_BUILD_DIR, { recursive: true });
  return withBuildLock(
    `${dir}.lock`,
    () => existsSync(doneFile),
    async () => {
      if (existsSync(doneFile)) return load();
      mkdirSync(dir, { recursive: true });
      const timings: Record<string, number> = {};
      const step = async <T>(label: string, f: () => Promise<T>): Promise<T> => {
        const t = Date.now();
        log(`${name}: ${label}`);
        const out = await f();
        timings[label] = (Date.now() - t) / 1000;
        return out;
      };
      try {
        await step("compile", () => compileCircuit(config, dir));
        const r1cs = join(dir, "main.r1cs");
        const wasm = join(dir, "main_js", "main.wasm");
        const info = await snarkjs.r1cs.info(r1cs);
        const power = circuitPower(info);
        const ptau = options.ptauFile ? resolve(options.ptauFile) : await step("ptau", () => ensureTestPtau(power, log));
        const z0 = join(dir, "step0.zkey");
        const z1 = join(dir, "step1.zkey");
        const z2 = join(dir, "step2.zkey");
        const zkey = join(dir, "final.zkey");
        await step("zkey new", () => snarkjs.zKey.newZKey(r1cs, ptau, z0));
        await step("contribution 1", () => snarkjs.zKey.contribute(z0, z1, "contribution 1", randomBytes(32).toString("hex")));
        await step("contribution 2", () => snarkjs.zKey.contribute(z1, z2, "contribution 2", randomBytes(32).toString("hex")));
        // The beacon: a public random value (in production, e.g. a future block hash named in advance).
        const beacon = createHash("sha256").update(`0g-compute zk beacon ${name}`).digest("hex");
        await step("beacon", () => snarkjs.zKey.beacon(z2, zkey, "final beacon", beacon, 10));
        for (const f of [z0, z1, z2]) rmSync(f, { force: true });
        const vkey = await snarkjs.zKey.exportVerificationKey(zkey);
        const template = readFileSync(join(packageDir("snarkjs"), "templates", "verifier_groth16.sol.ejs"), "utf8");
        const source = await snarkjs.zKey.exportSolidityVerifier(zkey, { groth16: template });
        writeFileSync(join(dir, "Groth16Verifier.sol"), source);
        const { abi, bytecode } = await step("verifier", async () => compileStandalone(source, "Groth16Verifier", dir));
        const artifacts: ZkArtifacts = {
          config,
          hash,
          dir,
          wasm,
          zkey,
          vkey,
          verifierAbi: abi,
          verifierBytecode: bytecode,
          constraints: info.nConstraints,
          power,
          ptau: { file: ptau, kind: options.ptauFile ? "ceremony" : "test-seed" },
          timings,
        };
        writeFileSync(doneFile + ".tmp", JSON.stringify(artifacts, null, 2));
        renameSync(doneFile + ".tmp", doneFile);
        return artifacts;
      } finally {
        await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
      }
    },
    load,
  );
}

async function cli(): Promise<void> {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const ptauIndex = process.argv.indexOf("--ptau");
  const config = {
    batchSize: arg("batch", CI_CIRCUIT.batchSize),
    queueSlots: arg("queue", CI_CIRCUIT.queueSlots),
    depth: arg("depth", CI_CIRCUIT.depth),
  };
  const art = await ensureZkArtifacts(config, {
    ...(ptauIndex > 0 ? { ptauFile: process.argv[ptauIndex + 1]! } : {}),
    log: (m) => process.stderr.write(`${m}\n`),
  });
  process.stdout.write(
    JSON.stringify({ dir: art.dir, constraints: art.constraints, power: art.power, ptau: art.ptau, timings: art.timings }, null, 2) + "\n",
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  cli().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
