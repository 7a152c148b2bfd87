import {
  createPublicClient,
  createWalletClient,
  defineChain,
  getContract,
  http,
  parseEventLogs,
  type Address,
  type Chain,
  type GetContractReturnType,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { escrowAbi, serviceRegistryAbi, withGasMargin } from "@0g-compute/contracts";
import { toZeroGError } from "./chain-errors.js";
import { escrowDomain, type EscrowDomain } from "./domain.js";
import { InvalidArgumentError, ZeroGError } from "./errors.js";
import type { NetworkConfig } from "./network.js";
import { sendContractTransaction, type TxProgress, type TxResult } from "./transaction.js";
import { assertUint, MAX_UINT128, MAX_UINT64 } from "./uint.js";

/** Typed escrow contract binding (reads, simulations and writes). */
export type EscrowContract = GetContractReturnType<
  typeof escrowAbi,
  { public: PublicClient<Transport, Chain>; wallet: WalletClient<Transport, Chain, LocalAccount> }
>;
/** Typed registry contract binding. */
export type RegistryContract = GetContractReturnType<
  typeof serviceRegistryAbi,
  { public: PublicClient<Transport, Chain>; wallet: WalletClient<Transport, Chain, LocalAccount> }
>;

/** Options for {@link ZeroGClient}. */
export interface ZeroGClientOptions {
  network: NetworkConfig;
  /** The user's key, or a session key for ticket signing only (it cannot move funds). */
  account: LocalAccount;
  /** Called as each transaction is simulated, sent and mined. */
  onProgress?: (progress: TxProgress) => void;
  /** How long to wait for a receipt before raising `TX_TIMEOUT` (default 120 s). */
  receiptTimeoutMs?: number;
  /** Receipt polling interval (default 1000 ms; use ~20 ms on a local chain). */
  pollingIntervalMs?: number;
}

/** A user's channel to one provider. */
export interface ChannelState {
  provider: Address;
  /** Funds still in the channel (wei). */
  balance: bigint;
  /** Lifetime total settled on the owner lane. */
  ownerSettled: bigint;
  /** Pending withdrawal amount (0 if none). */
  pendingWithdraw: bigint;
  /** Unix time the pending withdrawal unlocks (0 if none). */
  unlockAt: bigint;
}

/** Balances of one user. */
export interface Balances {
  wallet: bigint;
  ledger: bigint;
  channels: ChannelState[];
}

/** A session key's lane on one channel. */
export interface SessionKeyLane {
  settled: bigint;
  cap: bigint;
  validUntil: bigint;
}

/**
 * The user-side client: contract bindings (typed from the foundation's ABIs), account operations,
 * balances and session keys. Every method simulates before sending, so a call the contract would
 * refuse raises a typed {@link ContractRevertError} and spends nothing.
 *
 * @example
 * const client = new ZeroGClient({ network: resolveNetwork("devnet"), account: privateKeyToAccount(key) });
 * await client.verifyDeployment();
 * await client.depositAndFund(provider, parseAmount("0.5"));
 * console.log(await client.balances([provider]));
 */
export class ZeroGClient {
  readonly network: NetworkConfig;
  readonly account: LocalAccount;
  readonly chain: Chain;
  readonly publicClient: PublicClient<Transport, Chain>;
  readonly walletClient: WalletClient<Transport, Chain, LocalAccount>;
  readonly domain: EscrowDomain;
  private readonly onProgress: ((p: TxProgress) => void) | undefined;
  private readonly receiptTimeoutMs: number;

  constructor(options: ZeroGClientOptions) {
    this.network = options.network;
    this.account = options.account;
    this.onProgress = options.onProgress;
    this.receiptTimeoutMs = options.receiptTimeoutMs ?? 120_000;
    this.chain = defineChain({
      id: options.network.chainId,
      name: options.network.name,
      nativeCurrency: { name: "0G", symbol: "0G", decimals: 18 },
      rpcUrls: { default: { http: [options.network.rpcUrl] } },
    });
    const transport = http(options.network.rpcUrl, { retryCount: 2, timeout: 15_000 });
    const pollingInterval = options.pollingIntervalMs ?? 1000;
    this.publicClient = createPublicClient({ chain: this.chain, transport, pollingInterval, cacheTime: 0 });
    this.walletClient = withGasMargin(
      createWalletClient({ account: options.account, chain: this.chain, transport, pollingInterval, cacheTime: 0 }),
    );
    this.domain = escrowDomain(options.network.chainId, options.network.escrow);
  }

  /** The user's address. */
  get address(): Address {
    return this.account.address;
  }

  /** Typed escrow binding. */
  get escrow(): EscrowContract {
    return getContract({ address: this.network.escrow, abi: escrowAbi, client: { public: this.publicClient, wallet: this.walletClient } });
  }

  /** Typed registry binding. */
  get registry(): RegistryContract {
    return getContract({
      address: this.network.registry,
      abi: serviceRegistryAbi,
      client: { public: this.publicClient, wallet: this.walletClient },
    });
  }

  /**
   * Check that the RPC serves the configured chain and that the escrow there has the expected EIP-712
   * domain. Call once at startup: tickets are signed only in a domain built from this configuration.
   */
  async verifyDeployment(): Promise<void> {
    try {
      const chainId = await this.publicClient.getChainId();
      if (chainId !== this.network.chainId) {
        throw new ZeroGError("WRONG_CHAIN", `RPC serves chain ${chainId}, configuration says ${this.network.chainId}`, {
          hint: "check --network and --rpc-url",
        });
      }
      const code = await this.publicClient.getCode({ address: this.network.escrow });
      if (!code || code === "0x") {
        throw new ZeroGError("CONTRACT_MISSING", `no escrow contract at ${this.network.escrow}`, {
          hint: "check the escrow address for this network",
        });
      }
      const [, name, version, domainChainId, verifyingContract] = await this.escrow.read.eip712Domain();
      if (
        name !== this.domain.name ||
        version !== this.domain.version ||
        Number(domainChainId) !== this.domain.chainId ||
        verifyingContract.toLowerCase() !== this.domain.verifyingContract.toLowerCase()
      ) {
        throw new ZeroGError("DOMAIN_MISMATCH", "the escrow's EIP-712 domain differs from this SDK's", {
          hint: "the escrow is another version; upgrade the SDK or fix the address",
        });
      }
    } catch (err) {
      throw toZeroGError(err);
    }
  }

  // ------------------------------------------------------------------ reads

  /** Wallet, ledger and channel balances; `providers` defaults to every provider this user ever funded. */
  async balances(providers?: readonly Address[]): Promise<Balances> {
    try {
      const list = providers ?? (await this.fundedProviders());
      const [wallet, ledger, channels] = await Promise.all([
        this.publicClient.getBalance({ address: this.address }),
        this.escrow.read.ledger([this.address]),
        Promise.all(list.map((p) => this.channel(p))),
      ]);
      return { wallet, ledger, channels };
    } catch (err) {
      throw toZeroGError(err);
    }
  }

  /** The user's channel to `provider`. */
  async channel(provider: Address, user: Address = this.address): Promise<ChannelState> {
    try {
      const [balance, ownerSettled, pendingWithdraw, unlockAt] = await this.escrow.read.getChannel([user, provider]);
      return { provider, balance, ownerSettled, pendingWithdraw, unlockAt };
    } catch (err) {
      throw toZeroGError(err);
    }
  }

  /** A session key's lane on the user's channel to `provider`. */
  async sessionKeyLane(provider: Address, key: Address, user: Address = this.address): Promise<SessionKeyLane> {
    try {
      const [settled, cap, validUntil] = await this.escrow.read.getKeyLane([user, provider, key]);
      return { settled, cap, validUntil };
    } catch (err) {
      throw toZeroGError(err);
    }
  }

  /** Providers this user has funded, from `ChannelFunded` events. */
  async fundedProviders(user: Address = this.address): Promise<Address[]> {
    try {
      const logs = await this.publicClient.getContractEvents({
        address: this.network.escrow,
        abi: escrowAbi,
        eventName: "ChannelFunded",
        args: { user },
        fromBlock: this.network.fromBlock,
        toBlock: "latest",
      });
      return [...new Set(logs.map((l) => l.args.provider as Address))];
    } catch (err) {
      throw toZeroGError(err);
    }
  }

  // ------------------------------------------------------------------ writes

  /** Deposit `amount` wei to the ledger. */
  deposit(amount: bigint): Promise<TxResult> {
    this.positive("amount", amount);
    return this.send("deposit", () => this.escrow.simulate.deposit({ value: amount, account: this.account }));
  }

  /** Send `amount` wei of the free ledger balance to `to` (default: the user's wallet). */
  withdrawLedger(amount: bigint, to: Address = this.address): Promise<TxResult> {
    this.positive("amount", amount);
    return this.send("withdraw ledger", () => this.escrow.simulate.withdrawLedger([amount, to], { account: this.account }));
  }

  /**
   * Move `amount` wei from the ledger into the channel to `provider`. Refuses a provider with no listed
   * service (`UNKNOWN_PROVIDER`) unless `allowUnlisted`: funds in a channel are locked for `LOCK`.
   */
  async fund(provider: Address, amount: bigint, options: { allowUnlisted?: boolean } = {}): Promise<TxResult> {
    this.positive("amount", amount);
    if (!options.allowUnlisted) await this.requireListed(provider);
    return this.send("fund channel", () => this.escrow.simulate.fund([provider, amount], { account: this.account }));
  }

  /** Deposit `amount` wei and fund the channel to `provider` with it, in one transaction (same check as {@link fund}). */
  async depositAndFund(provider: Address, amount: bigint, options: { allowUnlisted?: boolean } = {}): Promise<TxResult> {
    this.positive("amount", amount);
    if (!options.allowUnlisted) await this.requireListed(provider);
    return this.send("deposit and fund", () => this.escrow.simulate.depositAndFund([provider], { value: amount, account: this.account }));
  }

  /**
   * Ask to withdraw `amount` wei (or the whole balance) from the channel; starts the lock. With "all", a
   * settlement that lands between reading the balance and sending (the provider settles when it sees
   * withdrawals coming) makes the contract refuse the stale amount; the balance is read again and the
   * request sent again, up to three times.
   */
  async requestWithdraw(provider: Address, amount: bigint | "all"): Promise<TxResult & { amount: bigint; unlockAt: bigint }> {
    if (amount !== "all") return this.requestWithdrawOf(provider, amount);
    // "All" is the balance read now; the provider may settle at any moment and lower it, before the
    // simulation (INSUFFICIENT_CHANNEL) or between the simulation and the block (a mined revert, while the
    // balance is now below the amount asked). Either way, read the balance again and ask again.
    for (let attempt = 1; ; attempt++) {
      const balance = (await this.channel(provider)).balance;
      try {
        return await this.requestWithdrawOf(provider, balance);
      } catch (err) {
        const raced =
          err instanceof ZeroGError &&
          (err.code === "INSUFFICIENT_CHANNEL" || (err.code === "TX_REVERTED" && (await this.channel(provider)).balance < balance));
        if (attempt >= 3 || !raced) throw err;
      }
    }
  }

  private async requestWithdrawOf(provider: Address, value: bigint): Promise<TxResult & { amount: bigint; unlockAt: bigint }> {
    this.positive("amount", value);
    const result = await this.send("request withdrawal", () =>
      this.escrow.simulate.requestWithdraw([provider, value], { account: this.account }),
    );
    const event = parseEventLogs({ abi: escrowAbi, logs: result.receipt.logs, eventName: "WithdrawRequested" })[0];
    return { ...result, amount: value, unlockAt: event?.args.unlockAt ?? 0n };
  }

  /** Cancel a pending withdrawal. */
  cancelWithdraw(provider: Address): Promise<TxResult> {
    return this.send("cancel withdrawal", () => this.escrow.simulate.cancelWithdraw([provider], { account: this.account }));
  }

  /**
   * After the lock, move the pending amount (or what is left of it after settlement) to the ledger and,
   * unless `toWallet` is false, on to the wallet.
   */
  async completeWithdraw(provider: Address, options: { toWallet?: boolean } = {}): Promise<{ amount: bigint; transactions: TxResult[] }> {
    const executed = await this.send("complete withdrawal", () =>
      this.escrow.simulate.executeWithdraw([provider], { account: this.account }),
    );
    const event = parseEventLogs({ abi: escrowAbi, logs: executed.receipt.logs, eventName: "WithdrawExecuted" })[0];
    const amount = event?.args.amount ?? 0n;
    const transactions = [executed];
    if (options.toWallet !== false && amount > 0n) transactions.push(await this.withdrawLedger(amount));
    return { amount, transactions };
  }

  /**
   * Let session `key` sign tickets on the channel to `provider`, up to `cap` wei in total, until
   * `validUntil` (unix seconds). An agent then holds only the session key, never the main key.
   */
  authorizeSessionKey(provider: Address, key: Address, cap: bigint, validUntil: bigint): Promise<TxResult> {
    assertUint("cap", cap, MAX_UINT128);
    assertUint("validUntil", validUntil, MAX_UINT64);
    return this.send("authorize session key", () =>
      this.escrow.simulate.authorizeKey([provider, key, cap, validUntil], { account: this.account }),
    );
  }

  /** Stop `key` from signing new tickets now. */
  revokeSessionKey(provider: Address, key: Address): Promise<TxResult> {
    return this.send("revoke session key", () => this.escrow.simulate.revokeKey([provider, key], { account: this.account }));
  }

  // ------------------------------------------------------------------ internals

  private async requireListed(provider: Address): Promise<void> {
    let services: bigint;
    let active: boolean;
    try {
      [, , services, active] = await this.registry.read.getProvider([provider]);
    } catch (err) {
      throw toZeroGError(err);
    }
    if (services === 0n || !active) {
      throw new ZeroGError("UNKNOWN_PROVIDER", `${provider} lists no active service in the registry`, {
        hint: "check the address with 0g-compute services; funds sent to a channel stay locked until a withdrawal completes",
      });
    }
  }

  private positive(name: string, value: bigint): void {
    assertUint(name, value, MAX_UINT128);
    if (value === 0n) throw new InvalidArgumentError(`${name} must be above zero`);
  }

  /** Simulate (typed errors, nothing spent), send, wait for the receipt, check its status. */
  private send(action: string, simulate: () => Promise<{ request: unknown }>): Promise<TxResult> {
    return sendContractTransaction(this.walletClient, this.publicClient, action, simulate, {
      timeoutMs: this.receiptTimeoutMs,
      confirmations: this.network.confirmations,
      ...(this.onProgress ? { onProgress: this.onProgress } : {}),
    });
  }
}
