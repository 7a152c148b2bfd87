import { getContract, type Address, type Chain, type ContractFunctionReturnType, type Hex, type PublicClient, type Transport } from "viem";
import { serviceRegistryAbi } from "@0g-compute/contracts";
import { toZeroGError } from "./chain-errors.js";
import { ZeroGError } from "./errors.js";
import type { NetworkConfig } from "./network.js";

/** A listed service with the terms in force now. Prices in wei per token. */
export interface ServiceInfo {
  id: Hex;
  provider: Address;
  name: string;
  model: string;
  modelHash: Hex;
  quantization: string;
  endpoint: string;
  inputPrice: bigint;
  outputPrice: bigint;
  /** Terms version a ticket must carry. */
  version: number;
  /** Address that signs receipts, and the previous one with the time it was replaced (rotation grace). */
  signer: Address;
  previousSigner: Address;
  rotatedAt: bigint;
  /** Parsed metadata (JSON object) or `{}` when absent or not JSON. */
  metadata: Record<string, unknown>;
  /** A scheduled change of terms, if any. */
  pending?: { version: number; effectiveAt: bigint; inputPrice: bigint; outputPrice: bigint; model: string; modelHash: Hex };
  active: boolean;
}

/** Read every listed service from the registry (paged reads). */
export async function listServices(
  client: PublicClient<Transport, Chain>,
  network: Pick<NetworkConfig, "registry">,
): Promise<ServiceInfo[]> {
  const registry = getContract({ address: network.registry, abi: serviceRegistryAbi, client });
  try {
    const total = await registry.read.serviceCount();
    const pageSize = 100n;
    const out: ServiceInfo[] = [];
    for (let offset = 0n; offset < total; offset += pageSize) {
      const page = await registry.read.getServices([offset, pageSize]);
      for (const s of page) out.push(toServiceInfo(s));
    }
    return out;
  } catch (err) {
    throw toZeroGError(err);
  }
}

type RawService = ContractFunctionReturnType<typeof serviceRegistryAbi, "view", "getService">;

function toServiceInfo(s: RawService): ServiceInfo {
  let metadata: Record<string, unknown> = {};
  try {
    const parsed: unknown = s.metadata ? JSON.parse(s.metadata) : {};
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) metadata = parsed as Record<string, unknown>;
  } catch {
    metadata = {};
  }
  const info: ServiceInfo = {
    id: s.id,
    provider: s.provider,
    name: s.name,
    model: s.terms.model,
    modelHash: s.terms.modelHash,
    quantization: s.terms.quantization,
    endpoint: s.endpoint,
    inputPrice: s.terms.inputPrice,
    outputPrice: s.terms.outputPrice,
    version: s.version,
    signer: s.signer,
    previousSigner: s.previousSigner,
    rotatedAt: s.rotatedAt,
    metadata,
    active: s.active,
  };
  if (s.pendingAt !== 0n) {
    info.pending = {
      version: s.pendingVersion,
      effectiveAt: s.pendingAt,
      inputPrice: s.pendingTerms.inputPrice,
      outputPrice: s.pendingTerms.outputPrice,
      model: s.pendingTerms.model,
      modelHash: s.pendingTerms.modelHash,
    };
  }
  return info;
}

/** Criteria for {@link filterServices}. */
export interface ServiceFilter {
  /** Exact model id, or a pattern. */
  model?: string | RegExp;
  /** What the service sells (see {@link serviceKind}). */
  kind?: ServiceKind;
  provider?: Address;
  maxInputPrice?: bigint;
  maxOutputPrice?: bigint;
  /** Include inactive (unbonding) providers; default false. */
  includeInactive?: boolean;
  /** Include endpoints that are plain HTTP on a non-loopback host; default false. */
  allowInsecure?: boolean;
}

/**
 * What a service sells: chat completions; embeddings (`POST /v1/embeddings`, billed by input tokens);
 * images (`POST /v1/images/generations`, billed per image); transcriptions (`POST
 * /v1/audio/transcriptions`, billed per second of audio). For the last two the price per unit is the
 * listing's input price and a receipt's `inputTokens` counts units.
 */
export type ServiceKind = "chat" | "embedding" | "images" | "transcription";

const SERVICE_KINDS: readonly ServiceKind[] = ["chat", "embedding", "images", "transcription"];

/**
 * What a service sells, from its listing's metadata (`"kind"`; chat when absent or unknown), and the
 * vector size an embedding service listed (`"dimensions"`).
 *
 * @example
 * const embedders = services.filter((s) => serviceKind(s) === "embedding");
 * embeddingDimensions(embedders[0]); // e.g. 384
 */
export function serviceKind(service: Pick<ServiceInfo, "metadata">): ServiceKind {
  const kind = service.metadata.kind;
  return SERVICE_KINDS.includes(kind as ServiceKind) ? (kind as ServiceKind) : "chat";
}

/** The vector size an embedding service listed, if it did. */
export function embeddingDimensions(service: Pick<ServiceInfo, "metadata">): number | undefined {
  const d = service.metadata.dimensions;
  return typeof d === "number" && Number.isInteger(d) && d > 0 ? d : undefined;
}

/** Keep the services that match every given criterion. */
export function filterServices(services: readonly ServiceInfo[], filter: ServiceFilter = {}): ServiceInfo[] {
  return services.filter((s) => {
    if (!filter.includeInactive && !s.active) return false;
    if (filter.kind !== undefined && serviceKind(s) !== filter.kind) return false;
    if (!filter.allowInsecure && !isEndpointAllowed(s.endpoint)) return false;
    if (filter.model !== undefined && !(typeof filter.model === "string" ? s.model === filter.model : filter.model.test(s.model)))
      return false;
    if (filter.provider !== undefined && s.provider.toLowerCase() !== filter.provider.toLowerCase()) return false;
    if (filter.maxInputPrice !== undefined && s.inputPrice > filter.maxInputPrice) return false;
    if (filter.maxOutputPrice !== undefined && s.outputPrice > filter.maxOutputPrice) return false;
    return true;
  });
}

/** Endpoints must be HTTPS, except on loopback (a proxy on plain HTTP could read prompts and race tickets). */
export function isEndpointAllowed(endpoint: string): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  if (url.protocol === "https:") return true;
  if (url.protocol !== "http:") return false;
  return url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]" || url.hostname.startsWith("127.");
}

/** Price of a service for a typical request shape, used to sort: `inputPrice * inWeight + outputPrice * outWeight`. */
export function blendedPrice(s: Pick<ServiceInfo, "inputPrice" | "outputPrice">, inWeight = 3n, outWeight = 1n): bigint {
  return s.inputPrice * inWeight + s.outputPrice * outWeight;
}

/** A service with its measured health. */
export interface ServiceHealth {
  service: ServiceInfo;
  healthy: boolean;
  /** Round trip of `GET /health` in milliseconds (undefined when unhealthy). */
  latencyMs: number | undefined;
  error?: string;
}

/** Probe `GET {endpoint}/health` of each service in parallel, with a timeout. */
export async function checkHealth(
  services: readonly ServiceInfo[],
  options: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<ServiceHealth[]> {
  const doFetch = options.fetch ?? fetch;
  return Promise.all(
    services.map(async (service): Promise<ServiceHealth> => {
      const started = performance.now();
      try {
        const res = await doFetch(new URL("/health", service.endpoint), { signal: AbortSignal.timeout(options.timeoutMs ?? 3000) });
        await res.arrayBuffer();
        if (!res.ok) return { service, healthy: false, latencyMs: undefined, error: `HTTP ${res.status}` };
        return { service, healthy: true, latencyMs: performance.now() - started };
      } catch (err) {
        return { service, healthy: false, latencyMs: undefined, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

/** How to order candidate services. */
export type SortBy = "price" | "latency";

/**
 * Sort healthy services by blended price (ties by latency) or by latency (ties by price); unhealthy
 * ones go last in their original order.
 */
export function rankServices(health: readonly ServiceHealth[], sortBy: SortBy = "price"): ServiceInfo[] {
  const healthy = health.filter((h) => h.healthy);
  const byPrice = (a: ServiceHealth, b: ServiceHealth) => {
    const d = blendedPrice(a.service) - blendedPrice(b.service);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  };
  const byLatency = (a: ServiceHealth, b: ServiceHealth) => (a.latencyMs ?? Infinity) - (b.latencyMs ?? Infinity);
  healthy.sort((a, b) => (sortBy === "price" ? byPrice(a, b) || byLatency(a, b) : byLatency(a, b) || byPrice(a, b)));
  return [...healthy, ...health.filter((h) => !h.healthy)].map((h) => h.service);
}

/** No listed service offers the model a request names (an OpenAI `404 model_not_found`). */
export class ModelNotFoundError extends ZeroGError {
  constructor(
    readonly model: string,
    readonly available: readonly string[],
  ) {
    super("MODEL_NOT_FOUND", `no service offers model ${model}`, {
      hint: available.length > 0 ? `models offered: ${available.join(", ")}` : "list services with 0g-compute services",
    });
  }
}

/** No service matched, or every candidate failed. */
export class NoProviderError extends ZeroGError {
  constructor(
    message: string,
    readonly failures: readonly { provider: Address; error: string }[] = [],
  ) {
    super("NO_PROVIDER", message, { hint: "list services with 0g-compute services; relax the model or price filter" });
  }
}
