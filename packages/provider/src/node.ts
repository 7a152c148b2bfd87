import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import type { Address, Chain, LocalAccount, PublicClient, Transport } from "viem";
import type { ZkSettler, ZkSettlerDeps } from "./zk/settler.js";
import {
  escrowDomain,
  isLoopbackHost,
  isLoopbackOrigin,
  sameSecret,
  ZeroGClient,
  type NetworkConfig,
  type ServiceInfo,
} from "@0g-compute/core";
import type { Backend } from "./backend.js";
import { ChainState } from "./chain-state.js";
import { ProviderMetrics } from "./metrics.js";
import { createProviderApp, DEFAULT_ABUSE_LIMITS, type AbuseLimits } from "./server.js";
import { ServiceBook } from "./service-book.js";
import { DEFAULT_SETTLEMENT_POLICY, Settler, type SettlementPolicy, type SettlementRun } from "./settlement.js";
import { ProviderStore, type Durability } from "./store.js";

/** Options for {@link ProviderNode.start}. */
export interface ProviderNodeOptions {
  network: NetworkConfig;
  /** The provider's on-chain account: the payee in tickets, and the sender of settlements. */
  providerAccount: LocalAccount;
  /** The key that signs receipts (registered as the service's signer). */
  responseSigner: LocalAccount;
  backend: Backend;
  /** SQLite database file. */
  dbPath: string;
  /** Commit durability (default "process": survives any crash of the process; "power" also power loss). */
  durability?: Durability;
  /** Public listener (default 127.0.0.1:0). Bind beyond loopback only when the operator asks. */
  host?: string;
  port?: number;
  /** Web origins whose pages may call the node from a browser (CORS); none by default, `"*"` for any. */
  corsOrigins?: readonly string[];
  /** Admin listener, always on 127.0.0.1, token-protected (default port 0). */
  admin?: { port?: number; token: string };
  /**
   * Most credit a channel gets over unacknowledged and in-flight fees (wei), or a function of the service
   * (default: eight requests of 4096 input and 1024 output tokens).
   */
  creditLimit?: bigint | ((service: ServiceInfo) => bigint);
  /**
   * Credit of a channel with no acknowledged history, as a fraction of its `creditLimit` (default 0.25);
   * every wei the user acknowledges earns a wei more, up to the limit. 1 turns the ramp off.
   */
  baseCreditShare?: number;
  /** A fee left unacknowledged this long stops new credit on the channel until acknowledged (default 60 s). */
  ackTimeoutSeconds?: number;
  /** Largest request body (bytes; default 256 bytes per token of context, at least 1 MiB). */
  maxBodyBytes?: number;
  /** Budgets for refusals and acknowledgements (see {@link AbuseLimits}); a rate of 0 turns one off. */
  limits?: Partial<AbuseLimits>;
  /** Longest a request may run (seconds, default 300). */
  maxRequestSeconds?: number;
  settlement?: Partial<SettlementPolicy>;
  /** Start the settlement loop (default true). */
  autoSettle?: boolean;
  /** Chain polling and cache (defaults: 1000 ms polling, 5000 ms cache; events invalidate the cache within a poll). */
  pollMs?: number;
  cacheMs?: number;
  /** Structured log sink (default: JSON lines on stderr). */
  log?: (event: string, fields?: Record<string, unknown>) => void;
  /**
   * ZK-mode settlement beside voucher mode: the `ZkEscrow` deployment and the circuit its verifier was
   * made for. Users hand ZK vouchers to `POST /v1/zk/vouchers`; the settlement loop proves them in a
   * separate process and settles them with one proof per batch.
   */
  zk?: { escrow: Address; artifacts: ZkSettlerDeps["artifacts"]; fromBlock?: bigint };
}

/** A snapshot for `0g-provider status` and the admin API. */
export interface ProviderStatus {
  provider: Address;
  url: string;
  backend: string;
  models: string[];
  lanes: number;
  billed: string;
  acknowledged: string;
  /** Billed and not acknowledged yet (wei), and on how many lanes: fees clients verified but never signed for, or are about to. */
  unacknowledged: string;
  unacknowledgedLanes: number;
  settled: string;
  reserved: string;
  earnings: string;
  settlements: { txHash: string; status: string; items: number; paid: string; gasUsed: string; at: string }[];
}

function defaultLog(event: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(JSON.stringify({ t: new Date().toISOString(), event, ...fields }) + "\n");
}

function listen(app: Hono, host: string, port: number): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info) => resolve({ server, port: info.port }));
  });
}

function close(server: ServerType): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

/**
 * A running provider node: the public OpenAI-compatible API with payment, the admin API on 127.0.0.1,
 * the chain watcher and the settlement loop, over one SQLite store.
 *
 * @example
 * const node = await ProviderNode.start({ network, providerAccount, responseSigner, backend, dbPath: "provider.db", admin: { token } });
 * console.log(node.url); // register `${node.url}` as the service endpoint
 * // ...
 * await node.stop();
 */
export class ProviderNode {
  private constructor(
    readonly url: string,
    readonly adminUrl: string | undefined,
    readonly store: ProviderStore,
    readonly chain: ChainState,
    readonly settler: Settler,
    readonly metrics: ProviderMetrics,
    readonly services: ServiceBook,
    private readonly servers: ServerType[],
    private readonly options: ProviderNodeOptions,
    private readonly publicClient: PublicClient<Transport, Chain>,
    /** The ZK settler, when ZK mode is configured. */
    readonly zk?: ZkSettler,
  ) {}

  static async start(options: ProviderNodeOptions): Promise<ProviderNode> {
    const log = options.log ?? defaultLog;
    // The SDK's client builds the chain definition and the clients (with the gas margin) from the network.
    const sdk = new ZeroGClient({
      network: options.network,
      account: options.providerAccount,
      pollingIntervalMs: options.network.chainId === 31337 ? 50 : 1000,
    });
    const publicClient = sdk.publicClient;
    const wallet = sdk.walletClient;
    const provider = options.providerAccount.address;
    const store = new ProviderStore(options.dbPath, options.durability);
    if (store.releasedAtOpen > 0) log("released_stale_reservations", { count: store.releasedAtOpen });
    const metrics = new ProviderMetrics();
    const chain = new ChainState({
      publicClient,
      escrow: options.network.escrow,
      provider,
      confirmations: options.network.confirmations,
      ...(options.pollMs ? { pollMs: options.pollMs } : {}),
      ...(options.cacheMs !== undefined ? { ttlMs: options.cacheMs } : {}),
    });
    const services = new ServiceBook(publicClient, options.network.registry, provider);
    await services.refresh();
    const ceiling = options.creditLimit ?? ((s: ServiceInfo) => 8n * (4096n * s.inputPrice + 1024n * s.outputPrice));
    const share = options.baseCreditShare ?? 0.25;
    if (!(share > 0 && share <= 1)) throw new RangeError(`baseCreditShare must be in (0, 1], got ${share}`);
    const ackTimeoutMs = (options.ackTimeoutSeconds ?? 60) * 1000;
    const credit = (s: ServiceInfo) => {
      const creditLimit = typeof ceiling === "bigint" ? ceiling : ceiling(s);
      return { creditLimit, baseCredit: (creditLimit * BigInt(Math.round(share * 10_000))) / 10_000n, ackTimeoutMs };
    };
    const contextTokens = Math.max(0, ...options.backend.models().map((m) => m.contextLength));
    const app = createProviderApp({
      domain: escrowDomain(options.network.chainId, options.network.escrow),
      provider,
      responseSigner: options.responseSigner,
      store,
      chain,
      services,
      backend: options.backend,
      metrics,
      credit,
      maxBodyBytes: options.maxBodyBytes ?? Math.max(1 << 20, contextTokens * 256),
      limits: { ...DEFAULT_ABUSE_LIMITS, ...options.limits },
      maxRequestSeconds: options.maxRequestSeconds ?? 300,
      log,
      ...(options.corsOrigins === undefined ? {} : { corsOrigins: options.corsOrigins }),
    });
    // ZK mode is loaded only when configured (it brings Poseidon and the prover).
    let zk: ZkSettler | undefined;
    if (options.zk) {
      const zkMode = await import("./zk/index.js");
      app.route(
        "/",
        zkMode.zkVoucherIntake({ store, publicClient, chainId: options.network.chainId, escrow: options.zk.escrow, provider }),
      );
      zk = new zkMode.ZkSettler({
        publicClient,
        wallet,
        escrow: options.zk.escrow,
        provider,
        artifacts: options.zk.artifacts,
        vouchers: () => zkMode.storedZkVouchers(store),
        ...(options.zk.fromBlock === undefined ? {} : { fromBlock: options.zk.fromBlock }),
        log,
      });
    }
    const settler = new Settler(
      { store, chain, publicClient, wallet, escrow: options.network.escrow, provider, metrics, log, ...(zk ? { zk } : {}) },
      { ...DEFAULT_SETTLEMENT_POLICY, ...options.settlement },
    );
    chain.start();
    // Settlement transactions sent before a crash are looked up now, not at the next run.
    void settler.reconcile().catch((err: unknown) => log("settle_reconcile_failed", { error: (err as Error).message }));
    if (options.autoSettle !== false) settler.start();

    const host = options.host ?? "127.0.0.1";
    const main = await listen(app, host, options.port ?? 0);
    const servers = [main.server];
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${main.port}`;
    let node: ProviderNode | undefined;
    let adminUrl: string | undefined;
    if (options.admin) {
      const token = options.admin.token;
      const admin = new Hono();
      admin.use("*", async (c, next) => {
        if (!isLoopbackHost(c.req.header("host")) || !isLoopbackOrigin(c.req.header("origin")))
          return c.json({ error: { message: "forbidden host or origin", code: "forbidden" } }, 403);
        const given = (c.req.header("authorization") ?? "").replace(/^Bearer /, "");
        if (!sameSecret(given, token)) return c.json({ error: { message: "unauthorized", code: "unauthorized" } }, 401);
        return next();
      });
      // Counters and histograms are the operator's business (volumes, refusals, earnings): admin only.
      admin.get("/metrics", async (c) => c.text(await metrics.registry.metrics(), 200, { "content-type": metrics.registry.contentType }));
      admin.get("/admin/status", async (c) => c.json(await node!.status()));
      admin.post("/admin/settle", async (c) => {
        const run = await settler.run({ force: true });
        return c.json({
          txHash: run.txHash ?? null,
          items: run.items,
          paid: run.paid.toString(),
          gasUsed: run.gasUsed.toString(),
          skipped: run.skipped,
          reason: run.reason ?? null,
        });
      });
      const a = await listen(admin, "127.0.0.1", options.admin.port ?? 0);
      servers.push(a.server);
      adminUrl = `http://127.0.0.1:${a.port}`;
    }
    node = new ProviderNode(url, adminUrl, store, chain, settler, metrics, services, servers, options, publicClient, zk);
    log("provider_started", {
      provider,
      url,
      admin: adminUrl,
      backend: options.backend.kind,
      models: options.backend.models().map((m) => m.id),
    });
    return node;
  }

  /** Force a settlement run now. */
  settle(): Promise<SettlementRun> {
    return this.settler.run({ force: true });
  }

  async status(): Promise<ProviderStatus> {
    const t = this.store.totals();
    const { escrowAbi } = await import("@0g-compute/contracts");
    const earnings = await this.publicClient.readContract({
      address: this.options.network.escrow,
      abi: escrowAbi,
      functionName: "earnings",
      args: [this.options.providerAccount.address],
    });
    return {
      provider: this.options.providerAccount.address,
      url: this.url,
      backend: this.options.backend.kind,
      models: this.options.backend.models().map((m) => m.id),
      lanes: t.lanes,
      billed: t.billed.toString(),
      acknowledged: t.acked.toString(),
      unacknowledged: t.unacknowledged.toString(),
      unacknowledgedLanes: t.unacknowledgedLanes,
      settled: t.settled.toString(),
      reserved: t.reserved.toString(),
      earnings: earnings.toString(),
      settlements: this.store.settlements().map((s) => ({
        txHash: s.txHash,
        status: s.status,
        items: s.items,
        paid: s.paid.toString(),
        gasUsed: s.gasUsed.toString(),
        at: new Date(s.createdAt).toISOString(),
      })),
    };
  }

  /** Stop listening, stop the loops, close the backend and the database. */
  async stop(): Promise<void> {
    this.settler.stop();
    this.chain.stop();
    await Promise.all(this.servers.map(close));
    await this.zk?.close();
    await this.options.backend.close();
    this.store.close();
  }
}
