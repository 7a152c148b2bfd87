/**
 * `npm run bench`: runs every benchmark script of the project (each `bench:*` script in package.json),
 * collects the figures each one writes with `--json`, and writes one report next to its targets:
 * `reports/bench.md` and `reports/bench.json` (printed too).
 *
 * Each benchmark writes `{ benchmark, results: { name: number }, targets: { name: ">= 0.9" | "<= 15000" } }`.
 * `npm run bench -- gas provider` runs only the named ones. Benchmarks print figures; nothing here fails
 * because a target is missed (the report says so); a benchmark that crashes is reported as such and
 * makes the exit status 1.
 */
import { spawn } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

interface BenchOutput {
  benchmark: string;
  results: Record<string, number>;
  targets?: Record<string, string>;
}

interface Row {
  benchmark: string;
  figure: string;
  /** null: a figure with a target that the benchmark could not measure. */
  value: number | null;
  target?: string;
  met?: boolean;
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Does `value` meet a target written as ">= 0.9", "<= 15000", "< 5", "> 1"? */
export function meets(value: number, target: string): boolean | undefined {
  const m = /^\s*(>=|<=|<|>)\s*([\d.,_]+)/.exec(target);
  if (!m) return undefined;
  const bound = Number(m[2]!.replace(/[,_]/g, ""));
  switch (m[1]) {
    case ">=":
      return value >= bound;
    case "<=":
      return value <= bound;
    case ">":
      return value > bound;
    default:
      return value < bound;
  }
}

function run(script: string, jsonOut: string): Promise<number> {
  return new Promise((resolve) => {
    const npm = process.env.npm_execpath;
    const [cmd, args] = npm
      ? [process.execPath, [npm, "run", "--silent", script, "--", "--json", jsonOut]]
      : ["npm", ["run", "--silent", script, "--", "--json", jsonOut]];
    const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
    child.once("exit", (code) => resolve(code ?? 1));
    child.once("error", () => resolve(1));
  });
}

async function main(): Promise<void> {
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const scripts = Object.keys(pkg.scripts)
    .filter((s) => s.startsWith("bench:"))
    .filter((s) => wanted.length === 0 || wanted.includes(s.slice("bench:".length)));
  const dir = join(tmpdir(), `0g-bench-${process.pid}`);
  await mkdir(dir, { recursive: true });
  const rows: Row[] = [];
  const failures: string[] = [];
  const started = Date.now();
  try {
    for (const script of scripts) {
      console.log(`\n== ${script} ==`);
      const out = join(dir, `${script.replace(":", "-")}.json`);
      const t0 = Date.now();
      const code = await run(script, out);
      let parsed: BenchOutput | undefined;
      try {
        parsed = JSON.parse(await readFile(out, "utf8")) as BenchOutput;
      } catch {
        parsed = undefined;
      }
      if (code !== 0 || !parsed) {
        failures.push(`${script} (exit ${code}${parsed ? "" : ", no figures"})`);
        continue;
      }
      for (const [figure, value] of Object.entries(parsed.results)) {
        const target = parsed.targets?.[figure];
        const met = target === undefined ? undefined : meets(value, target);
        rows.push({
          benchmark: parsed.benchmark,
          figure,
          value,
          ...(target === undefined ? {} : { target }),
          ...(met === undefined ? {} : { met }),
        });
      }
      for (const [figure, target] of Object.entries(parsed.targets ?? {})) {
        if (!(figure in parsed.results)) rows.push({ benchmark: parsed.benchmark, figure, value: null, target, met: false });
      }
      rows.push({ benchmark: parsed.benchmark, figure: "wall time of the benchmark (s)", value: Math.round((Date.now() - t0) / 100) / 10 });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const machine = `${cpus().length} CPU cores (${cpus()[0]?.model ?? "unknown"}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`;
  const lines = [
    "# Benchmark report",
    "",
    `Measured ${new Date().toISOString()} on ${machine}, in ${Math.round((Date.now() - started) / 1000)} s.`,
    "",
    "| benchmark | figure | value | target | met |",
    "|---|---|---:|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.benchmark} | ${r.figure} | ${r.value ?? "not measured"} | ${r.target ?? ""} | ${r.met === undefined ? "" : r.value === null ? "**not measured**" : r.met ? "yes" : "**no**"} |`,
    ),
    ...(failures.length ? ["", `Failed to run: ${failures.join(", ")}`] : []),
    "",
  ];
  const reports = join(root, "reports");
  await mkdir(reports, { recursive: true });
  await writeFile(join(reports, "bench.md"), lines.join("\n"));
  await writeFile(join(reports, "bench.json"), JSON.stringify({ measuredAt: new Date().toISOString(), machine, rows, failures }, null, 2));
  console.log(`\n${lines.join("\n")}`);
  console.log(`Written to reports/bench.md and reports/bench.json`);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
