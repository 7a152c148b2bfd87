import type { Command } from "commander";
import { formatAmount, parseAmount } from "../../amount.js";
import { address, chainNow, clientFrom, output, when, type GlobalOptions } from "../context.js";

/** `deposit`, `fund`, `withdraw request|complete|cancel|ledger` and `balance`. */
export function registerFunds(program: Command, globals: () => GlobalOptions): void {
  program
    .command("deposit <amount>")
    .description("deposit an amount of 0G (e.g. 0.5) to your ledger in the escrow")
    .action(async (amount: string) => {
      const opts = globals();
      const wei = parseAmount(amount);
      const client = await clientFrom(opts);
      const tx = await client.deposit(wei);
      output(opts, { amount: wei, tx: tx.hash }, () => `deposited ${formatAmount(wei)} (tx ${tx.hash})`);
    });

  program
    .command("fund <provider> <amount>")
    .description("move an amount from your ledger into your channel to a provider")
    .option("--deposit", "deposit the amount from your wallet in the same transaction")
    .option("--allow-unlisted", "fund a provider that lists no service")
    .action(async (provider: string, amount: string, cmd: { deposit?: boolean; allowUnlisted?: boolean }) => {
      const opts = globals();
      const p = address(provider, "provider address");
      const wei = parseAmount(amount);
      const client = await clientFrom(opts);
      const allow = { allowUnlisted: cmd.allowUnlisted === true };
      const tx = cmd.deposit ? await client.depositAndFund(p, wei, allow) : await client.fund(p, wei, allow);
      output(opts, { provider: p, amount: wei, tx: tx.hash }, () => `funded the channel to ${p} with ${formatAmount(wei)} (tx ${tx.hash})`);
    });

  const withdraw = program.command("withdraw").description("take funds back: request, then complete after the lock");
  withdraw
    .command("request <provider> <amount>")
    .description("ask to withdraw an amount (or 'all') from a channel; starts the lock")
    .action(async (provider: string, amount: string) => {
      const opts = globals();
      const p = address(provider, "provider address");
      const client = await clientFrom(opts);
      const r = await client.requestWithdraw(p, amount === "all" ? "all" : parseAmount(amount));
      const now = await chainNow(client);
      output(
        opts,
        { provider: p, amount: r.amount, unlockAt: r.unlockAt, tx: r.hash },
        () => `requested ${formatAmount(r.amount)} from ${p}; completes after ${when(r.unlockAt, now)}`,
      );
    });
  withdraw
    .command("complete <provider>")
    .description("after the lock, move the pending amount back to your wallet")
    .option("--keep-in-ledger", "leave it in your escrow ledger instead of your wallet")
    .action(async (provider: string, cmd: { keepInLedger?: boolean }) => {
      const opts = globals();
      const p = address(provider, "provider address");
      const client = await clientFrom(opts);
      const r = await client.completeWithdraw(p, { toWallet: !cmd.keepInLedger });
      output(
        opts,
        { provider: p, amount: r.amount, txs: r.transactions.map((t) => t.hash) },
        () => `withdrew ${formatAmount(r.amount)} from the channel to ${p}${cmd.keepInLedger ? " to your ledger" : " to your wallet"}`,
      );
    });
  withdraw
    .command("cancel <provider>")
    .description("cancel a pending withdrawal")
    .action(async (provider: string) => {
      const opts = globals();
      const client = await clientFrom(opts);
      const tx = await client.cancelWithdraw(address(provider, "provider address"));
      output(opts, { tx: tx.hash }, () => `cancelled (tx ${tx.hash})`);
    });
  withdraw
    .command("ledger <amount>")
    .description("send an amount (or 'all') of your free ledger balance to your wallet, at once")
    .action(async (amount: string) => {
      const opts = globals();
      const client = await clientFrom(opts);
      const wei = amount === "all" ? (await client.balances([])).ledger : parseAmount(amount);
      const tx = await client.withdrawLedger(wei);
      output(opts, { amount: wei, tx: tx.hash }, () => `sent ${formatAmount(wei)} from your ledger to your wallet`);
    });

  program
    .command("balance")
    .description("wallet, ledger and channel balances, with pending withdrawals and unlock times")
    .option("--provider <address...>", "only these channels (default: every channel you funded)")
    .action(async (cmd: { provider?: string[] }) => {
      const opts = globals();
      const client = await clientFrom(opts);
      const [b, now] = await Promise.all([client.balances(cmd.provider?.map((p) => address(p))), chainNow(client)]);
      output(opts, { address: client.address, ...b }, () =>
        [
          `account  ${client.address}`,
          `wallet   ${formatAmount(b.wallet)}`,
          `ledger   ${formatAmount(b.ledger)} (withdrawable at once)`,
          ...(b.channels.length === 0
            ? ["channels none"]
            : b.channels.map(
                (c) =>
                  `channel  ${c.provider}: ${formatAmount(c.balance)}` +
                  (c.pendingWithdraw > 0n ? `, withdrawing ${formatAmount(c.pendingWithdraw)} after ${when(c.unlockAt, now)}` : "") +
                  `, settled so far ${formatAmount(c.ownerSettled)}`,
              )),
        ].join("\n"),
      );
    });
}
