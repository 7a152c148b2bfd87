import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import {
  BaseError,
  decodeErrorResult,
  encodeAbiParameters,
  getAddress,
  keccak256,
  parseAbiParameters,
  parseEventLogs,
  type Address,
  type Hex,
  type TransactionReceipt,
} from "viem";
import { serviceRegistryAbi, serviceRegistryBytecode } from "../ts/index.js";
import type { LocalWallet } from "../ts/testing.js";
import { ZERO32, setup, type Fixture } from "./helpers.js";

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000" as Address;
const SIGNER_A = getAddress("0x00000000000000000000000000000000000a11ce");
const SIGNER_B = getAddress("0x0000000000000000000000000000000000000b0b");
const PAYEE = getAddress("0x000000000000000000000000000000000000bee5");
const HASH_A = `0x${"aa".repeat(32)}` as Hex;
const HASH_B = `0x${"bb".repeat(32)}` as Hex;

interface ServiceInput {
  name: string;
  model: string;
  modelHash: Hex;
  quantization: string;
  endpoint: string;
  inputPrice: bigint;
  outputPrice: bigint;
  signer: Address;
  metadata: string;
}

/** A valid ServiceInput; override any field. */
function input(overrides: Partial<ServiceInput> = {}): ServiceInput {
  return {
    name: "llama-chat",
    model: "meta-llama/Llama-3.1-8B-Instruct",
    modelHash: HASH_A,
    quantization: "q4_k_m",
    endpoint: "https://provider.example/v1",
    inputPrice: 100n,
    outputPrice: 200n,
    signer: SIGNER_A,
    metadata: '{"region":"eu"}',
    ...overrides,
  };
}

/** The id the contract derives: keccak256(abi.encode(provider, name)). */
function expectedId(provider: Address, name: string): Hex {
  return keccak256(encodeAbiParameters(parseAbiParameters("address, string"), [provider, name]));
}

function registryEvents(receipt: TransactionReceipt) {
  return parseEventLogs({ abi: serviceRegistryAbi, logs: receipt.logs });
}

describe("ServiceRegistry", () => {
  let f: Fixture;
  let provider: LocalWallet;
  let provider2: LocalWallet;
  let other: LocalWallet;
  let STAKE: bigint;
  let TERMS_DELAY: bigint;
  let UNBOND_DELAY: bigint;

  const reg = (w: LocalWallet = provider) => f.registryAs(w);
  const addr = (w: LocalWallet) => w.account.address;
  const stake = (w: LocalWallet = provider) => f.mined(reg(w).write.stake({ value: STAKE }));
  const add = async (i: ServiceInput, w: LocalWallet = provider) => {
    const receipt = await f.mined(reg(w).write.addService([i]));
    return { receipt, id: expectedId(addr(w), i.name) };
  };
  const update = (id: Hex, i: ServiceInput, w: LocalWallet = provider) => f.mined(reg(w).write.updateService([id, i]));
  const view = (id: Hex) => reg().read.getService([id]);
  const blockTime = async (receipt: TransactionReceipt) =>
    (await f.chain.publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
  const listedIds = async () => (await reg().read.getServices([0n, 100n])).map((s) => s.id);

  beforeAll(async () => {
    f = await setup();
    provider = f.chain.wallet(1);
    provider2 = f.chain.wallet(2);
    other = f.chain.wallet(3);
    STAKE = f.chain.deployment.params.providerStake;
    TERMS_DELAY = f.chain.deployment.params.termsDelaySeconds;
    UNBOND_DELAY = f.chain.deployment.params.unbondDelaySeconds;
    await f.checkpoint();
  });
  afterAll(async () => {
    await f?.chain.stop();
  });
  beforeEach(() => f.rewind());

  // ------------------------------------------------------------------ 1. stake

  it("stake: requires exactly STAKE, once; services need a stake", async () => {
    expect(await reg().read.STAKE()).toBe(STAKE);
    await expect(reg().write.stake({ value: STAKE - 1n })).rejects.toThrow(/WrongStake/);
    await expect(reg().write.stake({ value: STAKE + 1n })).rejects.toThrow(/WrongStake/);
    await expect(reg().write.stake({ value: 0n })).rejects.toThrow(/WrongStake/);
    await expect(reg().write.addService([input()])).rejects.toThrow(/NotStaked/);

    const r = await stake();
    const staked = registryEvents(r).find((e) => e.eventName === "ProviderStaked");
    expect(staked?.args).toEqual({ provider: addr(provider), amount: STAKE });
    expect(await reg().read.getProvider([addr(provider)])).toEqual([STAKE, 0n, 0n, true]);
    await expect(reg().write.stake({ value: STAKE })).rejects.toThrow(/AlreadyStaked/);
  });

  it("stake: providerCount and getProviders paginate in staking order", async () => {
    expect(await reg().read.providerCount()).toBe(0n);
    const wallets = [1, 2, 3, 4, 5].map((i) => f.chain.wallet(i));
    for (const w of wallets) await stake(w);
    const all = wallets.map(addr);
    expect(await reg().read.providerCount()).toBe(5n);
    expect(await reg().read.getProviders([0n, 100n])).toEqual(all);
    expect(await reg().read.getProviders([0n, 2n])).toEqual(all.slice(0, 2));
    expect(await reg().read.getProviders([2n, 2n])).toEqual(all.slice(2, 4));
    expect(await reg().read.getProviders([4n, 2n])).toEqual(all.slice(4));
    expect(await reg().read.getProviders([5n, 2n])).toEqual([]);
    expect(await reg().read.getProviders([1000n, 2n])).toEqual([]);
    expect(await reg().read.getProviders([1n, 0n])).toEqual([]);
    expect(await reg().read.getProviders([3n, 2n ** 256n - 1n])).toEqual(all.slice(3));
  });

  // ------------------------------------------------------------------ 2. addService

  it("addService: returns and emits serviceId(provider, name) with the full service at version 1", async () => {
    await stake();
    const i = input();
    const id = expectedId(addr(provider), i.name);
    expect(await reg().read.serviceId([addr(provider), i.name])).toBe(id);
    const { result } = await reg().simulate.addService([i], { account: addr(provider) });
    expect(result).toBe(id);

    const { receipt } = await add(i);
    const at = await blockTime(receipt);
    const changed = registryEvents(receipt).filter((e) => e.eventName === "ServiceChanged");
    expect(changed).toHaveLength(1);
    const ev = changed[0]!.args as { provider: Address; id: Hex; version: number; service: Awaited<ReturnType<typeof view>> };
    expect(ev.provider).toBe(addr(provider));
    expect(ev.id).toBe(id);
    expect(ev.version).toBe(1);
    expect(ev.service).toEqual({
      id,
      provider: addr(provider),
      name: i.name,
      endpoint: i.endpoint,
      signer: i.signer,
      previousSigner: ZERO_ADDRESS,
      rotatedAt: 0n,
      metadata: i.metadata,
      terms: { model: i.model, modelHash: i.modelHash, quantization: i.quantization, inputPrice: i.inputPrice, outputPrice: i.outputPrice },
      version: 1,
      pendingTerms: { model: "", modelHash: ZERO32, quantization: "", inputPrice: 0n, outputPrice: 0n },
      pendingVersion: 0,
      pendingAt: 0n,
      active: true,
      updatedAt: at,
    });
    expect(await view(id)).toEqual(ev.service);
    await expect(reg().write.addService([input({ endpoint: "https://elsewhere.example" })])).rejects.toThrow(/ServiceExists/);
    // The same name under another provider is another id.
    await stake(provider2);
    const second = await add(i, provider2);
    expect(second.id).not.toBe(id);
    expect((await view(second.id)).provider).toBe(addr(provider2));
  });

  it("addService: enforces field bounds and a non-zero signer", async () => {
    await stake();
    await expect(reg().write.addService([input({ name: "" })])).rejects.toThrow(/FieldLength/);
    await expect(reg().write.addService([input({ name: "n".repeat(65) })])).rejects.toThrow(/FieldLength/);
    // Bounds count bytes, not characters: 22 three-byte characters are 66 bytes.
    await expect(reg().write.addService([input({ name: "€".repeat(22) })])).rejects.toThrow(/FieldLength/);
    await expect(reg().write.addService([input({ metadata: "m".repeat(2049) })])).rejects.toThrow(/FieldLength/);
    await expect(reg().write.addService([input({ endpoint: "" })])).rejects.toThrow(/FieldLength/);
    await expect(reg().write.addService([input({ model: "" })])).rejects.toThrow(/FieldLength/);
    await expect(reg().write.addService([input({ signer: ZERO_ADDRESS })])).rejects.toThrow(/ZeroSigner/);
    await expect(reg().write.addService([input({ quantization: "q".repeat(33) })])).rejects.toThrow(/FieldLength/);
    expect(await reg().read.serviceCount()).toBe(0n);

    // The maxima themselves are accepted; quantization and metadata may be empty.
    await add(input({ name: "n".repeat(64), metadata: "m".repeat(2048), quantization: "q".repeat(32) }));
    await add(input({ name: "minimal", quantization: "", metadata: "" }));
    expect(await reg().read.serviceCount()).toBe(2n);
  });

  it("addService: at most MAX_SERVICES_PER_PROVIDER (16) per provider", async () => {
    expect(await reg().read.MAX_SERVICES_PER_PROVIDER()).toBe(16n);
    await stake();
    for (let k = 0; k < 16; k++) await add(input({ name: `svc-${k}` }));
    await expect(reg().write.addService([input({ name: "svc-16" })])).rejects.toThrow(/TooManyServices/);
    expect(await reg().read.serviceCount()).toBe(16n);
    // The cap is per provider.
    await stake(provider2);
    await add(input({ name: "svc-16" }), provider2);
    expect(await reg().read.serviceCount()).toBe(17n);
  });

  // ------------------------------------------------------------------ 3. views

  it("views: serviceCount, getServices pagination, getService, getProviderServices", async () => {
    await stake();
    await stake(provider2);
    const mine: Hex[] = [];
    for (const name of ["a", "b", "c"]) mine.push((await add(input({ name }))).id);
    const theirs = (await add(input({ name: "d" }), provider2)).id;
    const all = [...mine, theirs];

    expect(await reg().read.serviceCount()).toBe(4n);
    expect(await listedIds()).toEqual(all);
    expect((await reg().read.getServices([0n, 3n])).map((s) => s.id)).toEqual(all.slice(0, 3));
    expect((await reg().read.getServices([3n, 3n])).map((s) => s.id)).toEqual(all.slice(3));
    expect((await reg().read.getServices([1n, 2n])).map((s) => s.id)).toEqual(all.slice(1, 3));
    expect(await reg().read.getServices([4n, 10n])).toEqual([]);
    expect(await reg().read.getServices([99n, 10n])).toEqual([]);
    expect(await reg().read.getServices([0n, 0n])).toEqual([]);
    expect((await reg().read.getServices([2n, 2n ** 256n - 1n])).map((s) => s.id)).toEqual(all.slice(2));

    for (const id of all) expect((await view(id)).id).toBe(id);
    const unknown = expectedId(addr(other), "nope");
    await expect(view(unknown)).rejects.toThrow(/UnknownService/);

    expect((await reg().read.getProviderServices([addr(provider)])).map((s) => s.id)).toEqual(mine);
    expect((await reg().read.getProviderServices([addr(provider2)])).map((s) => s.name)).toEqual(["d"]);
    expect(await reg().read.getProviderServices([addr(other)])).toEqual([]);
  });

  it("views: getServices clamps limit to MAX_PAGE (100)", async () => {
    expect(await reg().read.MAX_PAGE()).toBe(100n);
    // 7 providers x 16 services = 112 listed services.
    const wallets = [1, 2, 3, 4, 5, 6, 7].map((i) => f.chain.wallet(i));
    for (const w of wallets) {
      await stake(w);
      for (let k = 0; k < 16; k++) await f.mined(reg(w).write.addService([input({ name: `s${k}` })]));
    }
    expect(await reg().read.serviceCount()).toBe(112n);
    expect(await reg().read.getServices([0n, 1000n])).toHaveLength(100);
    expect(await reg().read.getServices([0n, 2n ** 256n - 1n])).toHaveLength(100);
    expect(await reg().read.getServices([100n, 1000n])).toHaveLength(12);
    expect(await reg().read.getServices([50n, 100n])).toHaveLength(62);
    const pages = [...(await reg().read.getServices([0n, 100n])), ...(await reg().read.getServices([100n, 100n]))];
    expect(new Set(pages.map((s) => s.id)).size).toBe(112);
  });

  // ------------------------------------------------------------------ 4. updateService

  it("updateService: only the owner; unknown ids revert; the name is immutable", async () => {
    await stake();
    const { id } = await add(input());
    await expect(reg(other).write.updateService([id, input({ endpoint: "https://evil.example" })])).rejects.toThrow(/NotServiceOwner/);
    await expect(reg().write.updateService([expectedId(addr(provider), "missing"), input({ name: "missing" })])).rejects.toThrow(
      /UnknownService/,
    );
    await expect(reg().write.updateService([id, input({ name: "renamed" })])).rejects.toThrow(/NameImmutable/);
    expect((await view(id)).endpoint).toBe(input().endpoint);
  });

  it("updateService: endpoint and metadata apply at once without a version change", async () => {
    await stake();
    const { id } = await add(input());
    const r = await update(id, input({ endpoint: "https://new.example/v2", metadata: "" }));
    const s = await view(id);
    expect(s.endpoint).toBe("https://new.example/v2");
    expect(s.metadata).toBe("");
    expect(s.version).toBe(1);
    expect(s.pendingAt).toBe(0n);
    expect(s.updatedAt).toBe(await blockTime(r));
    const ev = registryEvents(r);
    expect(ev.map((e) => e.eventName)).toEqual(["ServiceChanged"]);
    expect(ev[0]!.args).toMatchObject({ version: 1 });
  });

  it("updateService: a pure price decrease applies at once and bumps the version", async () => {
    await stake();
    const { id } = await add(input());
    const r = await update(id, input({ inputPrice: 90n }));
    let s = await view(id);
    expect(s.terms).toMatchObject({ inputPrice: 90n, outputPrice: 200n });
    expect(s.version).toBe(2);
    expect(s.pendingAt).toBe(0n);
    const ev = registryEvents(r);
    expect(ev.map((e) => e.eventName)).toEqual(["ServiceChanged"]);
    expect(ev[0]!.args).toMatchObject({ version: 2 });

    await update(id, input({ inputPrice: 90n, outputPrice: 1n }));
    s = await view(id);
    expect(s.terms).toMatchObject({ inputPrice: 90n, outputPrice: 1n });
    expect(s.version).toBe(3);
  });

  it("updateService: a price increase is scheduled TERMS_DELAY ahead and takes effect without a write", async () => {
    expect(await reg().read.TERMS_DELAY()).toBe(TERMS_DELAY);
    await stake();
    const { id } = await add(input());
    const r = await update(id, input({ outputPrice: 300n }));
    const at = await blockTime(r);
    const effectiveAt = at + TERMS_DELAY;

    const scheduled = registryEvents(r).find((e) => e.eventName === "TermsScheduled");
    expect(scheduled?.args).toEqual({
      provider: addr(provider),
      id,
      version: 2,
      effectiveAt,
      terms: { model: input().model, modelHash: HASH_A, quantization: input().quantization, inputPrice: 100n, outputPrice: 300n },
    });
    const changed = registryEvents(r).find((e) => e.eventName === "ServiceChanged");
    expect(changed?.args).toMatchObject({ version: 1 });

    // A write before the change is due leaves the scheduled terms pending.
    await update(id, input({ endpoint: "https://early.example" }));
    let s = await view(id);
    expect(s.endpoint).toBe("https://early.example");
    expect(s.terms).toMatchObject({ inputPrice: 100n, outputPrice: 200n });
    expect(s.version).toBe(1);
    expect(s.pendingTerms).toMatchObject({ inputPrice: 100n, outputPrice: 300n, modelHash: HASH_A });
    expect(s.pendingAt).toBe(effectiveAt);

    // One second before: still the old terms. At effectiveAt: the new ones (read at those exact blocks).
    await f.chain.testClient.setNextBlockTimestamp({ timestamp: effectiveAt - 1n });
    await f.chain.testClient.mine({ blocks: 1 });
    const before = await f.chain.publicClient.getBlockNumber();
    await f.chain.testClient.setNextBlockTimestamp({ timestamp: effectiveAt });
    await f.chain.testClient.mine({ blocks: 1 });
    const atBlock = await f.chain.publicClient.getBlockNumber();
    expect((await f.chain.publicClient.getBlock({ blockNumber: atBlock })).timestamp).toBe(effectiveAt);
    const sBefore = await reg().read.getService([id], { blockNumber: before });
    expect(sBefore.version).toBe(1);
    expect(sBefore.terms.outputPrice).toBe(200n);
    const sAt = await reg().read.getService([id], { blockNumber: atBlock });
    expect(sAt.version).toBe(2);
    expect(sAt.terms.outputPrice).toBe(300n);

    await f.chain.increaseTime(TERMS_DELAY);
    s = await view(id);
    expect(s.terms).toMatchObject({ inputPrice: 100n, outputPrice: 300n });
    expect(s.version).toBe(2);
    expect(s.pendingAt).toBe(0n);
    expect(s.pendingTerms).toEqual({ model: "", modelHash: ZERO32, quantization: "", inputPrice: 0n, outputPrice: 0n });

    // A later unrelated write makes storage catch up without bumping the version a second time.
    const r2 = await update(id, input({ outputPrice: 300n, endpoint: "https://later.example" }));
    expect(registryEvents(r2).find((e) => e.eventName === "ServiceChanged")?.args).toMatchObject({ version: 2 });
    s = await view(id);
    expect(s.version).toBe(2);
    expect(s.terms.outputPrice).toBe(300n);
    expect(s.endpoint).toBe("https://later.example");
  });

  it("updateService: a model hash change is scheduled like a price increase, even with lower prices", async () => {
    await stake();
    const { id } = await add(input());
    const r = await update(id, input({ modelHash: HASH_B, inputPrice: 1n }));
    const effectiveAt = (await blockTime(r)) + TERMS_DELAY;
    expect(registryEvents(r).find((e) => e.eventName === "TermsScheduled")?.args).toMatchObject({ version: 2, effectiveAt });
    let s = await view(id);
    expect(s.terms).toMatchObject({ modelHash: HASH_A, inputPrice: 100n });
    expect(s.version).toBe(1);
    expect(s.pendingTerms).toMatchObject({ modelHash: HASH_B, inputPrice: 1n });
    expect(s.pendingAt).toBe(effectiveAt);

    await f.chain.increaseTime(TERMS_DELAY);
    s = await view(id);
    expect(s.terms).toMatchObject({ modelHash: HASH_B, inputPrice: 1n });
    expect(s.version).toBe(2);
    expect(s.pendingAt).toBe(0n);
  });

  it("updateService: a decrease while an increase is pending applies at once and clears the pending change", async () => {
    await stake();
    const { id } = await add(input());
    await update(id, input({ inputPrice: 500n }));
    expect((await view(id)).pendingAt).not.toBe(0n);

    const r = await update(id, input({ inputPrice: 50n }));
    expect(registryEvents(r).some((e) => e.eventName === "TermsScheduled")).toBe(false);
    let s = await view(id);
    expect(s.terms.inputPrice).toBe(50n);
    // Version 2 was announced for the dropped increase, so the decrease takes 3: no number is reused.
    expect(s.version).toBe(3);
    expect(s.pendingAt).toBe(0n);
    expect(s.pendingVersion).toBe(0);
    expect(s.pendingTerms.inputPrice).toBe(0n);

    // The dropped increase never comes back.
    await f.chain.increaseTime(TERMS_DELAY * 2n);
    s = await view(id);
    expect(s.terms.inputPrice).toBe(50n);
    expect(s.version).toBe(3);
  });

  it("updateService: a signer change records previousSigner and rotatedAt, emits SignerRotated, keeps the version", async () => {
    await stake();
    const { id } = await add(input());
    const r = await update(id, input({ signer: SIGNER_B }));
    const rotated = registryEvents(r).find((e) => e.eventName === "SignerRotated");
    expect(rotated?.args).toEqual({ provider: addr(provider), id, previousSigner: SIGNER_A, signer: SIGNER_B });
    let s = await view(id);
    expect(s.signer).toBe(SIGNER_B);
    expect(s.previousSigner).toBe(SIGNER_A);
    expect(s.rotatedAt).toBe(await blockTime(r));
    expect(s.version).toBe(1);
    await expect(reg().write.updateService([id, input({ signer: ZERO_ADDRESS })])).rejects.toThrow(/ZeroSigner/);

    // Same signer again: no rotation event, nothing changes.
    const r2 = await update(id, input({ signer: SIGNER_B }));
    expect(registryEvents(r2).some((e) => e.eventName === "SignerRotated")).toBe(false);
    s = await view(id);
    expect(s.previousSigner).toBe(SIGNER_A);
    expect(s.rotatedAt).toBe(await blockTime(r));
  });

  // ------------------------------------------------------------------ 5. removeService

  it("removeService: swap-and-pop keeps the list dense and every remaining id retrievable", async () => {
    await stake();
    await stake(provider2);
    const [a, b, c, d] = await (async () => {
      const ids: Hex[] = [];
      for (const name of ["a", "b", "c", "d"]) ids.push((await add(input({ name }))).id);
      return ids as [Hex, Hex, Hex, Hex];
    })();
    const e = (await add(input({ name: "e" }), provider2)).id;

    await expect(reg(other).write.removeService([b])).rejects.toThrow(/NotServiceOwner/);
    const r = await f.mined(reg().write.removeService([b]));
    expect(registryEvents(r).find((x) => x.eventName === "ServiceRemoved")?.args).toEqual({ provider: addr(provider), id: b });
    expect(await reg().read.serviceCount()).toBe(4n);
    expect(await listedIds()).toEqual([a, e, c, d]);
    await expect(view(b)).rejects.toThrow(/UnknownService/);
    await expect(reg().write.removeService([b])).rejects.toThrow(/UnknownService/);
    for (const id of [a, c, d, e]) expect((await view(id)).id).toBe(id);
    expect(new Set((await reg().read.getProviderServices([addr(provider)])).map((s) => s.id))).toEqual(new Set([a, c, d]));

    // Remove the head and the tail too.
    await f.mined(reg().write.removeService([a]));
    await f.mined(reg().write.removeService([c]));
    expect(await listedIds()).toEqual([d, e]);
    expect((await reg().read.getServices([1n, 10n])).map((s) => s.id)).toEqual([e]);
    for (const id of [d, e]) expect((await view(id)).id).toBe(id);
    expect((await reg().read.getProviderServices([addr(provider)])).map((s) => s.id)).toEqual([d]);
    expect((await reg().read.getProvider([addr(provider)]))[2]).toBe(1n);
    // Removing frees a slot under the per-provider cap and the name can be re-added.
    expect((await add(input({ name: "b" }))).id).toBe(b);
  });

  it("removeService: a re-added name gets a version above every version the id had", async () => {
    await stake();
    // Plain: v1 -> decrease v2 -> remove -> re-add is v3.
    let { id } = await add(input());
    await update(id, input({ inputPrice: 10n }));
    expect((await view(id)).version).toBe(2);
    await f.mined(reg().write.removeService([id]));
    ({ id } = await add(input()));
    expect((await view(id)).version).toBe(3);

    // A scheduled change that came into force (version 4 in views) before removal counts too.
    await update(id, input({ inputPrice: 1000n }));
    await f.chain.increaseTime(TERMS_DELAY);
    expect((await view(id)).version).toBe(4);
    await f.mined(reg().write.removeService([id]));
    const { receipt } = await add(input());
    expect(registryEvents(receipt).find((e) => e.eventName === "ServiceChanged")?.args).toMatchObject({ version: 5 });
    expect((await view(id)).version).toBe(5);

    // A change announced (version 6) but removed before it took effect: its number is never reused.
    const announced = await update(id, input({ inputPrice: 5000n }));
    expect(registryEvents(announced).find((e) => e.eventName === "TermsScheduled")?.args).toMatchObject({ version: 6 });
    expect((await view(id)).pendingVersion).toBe(6);
    await f.mined(reg().write.removeService([id]));
    await add(input());
    expect((await view(id)).version).toBe(7);
    expect((await view(id)).terms.inputPrice).toBe(100n);
  });

  // ------------------------------------------------------------------ 6. unbonding

  it("unbonding: services turn inactive, addService is blocked, the delay is at least twice the escrow lock", async () => {
    const lock = await f.escrowAs(provider).read.LOCK();
    expect(await reg().read.UNBOND_DELAY()).toBe(UNBOND_DELAY);
    expect(UNBOND_DELAY >= 2n * lock).toBe(true);
    await expect(reg().write.requestUnbond()).rejects.toThrow(/NotStaked/);
    await expect(reg().write.withdrawStake([PAYEE])).rejects.toThrow(/NotUnbonding/);

    await stake();
    const { id } = await add(input());
    await stake(provider2);
    const theirs = (await add(input(), provider2)).id;

    const r = await f.mined(reg().write.requestUnbond());
    const unbondAt = (await blockTime(r)) + UNBOND_DELAY;
    expect(registryEvents(r).find((e) => e.eventName === "UnbondRequested")?.args).toEqual({ provider: addr(provider), unbondAt });
    expect(await reg().read.getProvider([addr(provider)])).toEqual([STAKE, unbondAt, 1n, false]);
    expect((await view(id)).active).toBe(false);
    expect((await reg().read.getServices([0n, 10n])).map((s) => [s.id, s.active])).toEqual([
      [id, false],
      [theirs, true],
    ]);
    expect((await reg().read.getProviderServices([addr(provider)]))[0]?.active).toBe(false);
    expect((await view(theirs)).active).toBe(true);

    await expect(reg().write.addService([input({ name: "another" })])).rejects.toThrow(/Unbonding/);
    await expect(reg().write.requestUnbond()).rejects.toThrow(/Unbonding/);
    await expect(reg().write.stake({ value: STAKE })).rejects.toThrow(/AlreadyStaked/);
    await expect(reg().write.withdrawStake([PAYEE])).rejects.toThrow(/StillBonded/);
    await f.chain.increaseTime(UNBOND_DELAY - 60n);
    await expect(reg().write.withdrawStake([PAYEE])).rejects.toThrow(/StillBonded/);
  });

  it("unbonding: after the delay withdrawStake pays `to`, removes every service, and the provider may stake again", async () => {
    await stake();
    await stake(provider2);
    const ids: Hex[] = [];
    for (const name of ["a", "b", "c"]) ids.push((await add(input({ name }))).id);
    const theirs = (await add(input({ name: "x" }), provider2)).id;
    await f.mined(reg().write.requestUnbond());
    const unbondAt = (await reg().read.getProvider([addr(provider)]))[1];
    // One second before the delay ends, the bond stays (each write mines a block at the next timestamp).
    await f.chain.testClient.setNextBlockTimestamp({ timestamp: unbondAt - 1n });
    await expect(f.mined(reg().write.withdrawStake([PAYEE], { gas: 1_000_000n }))).rejects.toThrow(/reverted|StillBonded/);
    await f.chain.increaseTime(UNBOND_DELAY);

    await expect(reg().write.withdrawStake([ZERO_ADDRESS])).rejects.toThrow(/ZeroAddress/);
    // A payee that refuses the transfer makes the withdrawal revert; the bond is not lost.
    await expect(reg().write.withdrawStake([f.chain.deployment.registry])).rejects.toThrow(/TransferFailed/);
    const payeeBefore = await f.chain.publicClient.getBalance({ address: PAYEE });
    const registryBefore = await f.chain.publicClient.getBalance({ address: f.chain.deployment.registry });
    const r = await f.mined(reg().write.withdrawStake([PAYEE]));
    expect(await f.chain.publicClient.getBalance({ address: PAYEE })).toBe(payeeBefore + STAKE);
    expect(await f.chain.publicClient.getBalance({ address: f.chain.deployment.registry })).toBe(registryBefore - STAKE);

    const events = registryEvents(r);
    expect(new Set(events.filter((e) => e.eventName === "ServiceRemoved").map((e) => (e.args as { id: Hex }).id))).toEqual(new Set(ids));
    expect(events.find((e) => e.eventName === "StakeWithdrawn")?.args).toEqual({ provider: addr(provider), to: PAYEE, amount: STAKE });
    expect(await reg().read.serviceCount()).toBe(1n);
    expect(await listedIds()).toEqual([theirs]);
    for (const id of ids) await expect(view(id)).rejects.toThrow(/UnknownService/);
    expect(await reg().read.getProviderServices([addr(provider)])).toEqual([]);
    expect(await reg().read.getProvider([addr(provider)])).toEqual([0n, 0n, 0n, false]);
    await expect(reg().write.withdrawStake([PAYEE])).rejects.toThrow(/NotUnbonding/);
    await expect(reg().write.addService([input()])).rejects.toThrow(/NotStaked/);

    // Stake again: no duplicate provider entry; old names come back with fresh versions.
    expect(await reg().read.providerCount()).toBe(2n);
    await stake();
    expect(await reg().read.providerCount()).toBe(2n);
    expect(await reg().read.getProviders([0n, 100n])).toEqual([addr(provider), addr(provider2)]);
    expect(await reg().read.getProvider([addr(provider)])).toEqual([STAKE, 0n, 0n, true]);
    const { id } = await add(input({ name: "a" }));
    expect(id).toBe(ids[0]);
    expect((await view(id)).version).toBe(2);
    expect((await view(id)).active).toBe(true);
  });

  // ------------------------------------------------------------------ 7. deploy guard

  it("deploy guard: unbondDelay < 2 * LOCK or termsDelay < LOCK cannot be deployed", async () => {
    const deployer = f.chain.wallet(0);
    const escrow = f.chain.deployment.escrow;
    const lock = await f.escrowAs(deployer).read.LOCK();
    const deploy = async (unbondDelay: bigint, termsDelay: bigint): Promise<string> => {
      try {
        const hash = await deployer.deployContract({
          abi: serviceRegistryAbi,
          bytecode: serviceRegistryBytecode,
          args: [escrow, STAKE, unbondDelay, termsDelay],
        });
        const receipt = await f.chain.publicClient.waitForTransactionReceipt({ hash });
        return receipt.status === "success" && receipt.contractAddress ? "deployed" : "reverted";
      } catch (err) {
        // viem does not decode constructor errors: find the raw revert data and decode it here.
        const withData =
          err instanceof BaseError ? (err.walk((e) => typeof (e as { data?: unknown }).data === "string") as { data?: Hex } | null) : null;
        if (!withData?.data) return `rejected: ${(err as Error).message}`;
        const decoded = decodeErrorResult({ abi: serviceRegistryAbi, data: withData.data });
        return `${decoded.errorName}(${(decoded.args ?? []).join(",")})`;
      }
    };
    // Either the deployment is refused up front (decoded error) or its receipt is "reverted".
    expect(["reverted", `UnbondTooShort(${2n * lock - 1n},${lock})`]).toContain(await deploy(2n * lock - 1n, lock));
    expect(["reverted", `UnbondTooShort(0,${lock})`]).toContain(await deploy(0n, lock));
    expect(["reverted", `TermsDelayTooShort(${lock - 1n},${lock})`]).toContain(await deploy(2n * lock, lock - 1n));
    expect(["reverted", `TermsDelayTooShort(0,${lock})`]).toContain(await deploy(2n * lock, 0n));
    // The minimums themselves deploy.
    expect(await deploy(2n * lock, lock)).toBe("deployed");
  });
});
