import type { Address } from "viem";
import type { ZeroGClient } from "./client.js";
import type { ServiceInfo } from "./discovery.js";
import { ZeroGError } from "./errors.js";
import type { LaneState } from "./lane-store.js";

/** A top-up would take total spending above the user's cap; nothing was moved. */
export class BudgetExceededError extends ZeroGError {
  constructor(
    readonly needed: bigint,
    readonly remaining: bigint,
  ) {
    super("BUDGET_EXCEEDED", `a top-up of ${needed} wei would exceed the spending cap (${remaining} wei left)`, {
      hint: "raise the spending cap, or fund the channel yourself (0g-compute fund)",
    });
  }
}

/** Options for {@link AutoTopUp}. */
export interface AutoTopUpOptions {
  /** Client holding the user's own key (a session key cannot move funds). */
  client: ZeroGClient;
  /** Most this process may ever move into channels, in wei. Never exceeded. */
  spendingCap: bigint;
  /** Amount of each top-up (at least what the request needs), in wei. */
  topUpAmount: bigint;
}

/**
 * Keeps the channel to a provider funded, within a user-set spending cap: before a request, if the
 * channel's free balance (balance - pending withdrawal - acknowledged but unsettled debt) does not
 * cover the request's maximum cost, it deposits and funds `max(topUpAmount, shortfall)` in one
 * transaction, unless that would exceed the cap (then {@link BudgetExceededError}, nothing moved).
 *
 * @example
 * const topUp = new AutoTopUp({ client, spendingCap: parseAmount("1"), topUpAmount: parseAmount("0.1") });
 * const paidFetch = createPaidFetch({ ..., beforeRequest: (service, maxCost, lane) => topUp.ensure(service, maxCost, lane) });
 */
export class AutoTopUp {
  private spentSoFar = 0n;
  private readonly locks = new Map<Address, Promise<unknown>>();

  constructor(private readonly options: AutoTopUpOptions) {}

  /** Total moved into channels so far. */
  get spent(): bigint {
    return this.spentSoFar;
  }

  /** Make sure the channel to `service.provider` can pay `maxCost` on top of the lane's acknowledged debt. */
  ensure(service: ServiceInfo, maxCost: bigint, lane: LaneState): Promise<void> {
    const previous = this.locks.get(service.provider) ?? Promise.resolve();
    const run = previous.then(async () => {
      const channel = await this.options.client.channel(service.provider);
      const unsettled = lane.acked > channel.ownerSettled ? lane.acked - channel.ownerSettled : 0n;
      const committed = channel.pendingWithdraw + unsettled;
      const free = channel.balance > committed ? channel.balance - committed : 0n;
      if (free >= maxCost) return;
      const shortfall = maxCost - free;
      const amount = shortfall > this.options.topUpAmount ? shortfall : this.options.topUpAmount;
      const remaining = this.options.spendingCap - this.spentSoFar;
      if (amount > remaining) throw new BudgetExceededError(amount, remaining);
      this.spentSoFar += amount;
      try {
        await this.options.client.depositAndFund(service.provider, amount);
      } catch (err) {
        this.spentSoFar -= amount;
        throw err;
      }
    });
    this.locks.set(
      service.provider,
      run.catch(() => undefined),
    );
    return run;
  }
}
