// Shared setup for provider tests: a local chain, a provider node over a backend, and paying clients.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256, toHex, type Hex, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { startLocalChain, type LocalChain } from "@0g-compute/contracts/testing";
import {
  createPaidFetch,
  encodeHeader,
  escrowDomain,
  MemoryLaneStore,
  requestHash,
  resolveNetwork,
  signTicket,
  TICKET_HEADER,
  ticketToWire,
  ZeroGClient,
  type PaidFetch,
  type Terms,
} from "@0g-compute/core";
import { ProviderNode, registerService, type Backend, type ProviderNodeOptions } from "../src/index.js";

export const INPUT_PRICE = 1_000_000n; // wei per token
export const OUTPUT_PRICE = 2_000_000n;

export interface ProviderFixture {
  chain: LocalChain;
  node: ProviderNode;
  dir: string;
  dbPath: string;
  responseKey: LocalAccount;
  serviceId: Hex;
  serviceVersion: number;
  model: string;
  /** The admin listener's bearer token. */
  adminToken: string;
  /** A client for anvil account `index` (funds its channel with `fund` wei first when given). */
  user(index: number, fund?: bigint): Promise<ZeroGClient>;
  /** A paying fetch for a user. */
  paid(client: ZeroGClient, over?: Partial<Parameters<typeof createPaidFetch>[0]>): PaidFetch;
  /** Sign a raw ticket for a body, for tests that speak the wire protocol by hand. */
  rawTicket(
    signer: LocalAccount,
    body: string,
    over?: { user?: Hex; nonce?: bigint; cumulative?: bigint; terms?: Partial<Terms>; path?: string },
  ): Promise<string>;
  restart(over?: Partial<ProviderNodeOptions>): Promise<ProviderNode>;
  stop(): Promise<void>;
}

export async function startProviderFixture(
  backend: () => Backend,
  model: string,
  over: Partial<ProviderNodeOptions> = {},
  listing: { name?: string; metadata?: Record<string, unknown> } = {},
): Promise<ProviderFixture> {
  const chain = await startLocalChain({ params: { lockSeconds: 600n, minFund: 0n } });
  const dir = await mkdtemp(join(tmpdir(), "0g-provider-"));
  const dbPath = join(dir, "provider.db");
  const adminToken = randomBytes(24).toString("hex");
  const network = resolveNetwork("devnet", { rpcUrl: chain.rpcUrl, escrow: chain.deployment.escrow, registry: chain.deployment.registry });
  const providerWallet = chain.wallet(2);
  const responseKey = privateKeyToAccount(generatePrivateKey());
  const options = (): ProviderNodeOptions => ({
    network,
    providerAccount: providerWallet.account as LocalAccount,
    responseSigner: responseKey,
    backend: backend(),
    dbPath,
    admin: { token: adminToken },
    pollMs: 100,
    cacheMs: 0,
    autoSettle: false,
    log: () => undefined,
    ...over,
  });
  let node = await ProviderNode.start(options());
  const { id, version } = await registerService(
    providerWallet as unknown as Parameters<typeof registerService>[0],
    chain.publicClient,
    network,
    {
      name: listing.name ?? "chat",
      model,
      modelHash: keccak256(toHex(model)),
      quantization: "F32",
      endpoint: node.url,
      inputPrice: INPUT_PRICE,
      outputPrice: OUTPUT_PRICE,
      signer: responseKey.address,
      metadata: JSON.stringify(listing.metadata ?? { contextLength: 2048 }),
    },
  );
  await node.services.refresh();
  const clients: PaidFetch[] = [];
  const fixture: ProviderFixture = {
    chain,
    node,
    dir,
    dbPath,
    responseKey,
    serviceId: id,
    serviceVersion: version,
    model,
    adminToken,
    async user(index, fund) {
      const client = new ZeroGClient({ network, account: chain.wallet(index).account as LocalAccount, pollingIntervalMs: 20 });
      if (fund) await client.depositAndFund(providerWallet.account.address, fund);
      return client;
    },
    paid(client, o = {}) {
      const p = createPaidFetch({
        network,
        publicClient: client.publicClient,
        domain: client.domain,
        user: client.address,
        signer: client.account,
        store: new MemoryLaneStore(),
        ackDelayMs: 50,
        catalogueTtlSeconds: 0,
        ...o,
      });
      clients.push(p);
      return p;
    },
    async rawTicket(signer, body, o = {}) {
      const terms: Terms = {
        serviceId: id,
        serviceVersion: version,
        inputPrice: INPUT_PRICE,
        outputPrice: OUTPUT_PRICE,
        maxCost: 10n ** 10n,
        requestHash: requestHash(o.path ?? "/v1/chat/completions", body),
        deadline: (await chain.now()) + 600n,
        ...o.terms,
      };
      const t = await signTicket(signer, escrowDomain(chain.chain.id, chain.deployment.escrow), {
        user: o.user ?? signer.address,
        provider: providerWallet.account.address,
        nonce: o.nonce ?? 1n,
        cumulative: o.cumulative ?? 0n,
        terms,
      });
      return encodeHeader(ticketToWire(t));
    },
    async restart(o = {}) {
      await node.stop().catch(() => undefined);
      node = await ProviderNode.start({ ...options(), port: Number(new URL(node.url).port), ...o });
      fixture.node = node;
      return node;
    },
    async stop() {
      for (const c of clients) await c.close().catch(() => undefined);
      await fixture.node.stop().catch(() => undefined);
      await chain.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** POST a body with a ticket header straight to the provider. */
export async function post(url: string, body: string, ticketHeader?: string, path = "/v1/chat/completions"): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(ticketHeader ? { [TICKET_HEADER]: ticketHeader } : {}) },
    body,
  });
}
