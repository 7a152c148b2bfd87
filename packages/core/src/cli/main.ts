#!/usr/bin/env node
/**
 * `0g-compute`: the user CLI of 0G Compute. Accounts and keys, deposits and channels, withdrawals with
 * their lock, the service catalogue, chat, and `serve`, a local OpenAI-compatible gateway.
 * Human output by default, `--json` for scripts; exit codes in `EXIT` (context.ts).
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createInterface } from "node:readline/promises";
import { Command, CommanderError, Option } from "commander";
import { getAddress, isAddress, type Address } from "viem";
import { formatAmount, parseAmount } from "../amount.js";
import { checkHealth, filterServices, listServices, rankServices, type SortBy } from "../discovery.js";
import { errorLine, EXIT, exitCodeFor } from "../cli-errors.js";
import { InvalidArgumentError, ZeroGError } from "../errors.js";
import { FileLaneStore } from "../file-lane-store.js";
import { laneStoreDir } from "../network-env.js";
import { startGateway } from "../gateway.js";
import { createKeystore, saveKeystore, accountFromEnv } from "../keys.js";
import { createPaidFetch, type PaidFetch } from "../paid-fetch.js";
import { SseParser } from "../sse.js";
import type { ZeroGClient } from "../client.js";
import {
  accountFrom,
  clientFrom,
  homeDir,
  keystorePath,
  networkFrom,
  output,
  promptHidden,
  type GlobalOptions,
} from "./context.js";

const VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
const program = new Command();
program
  .name("0g-compute")
  .description("Buy AI inference on the 0G Compute network: pay per token from escrow, verify every receipt.")
  .option("--network <name>", "devnet, galileo, mainnet or custom (env ZG_NETWORK)")
  .option("--rpc-url <url>", "JSON-RPC endpoint (env ZG_RPC_URL)")
  .option("--escrow <address>", "escrow contract (env ZG_ESCROW)")
  .option("--registry <address>", "registry contract (env ZG_REGISTRY)")
  .option("--chain-id <id>", "chain id of a custom network (env ZG_CHAIN_ID)")
  .option("--keystore <path>", "encrypted keystore (env ZG_KEYSTORE; default ~/.0g-compute/keystore.json)")
  .option("--key-env <VAR>", "read the private key from this environment variable instead (ZG_PRIVATE_KEY is used when set)")
  .option("--home <dir>", "state directory (env ZG_HOME; default ~/.0g-compute)")
  .option("--json", "machine-readable output")
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();

function address(value: string, what = "address"): Address {
  if (!isAddress(value, { strict: false })) throw new InvalidArgumentError(`not an ${what}: ${value}`);
  return getAddress(value);
}

/**
 * A chain time (unlocks, scheduled terms) for people: the date it falls on and how far it is, both on the
 * chain's clock (`chainNow`, the latest block's time), which may run ahead of or behind this machine's.
 */
function when(unix: bigint, chainNow: bigint): string {
  if (unix === 0n) return "-";
  const delta = unix - chainNow;
  return `${new Date(Number(unix) * 1000).toISOString()} (chain time; ${delta > 0n ? `in ${delta} s` : "passed"})`;
}

/** The chain's time now: the latest block's timestamp. */
async function chainNow(client: ZeroGClient): Promise<bigint> {
  return (await client.publicClient.getBlock()).timestamp;
}

/** Price per token in wei, shown per 1M tokens in 0G. */
function perMillion(pricePerToken: bigint): string {
  return formatAmount(pricePerToken * 1_000_000n);
}

// ---------------------------------------------------------------------- network

program
  .command("network")
  .description("show the network in use and check that its contracts answer")
  .action(async () => {
    const opts = globals();
    const net = await networkFrom(opts);
    const client = await clientFrom(opts, { needKey: false });
    await client.verifyDeployment();
    const [lock, minFund] = await Promise.all([client.escrow.read.LOCK(), client.escrow.read.MIN_FUND()]);
    const result = { ...net, lockSeconds: lock, minFund };
    output(opts, result, () =>
      [
        `network   ${net.name} (chain id ${net.chainId})`,
        `rpc       ${net.rpcUrl}`,
        `escrow    ${net.escrow}`,
        `registry  ${net.registry}`,
        `lock      ${lock} s before a channel withdrawal completes`,
        `min fund  ${formatAmount(minFund)} per channel`,
      ].join("\n"),
    );
  });

// ---------------------------------------------------------------------- account

const account = program.command("account").description("manage the local key");
account
  .command("create")
  .description("create a new key in an encrypted keystore (file mode 0600)")
  .action(async () => {
    const opts = globals();
    const path = keystorePath(opts);
    const password = process.env.ZG_KEYSTORE_PASSWORD ?? (await newPassword());
    const { address: addr } = await createKeystore(path, password);
    output(opts, { address: addr, keystore: path }, () => `created ${addr}\nkeystore ${path}`);
  });
account
  .command("import")
  .description("encrypt an existing key into the keystore; the key is read from an environment variable, never from a flag")
  .requiredOption("--from-env <VAR>", "environment variable holding the hex private key")
  .action(async (cmd: { fromEnv: string }) => {
    const opts = globals();
    const key = accountFromEnv(cmd.fromEnv);
    const raw = process.env[cmd.fromEnv]!.trim();
    const path = keystorePath(opts);
    const password = process.env.ZG_KEYSTORE_PASSWORD ?? (await newPassword());
    await saveKeystore(path, (raw.startsWith("0x") ? raw : `0x${raw}`) as `0x${string}`, password);
    output(opts, { address: key.address, keystore: path }, () => `imported ${key.address}\nkeystore ${path}`);
  });
account
  .command("show")
  .description("print the address of the key in use")
  .action(async () => {
    const opts = globals();
    const acct = await accountFrom(opts);
    output(opts, { address: acct.address }, () => acct.address);
  });

async function newPassword(): Promise<string> {
  const a = await promptHidden("New keystore password: ");
  const b = await promptHidden("Repeat it: ");
  if (a !== b) throw new InvalidArgumentError("the passwords differ");
  return a;
}

// ---------------------------------------------------------------------- funds

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
    output(opts, { provider: p, amount: r.amount, unlockAt: r.unlockAt, tx: r.hash }, () => `requested ${formatAmount(r.amount)} from ${p}; completes after ${when(r.unlockAt, now)}`);
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
    output(opts, { provider: p, amount: r.amount, txs: r.transactions.map((t) => t.hash) }, () => `withdrew ${formatAmount(r.amount)} from the channel to ${p}${cmd.keepInLedger ? " to your ledger" : " to your wallet"}`);
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
        ...(b.channels.length === 0 ? ["channels none"] : b.channels.map((c) =>
          `channel  ${c.provider}: ${formatAmount(c.balance)}` + (c.pendingWithdraw > 0n ? `, withdrawing ${formatAmount(c.pendingWithdraw)} after ${when(c.unlockAt, now)}` : "") + `, settled so far ${formatAmount(c.ownerSettled)}`)),
      ].join("\n"),
    );
  });

// ---------------------------------------------------------------------- services

program
  .command("services")
  .description("the service catalogue from the on-chain registry, with prices per 1M tokens and measured latency")
  .option("--model <id>", "only this model")
  .addOption(new Option("--sort <key>", "order").choices(["price", "latency"]).default("price"))
  .option("--all", "include inactive providers and insecure endpoints")
  .action(async (cmd: { model?: string; sort: SortBy; all?: boolean }) => {
    const opts = globals();
    const client = await clientFrom(opts, { needKey: false });
    const services = filterServices(await listServices(client.publicClient, client.network), {
      ...(cmd.model ? { model: cmd.model } : {}),
      ...(cmd.all ? { includeInactive: true, allowInsecure: true } : {}),
    });
    const [health, now] = await Promise.all([checkHealth(services), chainNow(client)]);
    const ranked = rankServices(health, cmd.sort);
    const byId = new Map(health.map((h) => [h.service.id, h]));
    const rows = ranked.map((s) => ({ ...s, healthy: byId.get(s.id)?.healthy ?? false, latencyMs: byId.get(s.id)?.latencyMs }));
    output(opts, rows, () =>
      rows.length === 0
        ? "no services listed"
        : rows.map((s) =>
            `${s.model}  ${s.name}@${s.provider}\n  in ${perMillion(s.inputPrice)} / out ${perMillion(s.outputPrice)} per 1M tokens, v${s.version}, ${s.healthy ? `healthy ${Math.round(s.latencyMs ?? 0)} ms` : "unreachable"}\n  ${s.endpoint}` +
            (s.pending ? `\n  scheduled: v${s.pending.version} in ${perMillion(s.pending.inputPrice)} / out ${perMillion(s.pending.outputPrice)} from ${when(s.pending.effectiveAt, now)}` : ""),
          ).join("\n"),
    );
  });

// ---------------------------------------------------------------------- chat and serve

interface PaidOptions {
  model?: string;
  provider?: string;
  maxTokens: string;
  maxCost?: string;
}

async function paidFetchFrom(opts: GlobalOptions, cmd: PaidOptions, client: ZeroGClient): Promise<{ paid: PaidFetch; store: FileLaneStore }> {
  await client.verifyDeployment();
  const store = await FileLaneStore.open(laneStoreDir(homeDir(opts), client.network));
  const paid = createPaidFetch({
    network: client.network,
    publicClient: client.publicClient,
    domain: client.domain,
    user: client.address,
    signer: client.account,
    store,
    select: { ...(cmd.model ? { model: cmd.model } : {}), ...(cmd.provider ? { provider: address(cmd.provider, "provider address") } : {}) },
    defaultMaxTokens: Number(cmd.maxTokens),
    ...(cmd.maxCost ? { maxCostPerRequest: parseAmount(cmd.maxCost) } : {}),
  });
  return { paid, store };
}

program
  .command("chat [prompt...]")
  .description("chat with a model on the network: one-shot with a prompt (or stdin), interactive otherwise; streams to the terminal")
  .option("--model <id>", "model to use")
  .option("--provider <address>", "use only this provider")
  .option("--system <text>", "system prompt")
  .option("--max-tokens <n>", "most tokens per answer", "512")
  .option("--max-cost <amount>", "refuse requests that could cost more than this many 0G")
  .option("--no-stream", "wait for the whole answer")
  .action(async (promptWords: string[], cmd: PaidOptions & { system?: string; stream: boolean }) => {
    const opts = globals();
    const client = await clientFrom(opts);
    const { paid, store } = await paidFetchFrom(opts, cmd, client);
    const history: { role: string; content: string }[] = cmd.system ? [{ role: "system", content: cmd.system }] : [];
    let total = 0n;
    const ask = async (text: string): Promise<string> => {
      history.push({ role: "user", content: text });
      const body = { ...(cmd.model ? { model: cmd.model } : {}), messages: history, max_tokens: Number(cmd.maxTokens), stream: cmd.stream };
      const res = await paid("http://0g.invalid/v1/chat/completions", { method: "POST", body: JSON.stringify(body) });
      let answer = "";
      if (cmd.stream) {
        const parser = new SseParser();
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          for (const ev of parser.push(decoder.decode(chunk, { stream: true }))) {
            if (ev.data === "[DONE]") continue;
            const delta = (JSON.parse(ev.data) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content ?? "";
            answer += delta;
            if (!opts.json) process.stdout.write(delta);
          }
        }
        if (!opts.json) process.stdout.write("\n");
      } else {
        const json = (await res.json()) as { choices?: { message?: { content?: string } }[] };
        answer = json.choices?.[0]?.message?.content ?? "";
        if (!opts.json) process.stdout.write(answer + "\n");
      }
      const r = paid.receipts[paid.receipts.length - 1];
      if (r) {
        total += r.fee;
        process.stderr.write(`[${r.receipt.inputTokens} in + ${r.receipt.outputTokens} out tokens, ${formatAmount(r.fee)}, receipt verified, provider ${r.provider}]\n`);
      }
      history.push({ role: "assistant", content: answer });
      return answer;
    };
    try {
      let prompt = promptWords.join(" ").trim();
      if (!prompt && !process.stdin.isTTY) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        prompt = Buffer.concat(chunks).toString("utf8").trim();
      }
      if (prompt) {
        const answer = await ask(prompt);
        if (opts.json) output(opts, { answer, receipts: paid.receipts.map((r) => ({ provider: r.provider, fee: r.fee, inputTokens: r.receipt.inputTokens, outputTokens: r.receipt.outputTokens, ticketDigest: r.ticketDigest })) }, () => "");
      } else {
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        process.stderr.write("Interactive chat; an empty line or Ctrl-D ends it.\n");
        for (;;) {
          const line = await rl.question("> ").catch(() => "");
          if (!line.trim()) break;
          await ask(line);
        }
        rl.close();
        process.stderr.write(`session total ${formatAmount(total)} over ${paid.receipts.length} answers\n`);
      }
    } finally {
      await paid.close();
      await store.close();
    }
  });

program
  .command("serve")
  .description("run a local OpenAI-compatible gateway on 127.0.0.1 that pays providers and verifies receipts")
  .option("--port <n>", "port on 127.0.0.1", "4000")
  .option("--token-file <path>", "file holding the bearer token local clients must send (else env ZG_GATEWAY_TOKEN; default: a random token, printed)")
  .option("--model <id>", "only this model")
  .option("--provider <address>", "only this provider")
  .option("--max-tokens <n>", "max_tokens for requests without one", "512")
  .option("--max-cost <amount>", "refuse requests that could cost more than this many 0G")
  .action(async (cmd: PaidOptions & { port: string; tokenFile?: string }) => {
    const opts = globals();
    // The token never goes on the command line, where every local user can read it (ps, /proc).
    const fromFile = cmd.tokenFile === undefined ? undefined : (await readFile(cmd.tokenFile, "utf8").catch(() => {
      throw new InvalidArgumentError(`cannot read the token file ${cmd.tokenFile}`);
    })).trim();
    if (fromFile === "") throw new InvalidArgumentError(`the token file ${cmd.tokenFile} is empty`);
    const client = await clientFrom(opts);
    const { paid, store } = await paidFetchFrom(opts, cmd, client);
    const token = fromFile ?? process.env.ZG_GATEWAY_TOKEN ?? randomBytes(24).toString("hex");
    const gw = await startGateway({ paidFetch: paid, token, port: Number(cmd.port) });
    output(opts, { url: gw.url, token }, () => `OpenAI-compatible gateway at ${gw.url}\nbearer token ${token}\n(Ctrl-C stops it)`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await gw.close();
    await paid.close();
    await store.close();
  });

// ---------------------------------------------------------------------- run

export async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const code = exitCodeFor(err);
    if (globals().json) {
      process.stdout.write(JSON.stringify({ error: { code: err instanceof ZeroGError ? err.code : "UNEXPECTED", message: err instanceof Error ? err.message : String(err), ...(err instanceof ZeroGError && err.hint ? { hint: err.hint } : {}) } }) + "\n");
    } else {
      process.stderr.write(errorLine(err) + "\n");
    }
    return code;
  }
}

main(process.argv).then((code) => process.exit(code));
