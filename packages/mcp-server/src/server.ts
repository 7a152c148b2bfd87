import { createRequire } from "node:module";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { formatAmount, parseAmount, ZeroGError, type VerifiedReceipt } from "@0g-compute/core";
import { z } from "zod";
import { BuyerSession, type ChatMessage } from "./buyer-session.js";
import type { Address, ZeroGMcpOptions } from "./config.js";

const VERSION = (createRequire(import.meta.url)("../package.json") as { version: string }).version;

/** The server's name in the MCP handshake. */
export const SERVER_NAME = "0g-compute";

// ------------------------------------------------------------------ shared schemas

const addressSchema = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address is 0x followed by 40 hex digits");
const amountInput = z
  .string()
  .regex(
    /^(\d+(\.\d{1,18})?|\.\d{1,18}|\d+wei)$/,
    'an amount is a decimal number of 0G (at most 18 decimals) such as "0.05", or whole wei such as "1500wei"',
  )
  .describe('Amount of 0G as a decimal string, e.g. "0.05", or whole wei such as "1500wei"');
const amountOutput = z.object({
  wei: z.string().describe("exact amount in wei (decimal string)"),
  og: z.string().describe("the same amount in 0G"),
});
const receiptOutput = z.object({
  provider: z.string(),
  service_id: z.string(),
  model: z.string(),
  ticket_digest: z.string(),
  nonce: z.string(),
  response_hash: z.string(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  fee: amountOutput,
  cumulative: amountOutput.describe("total acknowledged to this provider on this lane after this receipt"),
  signature: z.string().describe("the provider's EIP-712 signature over the receipt, verified"),
});
const spendingOutput = z.object({
  fees_paid: amountOutput,
  funds_moved: amountOutput,
  requests: z.number().int(),
  caps: z.array(
    z.object({ name: z.string(), kind: z.enum(["fees", "funds"]), cap: amountOutput, used: amountOutput, remaining: amountOutput }),
  ),
});

function amount(wei: bigint): z.infer<typeof amountOutput> {
  return { wei: wei.toString(), og: formatAmount(wei).replace(/ 0G$/, "") };
}

function receiptOut(r: VerifiedReceipt): z.infer<typeof receiptOutput> {
  return {
    provider: r.provider,
    service_id: r.serviceId,
    model: r.model,
    ticket_digest: r.ticketDigest,
    nonce: r.ticket.nonce.toString(),
    response_hash: r.receipt.responseHash,
    input_tokens: r.receipt.inputTokens,
    output_tokens: r.receipt.outputTokens,
    fee: amount(r.fee),
    cumulative: amount(r.cumulative),
    signature: r.receipt.signature,
  };
}

function unlockOut(unlockAt: bigint): { unlock_at: number; unlock_at_iso: string | undefined; unlocked: boolean } {
  const seconds = Number(unlockAt);
  return {
    unlock_at: seconds,
    unlock_at_iso: seconds === 0 ? undefined : new Date(seconds * 1000).toISOString(),
    unlocked: seconds !== 0 && seconds * 1000 <= Date.now(),
  };
}

function ok(structured: Record<string, unknown>, text: string): CallToolResult {
  return { content: [{ type: "text", text }], structuredContent: structured };
}

/** A refusal or failure as a tool error: `CODE: message` and, where there is one, a hint on the next line. */
export function toolError(err: unknown): CallToolResult {
  const code = err instanceof ZeroGError ? err.code : "UNEXPECTED";
  const message = err instanceof Error ? err.message : String(err);
  const hint = err instanceof ZeroGError && err.hint ? `\nhint: ${err.hint}` : "";
  return { content: [{ type: "text", text: `${code}: ${message}${hint}` }], isError: true };
}

async function guarded(run: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await run();
  } catch (err) {
    return toolError(err);
  }
}

/** Serialize with bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
}

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true } as const;
const PAYING = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true } as const;
const WITHDRAWING = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true } as const;

/**
 * Create an MCP server that buys inference on the 0G Compute network. Pass options (a new
 * {@link BuyerSession} is made for them) or an existing `BuyerSession` to share one account, its caps
 * and its receipts between several MCP sessions (as the HTTP transport does).
 *
 * Tools: `list_services`, `ask`, `balance`, `receipts`, and with the account's own key `deposit`,
 * `fund`, `withdraw_request`, `withdraw_complete`, `withdraw_cancel`, `withdraw_ledger`. Resources:
 * `zerog://services`, `zerog://account`. Prompts: `ask_network`, `spending_report`.
 *
 * @example
 * const server = createZeroGMcpServer(await configFromEnv(process.env));
 * await server.connect(new StdioServerTransport());
 */
export function createZeroGMcpServer(optionsOrSession: ZeroGMcpOptions | BuyerSession): McpServer {
  const buyer = optionsOrSession instanceof BuyerSession ? optionsOrSession : new BuyerSession(optionsOrSession);
  const server = new McpServer(
    { name: SERVER_NAME, version: VERSION, title: "0G Compute" },
    {
      capabilities: { logging: {} },
      instructions:
        "Buys AI inference on the 0G Compute network from an escrow account. `ask` costs fees (within the operator's caps); " +
        "`list_services` and `balance` are free. Amounts are in 0G, as decimal strings. Every answer comes with a provider-signed receipt that was verified.",
    },
  );
  const maxTokens = buyer.maxTokens;
  const progressIntervalMs = buyer.options.progressIntervalMs ?? 5000;

  // ---------------------------------------------------------------- list_services

  const serviceOutput = z.object({
    model: z.string(),
    provider: z.string(),
    service_id: z.string(),
    name: z.string(),
    endpoint: z.string(),
    input_price_per_token: amountOutput,
    output_price_per_token: amountOutput,
    price_per_million_tokens: z.object({ input: z.string(), output: z.string() }).describe("in 0G"),
    version: z.number().int(),
    healthy: z.boolean(),
    latency_ms: z.number().optional(),
    context_length: z.number().int().optional(),
  });
  server.registerTool(
    "list_services",
    {
      title: "List inference services",
      description:
        "The services listed on the 0G Compute network: model, provider, prices per token and per million tokens, health and measured latency. Healthy services come first, cheapest first unless sort_by is latency.",
      inputSchema: {
        model: z.string().min(1).optional().describe("only this model id"),
        provider: addressSchema.optional().describe("only this provider"),
        sort_by: z.enum(["price", "latency"]).optional().describe("order of the healthy services (default price)"),
      },
      outputSchema: { services: z.array(serviceOutput) },
      annotations: { ...READ_ONLY, openWorldHint: true },
    },
    (args) =>
      guarded(async () => {
        const rows = await buyer.services({
          ...(args.model ? { model: args.model } : {}),
          ...(args.provider ? { provider: args.provider as Address } : {}),
          ...(args.sort_by ? { sortBy: args.sort_by } : {}),
        });
        const services = rows.map((s) => ({
          model: s.model,
          provider: s.provider,
          service_id: s.serviceId,
          name: s.name,
          endpoint: s.endpoint,
          input_price_per_token: amount(s.inputPricePerToken),
          output_price_per_token: amount(s.outputPricePerToken),
          price_per_million_tokens: {
            input: formatAmount(s.inputPricePerToken * 1_000_000n),
            output: formatAmount(s.outputPricePerToken * 1_000_000n),
          },
          version: s.version,
          healthy: s.healthy,
          ...(s.latencyMs === undefined ? {} : { latency_ms: s.latencyMs }),
          ...(s.contextLength === undefined ? {} : { context_length: s.contextLength }),
        }));
        const text =
          services.length === 0
            ? "No services are listed."
            : services
                .map(
                  (s) =>
                    `${s.model} from ${s.provider}: in ${s.price_per_million_tokens.input} / out ${s.price_per_million_tokens.output} per 1M tokens, ${s.healthy ? `healthy, ${s.latency_ms ?? 0} ms` : "unreachable"}`,
                )
                .join("\n");
        return ok({ services }, text);
      }),
  );

  // ---------------------------------------------------------------- ask

  const messageSchema = z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() });
  server.registerTool(
    "ask",
    {
      title: "Ask a model on 0G Compute (paid)",
      description:
        `Run a chat completion on the 0G Compute network and pay for it from the escrow account. Give a prompt (with an optional system text) or a list of messages; ` +
        `name a model or a provider, or let the cheapest healthy service answer. max_tokens bounds the answer and the cost (at most ${maxTokens}). ` +
        "Returns the answer, token usage, the fee and the provider's verified receipt. Refused, with nothing spent, when the request could exceed the operator's spending caps.",
      inputSchema: {
        prompt: z.string().min(1).optional().describe("the question or instruction (or give messages)"),
        system: z.string().optional().describe("system text placed before the prompt"),
        messages: z.array(messageSchema).min(1).max(200).optional().describe("a whole conversation instead of a prompt"),
        model: z.string().min(1).optional().describe("model id (see list_services)"),
        provider: addressSchema.optional().describe("buy only from this provider"),
        max_tokens: z
          .number()
          .int()
          .min(1)
          .max(maxTokens)
          .optional()
          .describe(`most tokens in the answer (default ${buyer.options.defaultMaxTokens ?? Math.min(256, maxTokens)})`),
        temperature: z.number().min(0).max(2).optional(),
      },
      outputSchema: {
        text: z.string(),
        model: z.string(),
        provider: z.string(),
        finish_reason: z.string().optional(),
        usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() }),
        cost: amountOutput,
        receipt: receiptOutput,
        session: z.object({ fees_paid: amountOutput, requests: z.number().int() }),
      },
      annotations: PAYING,
    },
    (args, extra) =>
      guarded(async () => {
        let messages: ChatMessage[];
        if (args.messages && args.prompt) return toolError(new ZeroGError("INVALID_ARGUMENT", "give either prompt or messages, not both"));
        if (args.messages) messages = args.messages;
        else if (args.prompt)
          messages = [...(args.system ? [{ role: "system" as const, content: args.system }] : []), { role: "user", content: args.prompt }];
        else return toolError(new ZeroGError("INVALID_ARGUMENT", "give a prompt or messages"));

        const token = extra._meta?.progressToken;
        let step = 0;
        let last = "starting";
        const notify = (message: string): void => {
          if (token === undefined) return;
          step += 1;
          extra
            .sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: step, message } })
            .catch(() => undefined);
        };
        let streaming = false;
        const progress = (message: string): void => {
          last = message;
          const chunk = message.startsWith("received ");
          // Every stage is reported; of the chunks, only the first (the rest show in the heartbeat).
          if (!chunk || !streaming) notify(chunk ? `first tokens arrived (${message})` : message);
          if (chunk) streaming = true;
        };
        const timer = setInterval(() => notify(`still working: ${last}`), progressIntervalMs);
        timer.unref();
        try {
          const r = await buyer.ask(
            {
              messages,
              maxTokens: args.max_tokens ?? buyer.options.defaultMaxTokens ?? Math.min(256, maxTokens),
              ...(args.model ? { model: args.model } : {}),
              ...(args.provider ? { provider: args.provider as Address } : {}),
              ...(args.temperature === undefined ? {} : { temperature: args.temperature }),
            },
            { signal: extra.signal, progress },
          );
          const spending = buyer.spending();
          const structured = {
            text: r.text,
            model: r.model,
            provider: r.provider,
            ...(r.finishReason ? { finish_reason: r.finishReason } : {}),
            usage: { input_tokens: r.receipt.receipt.inputTokens, output_tokens: r.receipt.receipt.outputTokens },
            cost: amount(r.receipt.fee),
            receipt: receiptOut(r.receipt),
            session: { fees_paid: amount(spending.feesPaid), requests: spending.requests },
          };
          const footer = `[${r.model} from ${r.provider}: ${r.receipt.receipt.inputTokens} in + ${r.receipt.receipt.outputTokens} out tokens, ${formatAmount(r.receipt.fee)}, receipt verified; ${formatAmount(spending.feesPaid)} spent this session]`;
          return ok(structured, `${r.text}\n\n${footer}`);
        } finally {
          clearInterval(timer);
        }
      }),
  );

  // ---------------------------------------------------------------- balance and receipts

  const channelOutput = z.object({
    provider: z.string(),
    balance: amountOutput,
    pending_withdraw: amountOutput,
    unlock_at: z.number().int().describe("unix seconds the pending withdrawal unlocks; 0 when none"),
    unlock_at_iso: z.string().optional(),
    unlocked: z.boolean().describe("a pending withdrawal can be completed now"),
    settled: amountOutput.describe("paid to the provider so far"),
  });
  const balanceOutput = {
    account: z.string(),
    session_key: z.string().optional().describe("the key signing tickets, when it is a session key"),
    wallet: amountOutput,
    ledger: amountOutput.describe("free escrow balance, withdrawable at once"),
    channels: z.array(channelOutput),
    session: spendingOutput,
  };
  const spendingOut = () => {
    const s = buyer.spending();
    return {
      fees_paid: amount(s.feesPaid),
      funds_moved: amount(s.fundsMoved),
      requests: s.requests,
      caps: s.caps.map((c) => ({ name: c.name, kind: c.kind, cap: amount(c.cap), used: amount(c.used), remaining: amount(c.remaining) })),
    };
  };
  const accountSummary = async () => {
    const s = await buyer.summary();
    return {
      account: s.account,
      ...(s.sessionKey ? { session_key: s.sessionKey } : {}),
      wallet: amount(s.wallet),
      ledger: amount(s.ledger),
      channels: s.channels.map((c) => {
        const { unlock_at, unlock_at_iso, unlocked } = unlockOut(c.unlockAt);
        return {
          provider: c.provider,
          balance: amount(c.balance),
          pending_withdraw: amount(c.pendingWithdraw),
          unlock_at,
          ...(unlock_at_iso ? { unlock_at_iso } : {}),
          unlocked,
          settled: amount(c.settled),
        };
      }),
      session: spendingOut(),
    };
  };
  server.registerTool(
    "balance",
    {
      title: "Account balance",
      description:
        "Wallet, escrow ledger and channel balances of the paying account, pending withdrawals with their unlock times, and what this session has spent against the operator's caps.",
      inputSchema: {},
      outputSchema: balanceOutput,
      annotations: { ...READ_ONLY, openWorldHint: true },
    },
    () =>
      guarded(async () => {
        const s = await accountSummary();
        const lines = [
          `account ${s.account}`,
          `wallet ${s.wallet.og} 0G, ledger ${s.ledger.og} 0G`,
          ...s.channels.map(
            (c) =>
              `channel ${c.provider}: ${c.balance.og} 0G` +
              (c.pending_withdraw.wei !== "0"
                ? `, withdrawing ${c.pending_withdraw.og} 0G ${c.unlocked ? "(unlocked)" : `after ${c.unlock_at_iso}`}`
                : ""),
          ),
          `this session: ${s.session.fees_paid.og} 0G in fees over ${s.session.requests} requests, ${s.session.funds_moved.og} 0G moved`,
        ];
        return ok(s, lines.join("\n"));
      }),
  );

  server.registerTool(
    "receipts",
    {
      title: "Verified receipts",
      description: "The provider-signed receipts this session verified, newest last, with the total fees.",
      inputSchema: { last: z.number().int().min(1).max(1000).optional().describe("only the newest N") },
      outputSchema: { receipts: z.array(receiptOutput), total_fees: amountOutput },
      annotations: { ...READ_ONLY, openWorldHint: false },
    },
    (args) =>
      guarded(async () => {
        const all = buyer.receipts;
        const list = args.last ? all.slice(-args.last) : all;
        const total = all.reduce((t, r) => t + r.fee, 0n);
        const text =
          list.length === 0
            ? "No receipts yet in this session."
            : list
                .map(
                  (r) =>
                    `${r.model} from ${r.provider}: ${r.receipt.inputTokens} in + ${r.receipt.outputTokens} out, ${formatAmount(r.fee)}`,
                )
                .join("\n") + `\ntotal ${formatAmount(total)}`;
        return ok({ receipts: list.map(receiptOut), total_fees: amount(total) }, text);
      }),
  );

  // ---------------------------------------------------------------- funds (the account's own key only)

  if (!buyer.usesSessionKey) registerFundTools(server, buyer);

  // ---------------------------------------------------------------- resources

  server.registerResource(
    "services",
    "zerog://services",
    {
      title: "0G Compute service catalogue",
      description: "Every listed service with prices and health (JSON)",
      mimeType: "application/json",
    },
    async (uri) => {
      const rows = await buyer.services();
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: toJson(rows) }] };
    },
  );
  server.registerResource(
    "account",
    "zerog://account",
    {
      title: "0G Compute account summary",
      description: "Balances, channels, unlock times and this session's spending (JSON)",
      mimeType: "application/json",
    },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: "application/json", text: toJson(await accountSummary()) }] }),
  );

  // ---------------------------------------------------------------- prompts

  server.registerPrompt(
    "ask_network",
    {
      title: "Ask a model on 0G Compute",
      description: "Put a question to a model on the 0G Compute network through the ask tool",
      argsSchema: {
        question: z.string().describe("what to ask"),
        model: z.string().optional().describe("model id; cheapest healthy service when empty"),
      },
    },
    ({ question, model }) => ({
      messages: [
        {
          role: "user",
          content: {
            type: "text",
            text: `Use the ask tool of the 0G Compute server${model ? ` with model "${model}"` : ""} to answer the question below. Report the answer, then its cost and that its receipt was verified.\n\n${question}`,
          },
        },
      ],
    }),
  );
  server.registerPrompt(
    "spending_report",
    { title: "0G Compute spending report", description: "Summarize balances, this session's spending against the caps, and the receipts" },
    () => ({
      messages: [
        {
          role: "user",
          content: {
            type: "text",
            text: "Call the balance and receipts tools of the 0G Compute server and summarize: balances, pending withdrawals with unlock times, fees spent this session against each cap, and the receipts by provider.",
          },
        },
      ],
    }),
  );

  return server;
}

function registerFundTools(server: McpServer, buyer: BuyerSession): void {
  const txOut = { tx: z.string().describe("transaction hash") };
  server.registerTool(
    "deposit",
    {
      title: "Deposit to the escrow (moves funds)",
      description:
        "Deposit an explicit amount of 0G from the wallet into the escrow ledger. Refused, with nothing sent, above the operator's caps on funds moved per session and per day.",
      inputSchema: { amount: amountInput },
      outputSchema: { amount: amountOutput, ...txOut },
      annotations: PAYING,
    },
    (args) =>
      guarded(async () => {
        const wei = parseAmount(args.amount);
        const r = await buyer.deposit(wei);
        return ok({ amount: amount(wei), tx: r.hash }, `deposited ${formatAmount(wei)} (tx ${r.hash})`);
      }),
  );
  server.registerTool(
    "fund",
    {
      title: "Fund a provider channel (moves funds)",
      description:
        "Move an explicit amount of 0G into the channel to a provider, from the escrow ledger or (from_wallet) straight from the wallet. Channel funds leave only through a withdrawal and its lock. " +
        "Refused, with nothing sent, above the operator's caps on funds moved.",
      inputSchema: {
        provider: addressSchema,
        amount: amountInput,
        from_wallet: z.boolean().optional().describe("deposit from the wallet in the same transaction"),
      },
      outputSchema: { provider: z.string(), amount: amountOutput, ...txOut },
      annotations: PAYING,
    },
    (args) =>
      guarded(async () => {
        const wei = parseAmount(args.amount);
        const r = await buyer.fund(args.provider as Address, wei, args.from_wallet === true);
        return ok(
          { provider: args.provider, amount: amount(wei), tx: r.hash },
          `funded the channel to ${args.provider} with ${formatAmount(wei)} (tx ${r.hash})`,
        );
      }),
  );
  server.registerTool(
    "withdraw_request",
    {
      title: "Request a channel withdrawal",
      description:
        'Ask to withdraw an explicit amount (or "all") from the channel to a provider. It can be completed after the lock (see balance for the unlock time); the provider may still settle what it is owed until then.',
      inputSchema: {
        provider: addressSchema,
        amount: z.union([z.literal("all"), amountInput]).describe('amount of 0G, e.g. "0.05", or "all"'),
      },
      outputSchema: {
        provider: z.string(),
        amount: amountOutput,
        unlock_at: z.number().int(),
        unlock_at_iso: z.string().optional(),
        ...txOut,
      },
      annotations: WITHDRAWING,
    },
    (args) =>
      guarded(async () => {
        const r = await buyer.requestWithdraw(args.provider as Address, args.amount === "all" ? "all" : parseAmount(args.amount));
        const u = unlockOut(r.unlockAt);
        return ok(
          {
            provider: args.provider,
            amount: amount(r.amount),
            unlock_at: u.unlock_at,
            ...(u.unlock_at_iso ? { unlock_at_iso: u.unlock_at_iso } : {}),
            tx: r.hash,
          },
          `requested ${formatAmount(r.amount)} from the channel to ${args.provider}; complete it after ${u.unlock_at_iso ?? "the lock"}`,
        );
      }),
  );
  server.registerTool(
    "withdraw_complete",
    {
      title: "Complete a channel withdrawal",
      description:
        "After the lock, move the pending withdrawal (what is left of it after settlement) back to the wallet, or to the escrow ledger with to_wallet false.",
      inputSchema: { provider: addressSchema, to_wallet: z.boolean().optional().describe("default true") },
      outputSchema: { provider: z.string(), amount: amountOutput, txs: z.array(z.string()) },
      annotations: WITHDRAWING,
    },
    (args) =>
      guarded(async () => {
        const toWallet = args.to_wallet !== false;
        const r = await buyer.completeWithdraw(args.provider as Address, toWallet);
        return ok(
          { provider: args.provider, amount: amount(r.amount), txs: r.hashes },
          `withdrew ${formatAmount(r.amount)} from the channel to ${args.provider} to your ${toWallet ? "wallet" : "ledger"}`,
        );
      }),
  );
  server.registerTool(
    "withdraw_cancel",
    {
      title: "Cancel a channel withdrawal",
      description: "Cancel the pending withdrawal from the channel to a provider; the funds stay in the channel.",
      inputSchema: { provider: addressSchema },
      outputSchema: { provider: z.string(), ...txOut },
      annotations: WITHDRAWING,
    },
    (args) =>
      guarded(async () => {
        const r = await buyer.cancelWithdraw(args.provider as Address);
        return ok({ provider: args.provider, tx: r.hash }, `cancelled the withdrawal from ${args.provider}`);
      }),
  );
  server.registerTool(
    "withdraw_ledger",
    {
      title: "Withdraw from the escrow ledger",
      description: 'Send an explicit amount (or "all") of the free escrow ledger balance back to the wallet, at once.',
      inputSchema: { amount: z.union([z.literal("all"), amountInput]).describe('amount of 0G, e.g. "0.05", or "all"') },
      outputSchema: { amount: amountOutput, ...txOut },
      annotations: WITHDRAWING,
    },
    (args) =>
      guarded(async () => {
        const r = await buyer.withdrawLedger(args.amount === "all" ? "all" : parseAmount(args.amount));
        return ok({ amount: amount(r.amount), tx: r.hash }, `sent ${formatAmount(r.amount)} from the ledger to the wallet`);
      }),
  );
}
