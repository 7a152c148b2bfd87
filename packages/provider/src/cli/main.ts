/**
 * `0g-provider`: run a 0G Compute provider node.
 *   init        write a configuration file and create the keys (encrypted keystores)
 *   register    post the listing bond if needed and list (or update) the service on-chain
 *   update      the same as register, for an existing service
 *   unregister  remove the service from the registry (vouchers stay settleable)
 *   start       serve: verify tickets, meter, sign receipts, settle
 *   status      what the running node has billed, acknowledged and settled
 *   settle      force a settlement run now
 */
import { access, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { Command, CommanderError } from "commander";
import type { Address, LocalAccount } from "viem";
import { createKeystore, errorLine, EXIT, exitCodeFor, formatAmount, parseAmount, ZeroGClient, ZeroGError } from "@0g-compute/core";
import {
  adminTokenOf,
  backendOf,
  configPath,
  ConfigError,
  fileHash,
  keyOf,
  listingMetadata,
  loadConfig,
  networkOf,
  type ProviderConfig,
} from "../config.js";
import { ProviderNode, type ProviderStatus } from "../node.js";
import { registerService, unregisterService } from "../registration.js";

const VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
const program = new Command();
program
  .name("0g-provider")
  .description("Sell AI inference on the 0G Compute network: serve a GGUF model or an upstream server, get paid per token.")
  .option("-c, --config <path>", "configuration file", "0g-provider.json")
  .option("--admin-url <url>", "status and settle: a running node's admin API, instead of the one the configuration names")
  .option("--admin-token-file <path>", "status and settle: file holding the admin token (else $ZG_ADMIN_TOKEN, else the configuration's)")
  .option("--json", "machine-readable output (amounts in wei)")
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride();

const opts = () => program.opts<{ config: string; adminUrl?: string; adminTokenFile?: string; json?: boolean }>();
const print = (value: unknown, human: string) =>
  process.stdout.write(
    (opts().json ? JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) : human) + "\n",
  );

/** Price per 1M tokens in 0G to wei per token; must divide exactly. */
function perTokenWei(perMillion: string): string {
  const wei = parseAmount(perMillion);
  if (wei % 1_000_000n !== 0n) throw new ConfigError(`price ${perMillion} 0G per 1M tokens is not a whole number of wei per token`);
  return (wei / 1_000_000n).toString();
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

program
  .command("init")
  .description("write a configuration file and create encrypted keystores for the provider key and the receipt-signing key")
  .requiredOption("--model-id <id>", "model id clients will ask for, e.g. llama-3.2-1b-instruct")
  .option("--gguf <path>", "serve this GGUF file with the embedded llama.cpp")
  .option("--upstream <url>", "or forward to this OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1)")
  .option("--upstream-model <name>", "the upstream's name for the model")
  .option("--kind <kind>", "what to sell: chat, embedding, images or transcription (the last two from an upstream)", "chat")
  .option("--embedding", "same as --kind embedding: embeddings (POST /v1/embeddings), billed by input tokens")
  .option("--dimensions <n>", "an upstream embedding model's vector size")
  .option("--unit-price <0G>", "images and transcription: price per image or per second of audio, in 0G")
  .option("--input-price <0G>", "price per 1M input tokens, in 0G", "0.1")
  .option("--output-price <0G>", "price per 1M output tokens, in 0G", "0.2")
  .option("--network <name>", "devnet, galileo, mainnet or custom", "devnet")
  .option("--rpc-url <url>")
  .option("--escrow <address>")
  .option("--registry <address>")
  .option("--port <n>", "public port", "8080")
  .option("--public-url <url>", "endpoint to register (default http://127.0.0.1:<port>)")
  .option("--threads <n>", "llama.cpp threads", "1")
  .action(async (cmd: Record<string, string | undefined>) => {
    const path = resolve(opts().config);
    if (await exists(path)) throw new ConfigError(`${path} exists; not overwriting it`);
    if (!cmd.gguf === !cmd.upstream) throw new ConfigError("give exactly one of --gguf and --upstream");
    const kind = cmd.embedding ? "embedding" : (cmd.kind ?? "chat");
    if (kind !== "chat" && kind !== "embedding" && kind !== "images" && kind !== "transcription")
      throw new ConfigError(`--kind ${kind} is not one of chat, embedding, images, transcription`);
    const embedding = kind === "embedding";
    const perUnit = kind === "images" || kind === "transcription";
    if (embedding && cmd.upstream && !cmd.dimensions) throw new ConfigError("an upstream embedding model needs --dimensions");
    if (perUnit && !cmd.upstream) throw new ConfigError(`--kind ${kind} sells an upstream's endpoint: give --upstream`);
    if (perUnit && !cmd.unitPrice)
      throw new ConfigError(`--kind ${kind} needs --unit-price (0G per ${kind === "images" ? "image" : "second"})`);
    const password = process.env.ZG_PROVIDER_PASSWORD;
    if (!password) throw new ConfigError("set ZG_PROVIDER_PASSWORD: it encrypts the keystores init creates");
    const dir = resolve(path, "..");
    const providerKey = await createKeystore(join(dir, "provider-key.json"), password);
    const responseKey = await createKeystore(join(dir, "response-key.json"), password);
    const port = Number(cmd.port);
    const config: ProviderConfig = {
      network: {
        name: (cmd.network ?? "devnet") as ProviderConfig["network"]["name"],
        ...(cmd.rpcUrl ? { rpcUrl: cmd.rpcUrl } : {}),
        ...(cmd.escrow ? { escrow: cmd.escrow } : {}),
        ...(cmd.registry ? { registry: cmd.registry } : {}),
      },
      keys: { provider: { keystore: "provider-key.json" }, response: { keystore: "response-key.json" } },
      server: { host: "127.0.0.1", port, publicUrl: cmd.publicUrl ?? `http://127.0.0.1:${port}`, corsOrigins: [] },
      admin: { port: port + 1, tokenEnv: "ZG_ADMIN_TOKEN", tokenFile: "admin-token" },
      backend: cmd.gguf
        ? { kind: "llama", modelPath: resolve(cmd.gguf), threads: Number(cmd.threads), parallel: 2 }
        : {
            kind: "upstream",
            baseUrl: cmd.upstream!,
            contextLength: 8192,
            ...(cmd.upstreamModel ? { upstreamModel: cmd.upstreamModel } : {}),
            ...(embedding ? { dimensions: Number(cmd.dimensions) } : {}),
          },
      service: {
        name: embedding ? "embeddings" : kind,
        kind,
        model: cmd.modelId!,
        quantization: "",
        inputPrice: perUnit ? parseAmount(cmd.unitPrice!).toString() : perTokenWei(cmd.inputPrice!),
        outputPrice: perUnit ? "0" : perTokenWei(cmd.outputPrice!),
        metadata: {},
      },
      database: "provider.db",
      durability: "process",
      limits: {},
      settlement: {},
    };
    await writeFile(path, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
    print(
      { config: path, provider: providerKey.address, responseSigner: responseKey.address },
      `wrote ${path}\nprovider address  ${providerKey.address} (fund it with gas and the listing bond)\nreceipt signer    ${responseKey.address}\nnext: 0g-provider register, then 0g-provider start (its admin token is kept in admin-token beside the config)`,
    );
  });

async function context() {
  const { config, dir } = await loadConfig(opts().config);
  const network = networkOf(config);
  const providerAccount = await keyOf(config.keys.provider, dir);
  const sdk = new ZeroGClient({ network, account: providerAccount, pollingIntervalMs: network.chainId === 31337 ? 50 : 1000 });
  const publicClient = sdk.publicClient;
  const wallet = sdk.walletClient;
  return { config, dir, network, providerAccount, publicClient, wallet };
}

async function register(): Promise<void> {
  const { config, dir, network, publicClient, wallet } = await context();
  const responseKey = await keyOf(config.keys.response, dir);
  const modelHash =
    config.service.modelHash ??
    (config.backend.kind === "llama" ? await fileHash(configPath(dir, config.backend.modelPath)) : `0x${"0".repeat(64)}`);
  const endpoint = config.server.publicUrl ?? `http://127.0.0.1:${config.server.port}`;
  const result = await registerService(wallet, publicClient, network, {
    name: config.service.name,
    model: config.service.model,
    modelHash: modelHash as `0x${string}`,
    quantization: config.service.quantization,
    endpoint,
    inputPrice: BigInt(config.service.inputPrice),
    outputPrice: BigInt(config.service.outputPrice),
    signer: responseKey.address,
    metadata: await listingMetadata(config, dir),
  });
  print(
    { serviceId: result.id, version: result.version, txs: result.txs },
    `listed ${config.service.model} as "${config.service.name}" (version ${result.version}) at ${endpoint}\nservice id ${result.id}`,
  );
}

program.command("register").description("post the listing bond if needed and list the service").action(register);
program
  .command("update")
  .description("update the listed service from the configuration (price increases and model changes are scheduled)")
  .action(register);
program
  .command("unregister")
  .description("remove the service from the registry")
  .action(async () => {
    const { config, network, publicClient, wallet } = await context();
    const tx = await unregisterService(wallet, publicClient, network, config.service.name);
    print({ tx }, `removed "${config.service.name}" (tx ${tx}); unsettled vouchers stay payable`);
  });

program
  .command("start")
  .description("serve (foreground); Ctrl-C or SIGTERM stops it cleanly")
  .action(async () => {
    const { config, dir, network, providerAccount } = await context();
    const responseSigner = await keyOf(config.keys.response, dir);
    const { token, source: tokenSource } = await adminTokenOf(config, dir, true);
    const s = config.settlement;
    const node = await ProviderNode.start({
      network,
      providerAccount,
      responseSigner: responseSigner as LocalAccount,
      backend: await backendOf(config, dir),
      dbPath: configPath(dir, config.database),
      durability: config.durability,
      host: config.server.host,
      port: config.server.port,
      corsOrigins: config.server.corsOrigins,
      admin: { port: config.admin.port, token },
      ...(config.creditLimit ? { creditLimit: BigInt(config.creditLimit) } : {}),
      ...(config.baseCreditShare === undefined ? {} : { baseCreditShare: config.baseCreditShare }),
      ...(config.ackTimeoutSeconds === undefined ? {} : { ackTimeoutSeconds: config.ackTimeoutSeconds }),
      ...(config.maxBodyBytes === undefined ? {} : { maxBodyBytes: config.maxBodyBytes }),
      limits: Object.fromEntries(Object.entries(config.limits).filter(([, v]) => v !== undefined)),
      settlement: {
        ...(s.intervalSeconds ? { intervalMs: s.intervalSeconds * 1000 } : {}),
        ...(s.minValue ? { minValueWei: BigInt(s.minValue) } : {}),
        ...(s.maxAgeSeconds ? { maxAgeMs: s.maxAgeSeconds * 1000 } : {}),
        ...(s.marginSeconds ? { marginSeconds: BigInt(s.marginSeconds) } : {}),
        ...(s.maxBatch ? { maxBatch: s.maxBatch } : {}),
      },
      ...(config.zk
        ? {
            zk: {
              escrow: config.zk.escrow as Address,
              artifacts: {
                wasm: configPath(dir, config.zk.wasm),
                zkey: configPath(dir, config.zk.zkey),
                shape: { batchSize: config.zk.batchSize, queueSlots: config.zk.queueSlots, depth: config.zk.depth },
              },
              ...(config.zk.fromBlock ? { fromBlock: BigInt(config.zk.fromBlock) } : {}),
            },
          }
        : {}),
    });
    print(
      { url: node.url, admin: node.adminUrl, provider: providerAccount.address, adminTokenFrom: tokenSource },
      `serving at ${node.url} (admin ${node.adminUrl}, token in ${tokenSource})`,
    );
    await new Promise<void>((done) => {
      process.once("SIGINT", done);
      process.once("SIGTERM", done);
    });
    await node.stop();
  });

/** Where the running node's admin API is, and its token: flags and environment first, then the configuration. */
async function adminEndpoint(): Promise<{ url: string; token: string }> {
  const o = opts();
  const fromFile =
    o.adminTokenFile === undefined
      ? undefined
      : (
          await readFile(o.adminTokenFile, "utf8").catch(() => {
            throw new ConfigError(`cannot read the admin token file ${o.adminTokenFile}`);
          })
        ).trim();
  const explicit = fromFile || process.env.ZG_ADMIN_TOKEN;
  if (o.adminUrl !== undefined) {
    if (!explicit)
      throw new ConfigError("--admin-url needs the node's admin token", "pass --admin-token-file <path> or set ZG_ADMIN_TOKEN");
    return { url: o.adminUrl.replace(/\/+$/, ""), token: explicit };
  }
  const path = resolve(o.config);
  if (!(await exists(path))) {
    throw new ConfigError(
      `no provider configuration at ${path}`,
      "run this where 0g-provider init wrote it, pass --config <file>, or reach a running node with --admin-url <url> --admin-token-file <path> (npm start -- --keep prints both)",
    );
  }
  const { config, dir } = await loadConfig(path);
  return { url: `http://127.0.0.1:${config.admin.port}`, token: explicit ?? (await adminTokenOf(config, dir, false)).token };
}

async function admin(path: string, method: "GET" | "POST"): Promise<unknown> {
  const { url, token } = await adminEndpoint();
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  } catch {
    throw new ZeroGError("NODE_NOT_RUNNING", `no provider node answers at ${url}`, {
      hint: "start it with 0g-provider start, or check --admin-url",
    });
  }
  if (res.status === 401)
    throw new ZeroGError("ADMIN_REFUSED", "the admin API refused the token", {
      hint: "check ZG_ADMIN_TOKEN, --admin-token-file or the admin-token file beside the configuration",
    });
  if (!res.ok) throw new ZeroGError("ADMIN_REFUSED", `the admin API answered ${res.status}`);
  return res.json();
}

const og = (wei: unknown) => formatAmount(BigInt(String(wei)));

program
  .command("status")
  .description("billed, acknowledged, unacknowledged and settled totals, earnings and recent settlements of the running node")
  .action(async () => {
    const s = (await admin("/admin/status", "GET")) as ProviderStatus;
    print(
      s,
      [
        `provider       ${s.provider}`,
        `serving        ${s.url} (${s.backend}: ${s.models.join(", ")})`,
        `lanes          ${s.lanes}`,
        `billed         ${og(s.billed)}`,
        `acknowledged   ${og(s.acknowledged)}`,
        `unacknowledged ${og(s.unacknowledged)} on ${s.unacknowledgedLanes} lane(s)`,
        `settled        ${og(s.settled)}`,
        `in flight      ${og(s.reserved)} reserved`,
        `earnings       ${og(s.earnings)} withdrawable from the escrow`,
        ...(s.settlements.length === 0
          ? ["settlements   none yet"]
          : s.settlements
              .slice(0, 10)
              .map((t) => `settlement     ${t.at} ${t.status} ${t.items} voucher(s), ${og(t.paid)}, gas ${t.gasUsed}, tx ${t.txHash}`)),
      ].join("\n"),
    );
  });

program
  .command("settle")
  .description("settle every lane with unsettled value now")
  .action(async () => {
    const r = (await admin("/admin/settle", "POST")) as { txHash: string | null; items: number; paid: string; reason: string | null };
    print(r, r.txHash ? `settled ${r.items} voucher(s) for ${og(r.paid)} in ${r.txHash}` : `nothing to settle (${r.reason})`);
  });

/**
 * Run the CLI with `argv` (as `process.argv`) and resolve to its exit code; errors are printed, one line each.
 * Importing this module runs nothing: the `0g-provider` bin calls it.
 */
export async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const code = err instanceof ZeroGError ? err.code : "UNEXPECTED";
    if (opts().json)
      process.stdout.write(
        JSON.stringify({
          error: { code, message: (err as Error).message, ...(err instanceof ZeroGError && err.hint ? { hint: err.hint } : {}) },
        }) + "\n",
      );
    else process.stderr.write(errorLine(err) + "\n");
    return err instanceof ConfigError ? EXIT.usage : exitCodeFor(err);
  }
}
