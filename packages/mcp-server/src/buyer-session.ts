import { join } from "node:path";
import {
  checkHealth,
  createPaidFetch,
  embeddingDimensions,
  FileLaneStore,
  laneStoreDir,
  processLaneStore,
  filterServices,
  formatAmount,
  InvalidArgumentError,
  listServices,
  NoProviderError,
  PaymentRequestError,
  rankServices,
  serviceKind,
  SpendingLimit,
  SpendingLimitError,
  type SpendingReservation,
  readSseJson,
  toZeroGError,
  ZeroGClient,
  ZeroGError,
  type LaneStore,
  type PaidFetch,
  type ServiceKind,
  type SortBy,
  type VerifiedReceipt,
} from "@0g-compute/core";
import type { Address, ZeroGMcpOptions } from "./config.js";
import { FundsCapError, SessionKeyOnlyError } from "./errors.js";

const DAY_MS = 86_400_000;

/** A chat message as `ask` takes it. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** A catalogue row. Prices in wei per token. */
export interface ServiceRow {
  model: string;
  provider: Address;
  serviceId: string;
  name: string;
  endpoint: string;
  inputPricePerToken: bigint;
  outputPricePerToken: bigint;
  version: number;
  healthy: boolean;
  latencyMs: number | undefined;
  contextLength: number | undefined;
  /** What the service sells: chat completions (`ask`) or embeddings (`embed`). */
  kind: ServiceKind;
  /** An embedding service's vector size. */
  dimensions: number | undefined;
}

/** One channel of the account. */
export interface ChannelRow {
  provider: Address;
  balance: bigint;
  pendingWithdraw: bigint;
  /** Unix seconds the pending withdrawal unlocks (0: none). */
  unlockAt: bigint;
  settled: bigint;
}

/** Balances and this session's spending. */
export interface AccountSummary {
  account: Address;
  /** The key that signs tickets when it is a session key. */
  sessionKey: Address | undefined;
  wallet: bigint;
  ledger: bigint;
  channels: ChannelRow[];
  session: SessionSpending;
}

/** What this server process paid and moved, against the operator's caps. */
export interface SessionSpending {
  feesPaid: bigint;
  fundsMoved: bigint;
  requests: number;
  caps: { name: string; kind: "fees" | "funds"; cap: bigint; used: bigint; remaining: bigint }[];
}

/** A verified answer. */
export interface AskResult {
  text: string;
  model: string;
  provider: Address;
  finishReason: string | undefined;
  receipt: VerifiedReceipt;
}

/** The result of {@link BuyerSession.embed}: one vector per text, in order, and the verified receipt. */
export interface EmbedResult {
  vectors: number[][];
  model: string;
  provider: Address;
  receipt: VerifiedReceipt;
}

/** Most texts one `embed` call takes. */
export const MAX_EMBED_TEXTS = 256;

/** What `ask` reports while it works. */
export type ProgressReporter = (message: string) => void;

/**
 * The state one MCP server process shares across its MCP sessions: the chain client, the paying
 * fetch with its durable lane state, the verified receipts and the operator's caps on fees and on
 * funds moved. Inference requests run one at a time, so each receipt is matched to its answer and
 * the caps are checked against settled figures.
 *
 * @example
 * const buyer = new BuyerSession(await configFromEnv(process.env));
 * const rows = await buyer.services();
 * const answer = await buyer.ask({ model: rows[0].model, messages: [{ role: "user", content: "Hi" }], maxTokens: 64 });
 * await buyer.close();
 */
export class BuyerSession {
  readonly client: ZeroGClient;
  /** The paying account. */
  readonly user: Address;
  readonly options: ZeroGMcpOptions;
  /** Caps on fees (session, day), enforced before a request is sent. */
  readonly fees: SpendingLimit;
  /** Caps on funds moved by deposit and fund. */
  readonly funds: SpendingLimit;
  private readonly receiptList: VerifiedReceipt[] = [];
  private readonly fetches = new Map<string, PaidFetch>();
  private store: Promise<LaneStore> | undefined;
  private verified: Promise<void> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private feesPaid = 0n;
  private fundsMoved = 0n;
  private closed = false;

  constructor(options: ZeroGMcpOptions) {
    this.options = options;
    this.client = new ZeroGClient({
      network: options.network,
      account: options.account,
      ...(options.network.chainId === 31337 ? { pollingIntervalMs: 100 } : {}),
    });
    this.user = (options.user ?? options.account.address) as Address;
    this.fees = new SpendingLimit({
      caps: [
        { name: "session", cap: options.caps.feesPerSession },
        { name: "day", cap: options.caps.feesPerDay, periodMs: DAY_MS },
      ],
      ...(options.stateDir ? { path: join(options.stateDir, "fees.json") } : {}),
    });
    this.funds = new SpendingLimit({
      caps: [
        { name: "session", cap: options.caps.fundsPerSession },
        { name: "day", cap: options.caps.fundsPerDay, periodMs: DAY_MS },
      ],
      ...(options.stateDir ? { path: join(options.stateDir, "funds.json") } : {}),
    });
  }

  /** Whether the server signs with a session key (which cannot move funds). */
  get usesSessionKey(): boolean {
    return this.user.toLowerCase() !== this.options.account.address.toLowerCase();
  }

  /** Largest `max_tokens` an ask may use. */
  get maxTokens(): number {
    return this.options.maxTokens ?? 1024;
  }

  /** Receipts verified in this session, oldest first. */
  get receipts(): readonly VerifiedReceipt[] {
    return this.receiptList;
  }

  // ---------------------------------------------------------------- reads

  /** The catalogue: every active service (or the operator's provider's), healthy ones first by price or latency. */
  async services(filter: { model?: string; provider?: Address; sortBy?: SortBy } = {}): Promise<ServiceRow[]> {
    const provider = filter.provider ?? this.options.provider;
    const all = filterServices(await listServices(this.client.publicClient, this.options.network), {
      ...(filter.model ? { model: filter.model } : {}),
      ...(provider ? { provider } : {}),
    });
    const health = await checkHealth(all, { timeoutMs: 3000 });
    const byId = new Map(health.map((h) => [h.service.id, h]));
    return rankServices(health, filter.sortBy ?? "price").map((s) => {
      const h = byId.get(s.id);
      const ctx = s.metadata.contextLength;
      return {
        model: s.model,
        provider: s.provider as Address,
        serviceId: s.id,
        name: s.name,
        endpoint: s.endpoint,
        inputPricePerToken: s.inputPrice,
        outputPricePerToken: s.outputPrice,
        version: s.version,
        healthy: h?.healthy ?? false,
        latencyMs: h?.latencyMs === undefined ? undefined : Math.round(h.latencyMs),
        contextLength: typeof ctx === "number" ? ctx : undefined,
        kind: serviceKind(s),
        dimensions: embeddingDimensions(s),
      };
    });
  }

  /** Wallet, ledger and channel balances of the paying account, with this session's spending. */
  async summary(): Promise<AccountSummary> {
    const user = this.user;
    try {
      const providers = await this.client.fundedProviders(user);
      const [wallet, ledger, channels] = await Promise.all([
        this.client.publicClient.getBalance({ address: user }),
        this.client.escrow.read.ledger([user]),
        Promise.all(providers.map((p) => this.client.channel(p, user))),
      ]);
      return {
        account: user,
        sessionKey: this.usesSessionKey ? (this.options.account.address as Address) : undefined,
        wallet,
        ledger,
        channels: channels.map((c) => ({
          provider: c.provider as Address,
          balance: c.balance,
          pendingWithdraw: c.pendingWithdraw,
          unlockAt: c.unlockAt,
          settled: c.ownerSettled,
        })),
        session: this.spending(),
      };
    } catch (err) {
      throw toZeroGError(err);
    }
  }

  /** This session's fees and funds moved against each cap. */
  spending(): SessionSpending {
    const caps = [
      ...this.fees
        .status()
        .map((s) => ({ name: s.name, kind: "fees" as const, cap: s.cap, used: s.spent + s.reserved, remaining: s.remaining })),
      ...this.funds
        .status()
        .map((s) => ({ name: s.name, kind: "funds" as const, cap: s.cap, used: s.spent + s.reserved, remaining: s.remaining })),
    ];
    return { feesPaid: this.feesPaid, fundsMoved: this.fundsMoved, requests: this.receiptList.length, caps };
  }

  // ---------------------------------------------------------------- inference

  /**
   * Run one chat completion on the network and verify its receipt. Refused before anything is sent
   * when its maximum cost would exceed a fee cap (`SPENDING_LIMIT`). Streams from the provider so
   * `progress` hears about every step.
   */
  async ask(
    request: { model?: string; provider?: Address; messages: ChatMessage[]; maxTokens: number; temperature?: number },
    hooks: { signal?: AbortSignal; progress?: ProgressReporter } = {},
  ): Promise<AskResult> {
    if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1 || request.maxTokens > this.maxTokens) {
      throw new InvalidArgumentError(`max_tokens must be an integer from 1 to ${this.maxTokens}`);
    }
    if (request.messages.length === 0) throw new InvalidArgumentError("no messages to send");
    const run = async (): Promise<AskResult> => {
      const paid = await this.paidFetch(request.provider ?? this.options.provider);
      let model = request.model ?? this.options.model;
      if (!model) {
        hooks.progress?.("reading the service catalogue");
        const first = (await paid.candidates()).find((s) => serviceKind(s) === "chat");
        if (!first) throw new NoProviderError("no chat service is listed");
        model = first.model;
      }
      hooks.progress?.(`asking ${model}`);
      const before = this.receiptList.length;
      const body = {
        model,
        messages: request.messages,
        max_tokens: request.maxTokens,
        stream: true,
        ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
      };
      const res = await paid("http://0g.invalid/v1/chat/completions", {
        method: "POST",
        body: JSON.stringify(body),
        ...(hooks.signal ? { signal: hooks.signal } : {}),
      });
      let text = "";
      let finishReason: string | undefined;
      let chunks = 0;
      type StreamChunk = { choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[] };
      for await (const parsed of readSseJson<StreamChunk>(res.body!)) {
        const choice = parsed.choices?.[0];
        if (!choice) continue;
        if (choice.delta?.content) {
          text += choice.delta.content;
          chunks += 1;
          hooks.progress?.(`received ${chunks} chunk${chunks === 1 ? "" : "s"} from ${model}`);
        }
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
      // The stream ends only after its receipt was verified (or it errors): the receipt is the newest.
      const receipt = this.receiptList[this.receiptList.length - 1];
      if (!receipt || this.receiptList.length === before)
        throw new PaymentRequestError("STREAM_RECEIPT_MISSING", "the provider's answer carried no receipt");
      hooks.progress?.("receipt verified");
      return { text, model, provider: receipt.provider as Address, finishReason, receipt };
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Buy embeddings of `texts` (one paid request to an embedding service, billed by input tokens within
   * the fee caps), returning the vectors and the verified receipt.
   */
  async embed(
    request: { model?: string; provider?: Address; texts: string[] },
    hooks: { signal?: AbortSignal } = {},
  ): Promise<EmbedResult> {
    if (request.texts.length === 0 || request.texts.length > MAX_EMBED_TEXTS)
      throw new InvalidArgumentError(`give from 1 to ${MAX_EMBED_TEXTS} texts to embed`);
    if (request.texts.some((t) => t === "")) throw new InvalidArgumentError("a text to embed is empty");
    const run = async (): Promise<EmbedResult> => {
      const paid = await this.paidFetch(request.provider ?? this.options.provider);
      const before = this.receiptList.length;
      const res = await paid("http://0g.invalid/v1/embeddings", {
        method: "POST",
        body: JSON.stringify({ ...(request.model ? { model: request.model } : {}), input: request.texts, encoding_format: "float" }),
        ...(hooks.signal ? { signal: hooks.signal } : {}),
      });
      const body = (await res.json()) as { model?: string; data?: { index: number; embedding: number[] }[] };
      const receipt = this.receiptList[this.receiptList.length - 1];
      if (!receipt || this.receiptList.length === before)
        throw new PaymentRequestError("STREAM_RECEIPT_MISSING", "the provider's answer carried no receipt");
      const vectors = [...(body.data ?? [])].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      return { vectors, model: body.model ?? request.model ?? "", provider: receipt.provider as Address, receipt };
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async paidFetch(provider: Address | undefined): Promise<PaidFetch> {
    if (this.closed) throw new ZeroGError("SHUTTING_DOWN", "the server is shutting down");
    // Tickets are signed only in a domain checked against the chain: right chain, right escrow.
    if (!this.verified) {
      this.verified = this.client.verifyDeployment();
      this.verified.catch(() => {
        this.verified = undefined;
      });
    }
    await this.verified;
    const key = provider?.toLowerCase() ?? "";
    let paid = this.fetches.get(key);
    if (paid) return paid;
    const store = await this.laneStore();
    paid = createPaidFetch({
      client: this.client,
      user: this.user,
      store,
      select: provider ? { provider } : {},
      defaultMaxTokens: this.options.defaultMaxTokens ?? 256,
      spendingLimit: this.fees,
      ...(this.options.maxCostPerRequest === undefined ? {} : { maxCostPerRequest: this.options.maxCostPerRequest }),
      onReceipt: (r) => {
        this.receiptList.push(r);
        this.feesPaid += r.fee;
        this.options.log?.(
          `paid ${formatAmount(r.fee)} to ${r.provider} for ${r.model} (${r.receipt.inputTokens} in + ${r.receipt.outputTokens} out tokens), receipt verified`,
        );
      },
    });
    this.fetches.set(key, paid);
    return paid;
  }

  private laneStore(): Promise<LaneStore> {
    if (!this.store) {
      const dir = this.options.stateDir;
      this.store = dir ? FileLaneStore.open(laneStoreDir(dir, this.options.network)) : Promise.resolve(processLaneStore);
      this.store.catch(() => {
        this.store = undefined;
      });
    }
    return this.store;
  }

  // ---------------------------------------------------------------- funds

  /** Hold `amount` against the caps on funds moved, run `move`, keep the hold only if it succeeded. */
  private async moveFunds<T>(amount: bigint, move: () => Promise<T>): Promise<T> {
    let hold: SpendingReservation;
    try {
      hold = this.funds.reserve(amount);
    } catch (err) {
      if (err instanceof SpendingLimitError) {
        throw new FundsCapError(err.limit, err.cap, err.spent, err.requested, {
          cap: formatAmount(err.cap),
          moved: formatAmount(err.spent),
          requested: formatAmount(err.requested),
        });
      }
      throw err;
    }
    try {
      const result = await move();
      hold.commit(amount);
      this.fundsMoved += amount;
      this.options.log?.(`moved ${formatAmount(amount)} (${formatAmount(this.fundsMoved)} this session)`);
      return result;
    } catch (err) {
      hold.release();
      throw err;
    }
  }

  private ownKey(action: string): void {
    if (this.usesSessionKey) throw new SessionKeyOnlyError(action);
  }

  /** Deposit `amount` wei from the wallet to the escrow ledger (counts against the funds caps). */
  async deposit(amount: bigint): Promise<{ hash: string }> {
    this.ownKey("a deposit");
    const tx = await this.moveFunds(amount, () => this.client.deposit(amount));
    return { hash: tx.hash };
  }

  /** Fund the channel to `provider` with `amount` wei, from the ledger or straight from the wallet (counts against the funds caps). */
  async fund(provider: Address, amount: bigint, fromWallet: boolean): Promise<{ hash: string }> {
    this.ownKey("funding a channel");
    const tx = await this.moveFunds(amount, () =>
      fromWallet ? this.client.depositAndFund(provider, amount) : this.client.fund(provider, amount),
    );
    return { hash: tx.hash };
  }

  /** Ask to withdraw `amount` wei (or all) from the channel to `provider`; starts the lock. */
  async requestWithdraw(provider: Address, amount: bigint | "all"): Promise<{ hash: string; amount: bigint; unlockAt: bigint }> {
    this.ownKey("a withdrawal");
    const r = await this.client.requestWithdraw(provider, amount);
    return { hash: r.hash, amount: r.amount, unlockAt: r.unlockAt };
  }

  /** After the lock, move the pending withdrawal to the ledger and, unless `toWallet` is false, to the wallet. */
  async completeWithdraw(provider: Address, toWallet: boolean): Promise<{ amount: bigint; hashes: string[] }> {
    this.ownKey("a withdrawal");
    const r = await this.client.completeWithdraw(provider, { toWallet });
    return { amount: r.amount, hashes: r.transactions.map((t) => t.hash) };
  }

  /** Cancel a pending withdrawal. */
  async cancelWithdraw(provider: Address): Promise<{ hash: string }> {
    this.ownKey("cancelling a withdrawal");
    const tx = await this.client.cancelWithdraw(provider);
    return { hash: tx.hash };
  }

  /** Send `amount` wei (or all) of the free ledger balance to the wallet. */
  async withdrawLedger(amount: bigint | "all"): Promise<{ hash: string; amount: bigint }> {
    this.ownKey("a ledger withdrawal");
    const value = amount === "all" ? ((await this.client.escrow.read.ledger([this.user])) as bigint) : amount;
    const tx = await this.client.withdrawLedger(value);
    return { hash: tx.hash, amount: value };
  }

  /** Send pending acknowledgements (so providers are paid for the last answers) and release the lane state. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    await Promise.all([...this.fetches.values()].map((p) => p.close().catch(() => undefined)));
    const store = await this.store?.catch(() => undefined);
    await store?.close().catch(() => undefined);
  }
}
