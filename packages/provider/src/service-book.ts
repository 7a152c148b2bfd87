import type { Address, Chain, PublicClient, Transport } from "viem";
import { listServices, type HonouredTerms, type ServiceInfo } from "@0g-compute/core";

/** Seconds a superseded terms version is still honoured, for tickets signed just before a change. */
export const TERMS_GRACE_SECONDS = 300;

interface Known {
  service: ServiceInfo;
  previous: { version: number; inputPrice: bigint; outputPrice: bigint; until: number }[];
}

/**
 * This provider's listed services, read from the registry (the source of truth clients use too), with
 * the terms honoured for each: the version in force and, for `TERMS_GRACE_SECONDS` after a change, the
 * previous one. Refreshed periodically and on demand.
 */
export class ServiceBook {
  private known = new Map<string, Known>();
  private refreshedAt = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly publicClient: PublicClient<Transport, Chain>,
    private readonly registry: Address,
    private readonly provider: Address,
    private readonly ttlMs = 15_000,
  ) {}

  /** Re-read the registry now (concurrent callers share one read). */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const all = await listServices(this.publicClient, { registry: this.registry });
    const mine = all.filter((s) => s.provider.toLowerCase() === this.provider.toLowerCase());
    const next = new Map<string, Known>();
    const now = Date.now();
    for (const s of mine) {
      const old = this.known.get(s.id.toLowerCase());
      const previous = (old?.previous ?? []).filter((p) => p.until > now);
      if (old && old.service.version !== s.version) {
        previous.unshift({
          version: old.service.version,
          inputPrice: old.service.inputPrice,
          outputPrice: old.service.outputPrice,
          until: now + TERMS_GRACE_SECONDS * 1000,
        });
      }
      next.set(s.id.toLowerCase(), { service: s, previous });
    }
    this.known = next;
    this.refreshedAt = now;
  }

  /** Stale-while-revalidate: once loaded, requests use what is known while a refresh runs in the background. */
  private async fresh(): Promise<void> {
    if (Date.now() - this.refreshedAt <= this.ttlMs) return;
    const refresh = this.refresh();
    if (this.refreshedAt === 0) await refresh;
    else refresh.catch(() => undefined);
  }

  /** Services listed now. */
  async services(): Promise<ServiceInfo[]> {
    await this.fresh();
    return [...this.known.values()].map((k) => k.service);
  }

  /** The service clients reach for `model` (the first listed one with that model id). */
  async byModel(model: string | undefined): Promise<ServiceInfo | undefined> {
    const list = await this.services();
    if (model === undefined) return list.length === 1 ? list[0] : undefined;
    return list.find((s) => s.model === model);
  }

  /** The listed service with this id. */
  async byId(serviceId: string): Promise<ServiceInfo | undefined> {
    await this.fresh();
    return this.known.get(serviceId.toLowerCase())?.service;
  }

  /** Terms a ticket for `serviceId` may carry now. */
  async honoured(serviceId: string): Promise<HonouredTerms | undefined> {
    await this.fresh();
    const k = this.known.get(serviceId.toLowerCase());
    if (!k) return undefined;
    const now = Date.now();
    return {
      serviceId: k.service.id,
      versions: [
        { version: k.service.version, inputPrice: k.service.inputPrice, outputPrice: k.service.outputPrice },
        ...k.previous.filter((p) => p.until > now).map(({ version, inputPrice, outputPrice }) => ({ version, inputPrice, outputPrice })),
      ],
    };
  }
}
