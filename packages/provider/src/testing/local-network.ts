/**
 * A whole 0G Compute network on this machine: anvil on 127.0.0.1 with the contracts deployed, one or
 * more provider nodes that registered their services, and funded users. Used by the devnet
 * (`npm start`), by the end-to-end tests and by the LangChain and MCP packages' tests.
 *
 * Backends: the generated test model through node-llama-cpp ("llama", the default), a real GGUF file
 * (`modelPath`), or the deterministic fake upstream ("upstream", exact tool calls for tests).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256, parseEther, toHex, type Address, type Hex, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { DeployParams } from "@0g-compute/contracts";
import { startLocalChain, type LocalChain } from "@0g-compute/contracts/testing";
import { createPaidFetch, resolveNetwork, ZeroGClient, type NetworkConfig, type PaidFetch, type PaidFetchOptions } from "@0g-compute/core";
import type { Backend } from "../backend.js";
import { UpstreamBackend } from "../backends/upstream.js";
import { ProviderNode, type ProviderNodeOptions } from "../node.js";
import { registerService } from "../registration.js";
import { writeTestModel, type TestModelKind } from "../test-model/generate.js";
import { FAKE_EMBEDDING_DIMENSIONS, startFakeUpstream, type FakeUpstream, type FakeUpstreamOptions } from "./fake-upstream.js";

/** Default prices of the local services (wei per token). */
export const LOCAL_INPUT_PRICE = 1_000_000_000n; // 1 gwei per input token
export const LOCAL_OUTPUT_PRICE = 2_000_000_000n; // 2 gwei per output token

/** How one provider of the local network serves. */
export type LocalBackendSpec =
  | { kind: "llama"; model?: TestModelKind; modelPath?: string; modelId?: string; threads?: number; parallel?: number }
  | {
      kind: "upstream";
      modelId?: string;
      fake?: FakeUpstreamOptions;
      /** What the fake upstream's service sells (default chat); images and transcription are priced per unit. */
      sells?: "chat" | "embedding" | "images" | "transcription";
    };

/** Options for {@link startLocalNetwork}. */
export interface LocalNetworkOptions {
  /** One entry per provider (default one provider with the generated scripted test model). */
  providers?: LocalBackendSpec[];
  /** Deploy parameters (default: a 600 s lock, no minimum fund). */
  params?: Partial<DeployParams>;
  /** Prices of every service (wei per token). */
  inputPrice?: bigint;
  outputPrice?: bigint;
  /** Passed to every provider node (e.g. settlement policy, credit limit, log). */
  node?: Partial<ProviderNodeOptions>;
  /** Where models and databases go (default: a new temporary folder, removed by stop()). */
  dir?: string;
}

/** A provider of the local network. */
export interface LocalProvider {
  index: number;
  address: Address;
  node: ProviderNode;
  model: string;
  serviceId: Hex;
  serviceVersion: number;
  /** The fake upstream behind an "upstream" provider. */
  upstream?: FakeUpstream;
  /** Path of the model served by a "llama" provider. */
  modelPath?: string;
  /** Bearer token of the node's admin listener (random per network). */
  adminToken: string;
  /** Stop the node (the service stays listed: clients see it die). */
  kill(): Promise<void>;
  /** Start the node again on the same port and database. */
  restart(over?: Partial<ProviderNodeOptions>): Promise<ProviderNode>;
}

/** A user with a fresh key, gas money and a deposit. */
export interface LocalUser {
  privateKey: Hex;
  account: LocalAccount;
  client: ZeroGClient;
  /** A paying fetch for this user on this network (lane state in memory unless `store` is given). */
  paidFetch(options?: Partial<PaidFetchOptions>): PaidFetch;
}

export interface LocalNetwork {
  chain: LocalChain;
  /** Network config for every client (a "devnet" preset pointing at this chain). */
  network: NetworkConfig;
  providers: LocalProvider[];
  dir: string;
  /**
   * A new user: a fresh key with 100 0G of gas money; deposits `deposit` wei into the ledger and funds
   * each provider's channel with `fund` wei (defaults: 1 0G deposit, 0.1 0G per channel).
   */
  newUser(opts?: { deposit?: bigint; fund?: bigint; providers?: number[] }): Promise<LocalUser>;
  /** Stop every provider, the fake upstreams and anvil (by PID), and remove the temporary folder. */
  stop(): Promise<void>;
}

/**
 * The model id a provider serves: "test-scripted", "test-function-call", "test-random", "test-embedding",
 * "local-gguf", "fake-upstream", "fake-upstream-embed", "fake-upstream-images" or "fake-upstream-transcription".
 */
function defaultModelId(spec: LocalBackendSpec): string {
  if (spec.modelId) return spec.modelId;
  if (spec.kind === "upstream") {
    const sells = spec.sells ?? "chat";
    return sells === "chat" ? "fake-upstream" : sells === "embedding" ? "fake-upstream-embed" : `fake-upstream-${sells}`;
  }
  return spec.modelPath ? "local-gguf" : `test-${spec.model ?? "scripted"}`;
}

/**
 * Start a local network. Every process it starts (anvil) is stopped by PID in `stop()`.
 *
 * @example
 * const net = await startLocalNetwork({ providers: [{ kind: "llama" }, { kind: "upstream" }] });
 * try {
 *   const user = await net.newUser();
 *   // user.privateKey + net.network are all a client needs
 * } finally {
 *   await net.stop();
 * }
 */
export async function startLocalNetwork(options: LocalNetworkOptions = {}): Promise<LocalNetwork> {
  const specs = options.providers ?? [{ kind: "llama" }];
  const chain = await startLocalChain({ params: { lockSeconds: 600n, minFund: 0n, ...options.params } });
  const ownDir = !options.dir;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "0g-local-network-")));
  const network = resolveNetwork("devnet", {
    rpcUrl: chain.rpcUrl,
    escrow: chain.deployment.escrow,
    registry: chain.deployment.registry,
    fromBlock: chain.deployment.fromBlock,
  });
  const providers: LocalProvider[] = [];
  const stop = async (): Promise<void> => {
    for (const p of providers) {
      await p.node.stop().catch(() => undefined);
      await p.upstream?.close().catch(() => undefined);
    }
    await chain.stop();
    if (ownDir) await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, spec] of specs.entries()) providers.push(await startProvider(chain, network, dir, spec, i, options));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    chain,
    network,
    providers,
    dir,
    async newUser(o = {}) {
      const privateKey = generatePrivateKey();
      const account = privateKeyToAccount(privateKey);
      await chain.testClient.setBalance({ address: account.address, value: parseEther("100") });
      const client = new ZeroGClient({ network, account, pollingIntervalMs: 20 });
      const deposit = o.deposit ?? parseEther("1");
      if (deposit > 0n) await client.deposit(deposit);
      const fund = o.fund ?? parseEther("0.1");
      if (fund > 0n) for (const i of o.providers ?? providers.map((p) => p.index)) await client.fund(providers[i]!.address, fund);
      const paidFetch = (over: Partial<PaidFetchOptions> = {}): PaidFetch =>
        createPaidFetch({
          network,
          publicClient: client.publicClient,
          domain: client.domain,
          user: account.address,
          signer: account,
          ...over,
        });
      return { privateKey, account, client, paidFetch };
    },
    stop,
  };
}

async function startProvider(
  chain: LocalChain,
  network: NetworkConfig,
  dir: string,
  spec: LocalBackendSpec,
  index: number,
  options: LocalNetworkOptions,
): Promise<LocalProvider> {
  const wallet = chain.wallet(2 + index);
  const address = wallet.account.address;
  const responseSigner = privateKeyToAccount(generatePrivateKey());
  const model = defaultModelId(spec);
  let upstream: FakeUpstream | undefined;
  let modelPath: string | undefined;
  let contextLength = 2048;
  let modelHash: Hex = keccak256(toHex(model));
  let makeBackend: () => Promise<Backend>;
  if (spec.kind === "upstream") {
    upstream = await startFakeUpstream(spec.fake);
    const baseUrl = upstream.url;
    const sells = spec.sells ?? "chat";
    const capabilities =
      sells === "embedding"
        ? { capabilities: ["embeddings", "dimensions"], embeddingLength: FAKE_EMBEDDING_DIMENSIONS }
        : sells === "chat"
          ? {}
          : { capabilities: [sells] };
    makeBackend = async () => new UpstreamBackend({ baseUrl, models: [{ id: model, contextLength, ...capabilities }] });
  } else {
    modelPath = spec.modelPath ?? join(dir, `provider-${index}-${spec.model ?? "scripted"}.gguf`);
    if (!spec.modelPath) {
      const info = await writeTestModel(modelPath, {
        kind: spec.model ?? "scripted",
        seed: index + 1,
        ...(spec.model === "random" ? { size: "tiny" as const } : {}),
      });
      contextLength = info.contextLength;
      modelHash = info.sha256 as Hex;
    }
    const path = modelPath;
    // Loaded lazily so that upstream-only networks never load node-llama-cpp.
    const llamaOptions = { modelPath: path, modelId: model, threads: spec.threads ?? 1, parallel: spec.parallel ?? 2 };
    makeBackend = async () => {
      if (spec.model === "embedding") {
        const { LlamaEmbeddingBackend } = await import("../backends/llama-embeddings.js");
        return LlamaEmbeddingBackend.load(llamaOptions);
      }
      const { LlamaBackend } = await import("../backends/llama.js");
      return LlamaBackend.load(llamaOptions);
    };
  }
  const dbPath = join(dir, `provider-${index}.db`);
  const adminToken = randomBytes(24).toString("hex");
  const base = async (backend?: Backend): Promise<ProviderNodeOptions> => ({
    network,
    providerAccount: wallet.account as LocalAccount,
    responseSigner,
    backend: backend ?? (await makeBackend()),
    dbPath,
    admin: { token: adminToken },
    pollMs: 200,
    cacheMs: 1000,
    // Quiet unless ZG_LOCAL_NETWORK_LOG is set (then JSON lines on stderr, one per event).
    log: process.env.ZG_LOCAL_NETWORK_LOG
      ? (event: string, fields: Record<string, unknown> = {}) =>
          process.stderr.write(
            `${JSON.stringify({ provider: index, event, ...fields }, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}\n`,
          )
      : () => undefined,
    ...options.node,
  });
  const backend = await makeBackend();
  const served = backend.models().find((m) => m.id === model);
  contextLength = served?.contextLength ?? contextLength;
  const caps = served?.capabilities ?? [];
  const sells = caps.includes("embeddings")
    ? "embedding"
    : caps.includes("images")
      ? "images"
      : caps.includes("transcription")
        ? "transcription"
        : "chat";
  const metadata =
    sells === "chat"
      ? { contextLength, capabilities: ["chat", "stream", "tools", "json_schema"] }
      : sells === "embedding"
        ? { contextLength, kind: sells, dimensions: served?.embeddingLength }
        : { kind: sells, unit: sells === "images" ? "image" : "second" };
  let node = await ProviderNode.start(await base(backend));
  const { id, version } = await registerService(wallet as unknown as Parameters<typeof registerService>[0], chain.publicClient, network, {
    name: sells === "embedding" ? "embeddings" : sells,
    model,
    modelHash,
    quantization: spec.kind === "upstream" ? "upstream" : "F32",
    endpoint: node.url,
    inputPrice: options.inputPrice ?? LOCAL_INPUT_PRICE,
    outputPrice: options.outputPrice ?? LOCAL_OUTPUT_PRICE,
    signer: responseSigner.address,
    metadata: JSON.stringify(metadata),
  });
  await node.services.refresh();
  const port = Number(new URL(node.url).port);
  const provider: LocalProvider = {
    index,
    address,
    node,
    model,
    serviceId: id,
    serviceVersion: version,
    adminToken,
    ...(upstream ? { upstream } : {}),
    ...(modelPath ? { modelPath } : {}),
    async kill() {
      await provider.node.stop();
    },
    async restart(over = {}) {
      await provider.node.stop().catch(() => undefined);
      node = await ProviderNode.start({ ...(await base()), port, ...over });
      provider.node = node;
      return node;
    },
  };
  return provider;
}
