import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import type { Hex, LocalAccount } from "viem";
import { z } from "zod";
import {
  keyFromEnv,
  loadKeystoreKey,
  resolveNetwork,
  signingAccount,
  ZeroGError,
  type NetworkConfig,
  type NetworkPreset,
} from "@0g-compute/core";
import type { Backend } from "./backend.js";
import { UpstreamBackend } from "./backends/upstream.js";

const decimal = z.string().regex(/^\d+$/, "an integer of wei, as a string");
const rateLimit = z.strictObject({ ratePerSecond: z.number().min(0), burst: z.number().min(0) });
const keySource = z.union([z.strictObject({ keystore: z.string() }), z.strictObject({ env: z.string() })]);

/** The provider's configuration file (JSON). Paths are relative to the file. */
export const providerConfigSchema = z.strictObject({
  network: z.strictObject({
    name: z.enum(["devnet", "galileo", "mainnet", "custom"]).default("devnet"),
    rpcUrl: z.string().optional(),
    escrow: z.string().optional(),
    registry: z.string().optional(),
    chainId: z.number().int().optional(),
  }),
  keys: z.strictObject({ provider: keySource, response: keySource }),
  server: z.strictObject({
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8080),
    /** The endpoint registered on-chain (https:// for anything but loopback). */
    publicUrl: z.string().url().optional(),
    /**
     * Web origins whose pages may call this node from a browser (CORS), e.g. `["https://app.example"]`, or
     * `["*"]` for any page. None by default: browsers then refuse cross-origin calls.
     */
    corsOrigins: z
      .array(z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, "an origin is scheme://host[:port] without a path, or *"))
      .default([]),
  }),
  /**
   * The admin listener (always 127.0.0.1). Its bearer token comes from `tokenEnv` if set, else from
   * `tokenFile` (created with a random token, mode 0600, on the first start); it is never printed.
   */
  admin: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(8081),
      tokenEnv: z.string().default("ZG_ADMIN_TOKEN"),
      tokenFile: z.string().default("admin-token"),
    })
    .default({ port: 8081, tokenEnv: "ZG_ADMIN_TOKEN", tokenFile: "admin-token" }),
  backend: z.discriminatedUnion("kind", [
    z.strictObject({
      kind: z.literal("llama"),
      modelPath: z.string(),
      threads: z.number().int().positive().default(1),
      parallel: z.number().int().positive().default(2),
      contextSize: z.number().int().positive().optional(),
    }),
    z.strictObject({
      kind: z.literal("upstream"),
      baseUrl: z.string().url(),
      apiKeyEnv: z.string().optional(),
      upstreamModel: z.string().optional(),
      contextLength: z.number().int().positive().default(8192),
      /** The vector size of an upstream embedding model (required when `service.kind` is "embedding"). */
      dimensions: z.number().int().positive().optional(),
    }),
  ]),
  service: z.strictObject({
    name: z.string().min(1).max(64).default("chat"),
    /**
     * What the service sells: chat completions; embeddings (`POST /v1/embeddings`, billed by input tokens);
     * with an upstream backend also images (`POST /v1/images/generations`, `inputPrice` per image) or
     * transcriptions (`POST /v1/audio/transcriptions`, `inputPrice` per second of audio).
     */
    kind: z.enum(["chat", "embedding", "images", "transcription"]).default("chat"),
    model: z.string().min(1).max(128),
    quantization: z.string().max(32).default(""),
    /** bytes32 hex; defaults to the sha256 of the GGUF file for a llama backend. */
    modelHash: z
      .string()
      .regex(/^0x[0-9a-fA-F]{64}$/)
      .optional(),
    inputPrice: decimal,
    outputPrice: decimal,
    metadata: z.record(z.string(), z.unknown()).default({}),
  }),
  database: z.string().default("provider.db"),
  /** "process" survives any crash of the node; "power" also an OS crash or power loss (slower). */
  durability: z.enum(["process", "power"]).default("process"),
  /** Most credit a channel gets over unacknowledged and in-flight fees (wei). */
  creditLimit: decimal.optional(),
  /** Credit of a new channel as a share of `creditLimit` (default 0.25); acknowledged fees earn the rest. */
  baseCreditShare: z.number().gt(0).max(1).optional(),
  /** Seconds a fee may stay unacknowledged before the channel gets no new credit (default 60). */
  ackTimeoutSeconds: z.number().positive().optional(),
  /** Largest request body in bytes (default 256 per token of context, at least 1 MiB). */
  maxBodyBytes: z.number().int().positive().optional(),
  /** Budgets for refusals (per client address and per signing key) and acknowledgements (per key); rate 0 = off. */
  limits: z
    .strictObject({
      refusalsPerAddress: rateLimit.optional(),
      refusalsPerKey: rateLimit.optional(),
      acksPerKey: rateLimit.optional(),
    })
    .default({}),
  settlement: z
    .strictObject({
      intervalSeconds: z.number().positive().optional(),
      minValue: decimal.optional(),
      maxAgeSeconds: z.number().positive().optional(),
      marginSeconds: z.number().positive().optional(),
      maxBatch: z.number().int().positive().optional(),
    })
    .default({}),
  /** ZK-mode settlement beside voucher mode (see docs/zk-settlement.md): the ZkEscrow and the circuit's files and shape. */
  zk: z
    .strictObject({
      escrow: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
      wasm: z.string(),
      zkey: z.string(),
      batchSize: z.number().int().positive(),
      queueSlots: z.number().int().positive(),
      depth: z.number().int().positive(),
      fromBlock: decimal.optional(),
    })
    .optional(),
});
export type ProviderConfig = z.infer<typeof providerConfigSchema>;

/** A configuration problem. */
export class ConfigError extends ZeroGError {
  constructor(message: string, hint?: string) {
    super("PROVIDER_CONFIG", message, hint === undefined ? {} : { hint });
  }
}

/** Read and validate a configuration file. */
export async function loadConfig(path: string): Promise<{ config: ProviderConfig; dir: string }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new ConfigError(`cannot read ${path}`, "create one with 0g-provider init");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${path} is not valid JSON`);
  }
  const parsed = providerConfigSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(`${path}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return { config: parsed.data, dir: dirname(resolve(path)) };
}

/** A path from the config, relative to the config file. */
export function configPath(dir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(dir, p);
}

export function networkOf(config: ProviderConfig): NetworkConfig {
  const n = config.network;
  return resolveNetwork(n.name as NetworkPreset | "custom", {
    ...(n.rpcUrl ? { rpcUrl: n.rpcUrl } : {}),
    ...(n.escrow ? { escrow: n.escrow } : {}),
    ...(n.registry ? { registry: n.registry } : {}),
    ...(n.chainId ? { chainId: n.chainId } : {}),
  });
}

/** Load a key (with native signing): from its keystore (password from `passwordEnv`) or from an environment variable. */
export async function keyOf(
  source: ProviderConfig["keys"]["provider"],
  dir: string,
  passwordEnv = "ZG_PROVIDER_PASSWORD",
): Promise<LocalAccount> {
  if ("env" in source) return signingAccount(keyFromEnv(source.env));
  const password = process.env[passwordEnv];
  if (password === undefined) throw new ConfigError(`set ${passwordEnv} to unlock ${source.keystore}`);
  return signingAccount(await loadKeystoreKey(configPath(dir, source.keystore), password));
}

/**
 * The admin token: from the environment variable the config names, else from the token file; with
 * `create`, a missing file is created with a fresh random token, readable by its owner only.
 */
export async function adminTokenOf(config: ProviderConfig, dir: string, create: boolean): Promise<{ token: string; source: string }> {
  const fromEnv = process.env[config.admin.tokenEnv];
  if (fromEnv) return { token: fromEnv, source: `$${config.admin.tokenEnv}` };
  const path = configPath(dir, config.admin.tokenFile);
  try {
    const token = (await readFile(path, "utf8")).trim();
    if (token !== "") return { token, source: path };
  } catch {
    // not there yet
  }
  if (!create) throw new ConfigError(`no admin token: set ${config.admin.tokenEnv}, or start the node once to create ${path}`);
  const token = randomBytes(24).toString("hex");
  await writeFile(path, token + "\n", { mode: 0o600, flag: "wx" });
  return { token, source: path };
}

/** sha256 of a file, as bytes32 hex (the registry's model file hash). */
export async function fileHash(path: string): Promise<Hex> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `0x${hash.digest("hex")}`;
}

/** Build the configured backend. */
export async function backendOf(config: ProviderConfig, dir: string): Promise<Backend> {
  const b = config.backend;
  const kind = config.service.kind;
  const embedding = kind === "embedding";
  if ((kind === "images" || kind === "transcription") && b.kind !== "upstream")
    throw new ConfigError(`service.kind ${kind} needs an upstream backend`, "set backend.kind to upstream");
  if (b.kind === "upstream") {
    if (embedding && b.dimensions === undefined)
      throw new ConfigError("backend.dimensions is missing", "an upstream embedding service needs its vector size");
    const apiKey = b.apiKeyEnv ? process.env[b.apiKeyEnv] : undefined;
    return new UpstreamBackend({
      baseUrl: b.baseUrl,
      ...(apiKey ? { apiKey } : {}),
      models: [
        {
          id: config.service.model,
          contextLength: b.contextLength,
          ...(b.upstreamModel ? { upstreamModel: b.upstreamModel } : {}),
          ...(embedding ? { capabilities: ["embeddings", "dimensions"], ...(b.dimensions ? { embeddingLength: b.dimensions } : {}) } : {}),
          ...(kind === "images" || kind === "transcription" ? { capabilities: [kind] } : {}),
        },
      ],
    });
  }
  const llamaOptions = {
    modelPath: configPath(dir, b.modelPath),
    modelId: config.service.model,
    threads: b.threads,
    parallel: b.parallel,
    ...(b.contextSize ? { contextSize: b.contextSize } : {}),
  };
  if (embedding) {
    const { LlamaEmbeddingBackend } = await import("./backends/llama-embeddings.js");
    return LlamaEmbeddingBackend.load(llamaOptions);
  }
  const { LlamaBackend } = await import("./backends/llama.js");
  return LlamaBackend.load(llamaOptions);
}

/**
 * The listing's metadata (JSON): the context length, what the service sells and, for embeddings, the
 * vector size (read from the GGUF file's header for a llama backend) or, for images and transcriptions,
 * the unit priced (image, second), then the configured metadata.
 *
 * @example
 * const metadata = await listingMetadata(config, dir); // '{"contextLength":2048,"kind":"embedding","dimensions":384}'
 */
export async function listingMetadata(config: ProviderConfig, dir: string): Promise<string> {
  const b = config.backend;
  const contextLength = b.kind === "upstream" ? b.contextLength : b.contextSize;
  let dimensions: number | undefined;
  if (config.service.kind === "embedding") {
    if (b.kind === "upstream") dimensions = b.dimensions;
    else {
      const { readGgufFileInfo } = await import("node-llama-cpp");
      const info = await readGgufFileInfo(configPath(dir, b.modelPath), { readTensorInfo: false, logWarnings: false });
      dimensions = (info.architectureMetadata as { embedding_length?: number }).embedding_length;
    }
  }
  const kind = config.service.kind;
  return JSON.stringify({
    ...(contextLength && (kind === "chat" || kind === "embedding") ? { contextLength } : {}),
    ...(kind === "embedding" ? { kind, ...(dimensions ? { dimensions } : {}) } : {}),
    ...(kind === "images" ? { kind, unit: "image" } : {}),
    ...(kind === "transcription" ? { kind, unit: "second" } : {}),
    ...config.service.metadata,
  });
}
