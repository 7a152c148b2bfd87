import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { TypedDataEncoder } from "ethers";
import { getContract, keccak256, toHex, type Address, type Hex, type LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { escrowAbi } from "@0g-compute/contracts";
import { startLocalChain, type LocalChain } from "@0g-compute/contracts/testing";
import {
  DELEGATION_TYPE,
  DELEGATION_TYPES,
  delegationDigest,
  escrowDomain,
  hashTerms,
  recoverTicketSigner,
  signTicket,
  TERMS_TYPE,
  TICKET_TYPE,
  TICKET_TYPES,
  ticketDigest,
  toVoucher,
  validateTicket,
  InvalidArgumentError,
  RECEIPT_TYPE,
  RECEIPT_TYPES,
  receiptDigest,
  ticketFromWire,
  ticketToWire,
  receiptFromWire,
  WireFormatError,
  type Ticket,
} from "../src/index.js";
import { hashTypedData } from "viem";

const rand = (bytes: number): bigint => BigInt(toHex(randomBytes(bytes)));
const randomAddress = (): Address => privateKeyToAccount(generatePrivateKey()).address;

function randomTicket(): Ticket {
  return {
    user: randomAddress(),
    provider: randomAddress(),
    nonce: rand(8) || 1n,
    cumulative: rand(16),
    terms: {
      serviceId: toHex(randomBytes(32)),
      serviceVersion: Number(rand(4)),
      inputPrice: rand(16),
      outputPrice: rand(16),
      maxCost: rand(16),
      requestHash: toHex(randomBytes(32)),
      deadline: rand(8),
    },
  };
}

/** ethers wants plain objects with the same field names; it is an independent EIP-712 implementation. */
function ethersTypes(types: Record<string, readonly { name: string; type: string }[]>) {
  return Object.fromEntries(Object.entries(types).map(([k, v]) => [k, v.map((f) => ({ ...f }))]));
}

describe("EIP-712 definitions shared by core and the escrow", () => {
  let chain: LocalChain;
  let escrow: ReturnType<typeof escrowOf>;
  const escrowOf = (c: LocalChain) => getContract({ address: c.deployment.escrow, abi: escrowAbi, client: { public: c.publicClient } });

  beforeAll(async () => {
    chain = await startLocalChain();
    escrow = escrowOf(chain);
  });
  afterAll(async () => {
    await chain?.stop();
  });

  it("type strings hash to the contract's TYPEHASH constants", async () => {
    expect(keccak256(toHex(TERMS_TYPE))).toBe(await escrow.read.TERMS_TYPEHASH());
    expect(keccak256(toHex(TICKET_TYPE))).toBe(await escrow.read.TICKET_TYPEHASH());
    expect(keccak256(toHex(DELEGATION_TYPE))).toBe(await escrow.read.DELEGATION_TYPEHASH());
    // And the structured definitions encode to exactly those strings.
    expect(TypedDataEncoder.from(ethersTypes(TICKET_TYPES)).encodeType("Ticket")).toBe(TICKET_TYPE);
    expect(TypedDataEncoder.from(ethersTypes(DELEGATION_TYPES)).encodeType("Delegation")).toBe(DELEGATION_TYPE);
    expect(TypedDataEncoder.from(ethersTypes(RECEIPT_TYPES)).encodeType("Receipt")).toBe(RECEIPT_TYPE);
  });

  it("the domain matches the contract's EIP-5267 eip712Domain()", async () => {
    const [, name, version, chainId, verifyingContract] = await escrow.read.eip712Domain();
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    expect({ name, version, chainId: Number(chainId), verifyingContract }).toEqual(domain);
  });

  it("fuzz: ticket digests agree between core, ethers and the contract's hashTicket", async () => {
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    for (let i = 0; i < 40; i++) {
      const t = randomTicket();
      const termsHash = hashTerms(t.terms);
      const t2 = t.terms;
      expect(
        await escrow.read.hashTerms([
          t2.serviceId,
          t2.serviceVersion,
          t2.inputPrice,
          t2.outputPrice,
          t2.maxCost,
          t2.requestHash,
          t2.deadline,
        ]),
      ).toBe(termsHash);
      const mine = ticketDigest(domain, t);
      const theirs = TypedDataEncoder.hash(domain, ethersTypes(TICKET_TYPES), t);
      const onChain = await escrow.read.hashTicket([t.user, t.provider, t.nonce, t.cumulative, termsHash]);
      expect(mine).toBe(theirs);
      expect(mine).toBe(onChain);
    }
  });

  it("delegation digests agree between core, ethers and the contract", async () => {
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    for (let i = 0; i < 10; i++) {
      const d = {
        user: randomAddress(),
        provider: randomAddress(),
        key: randomAddress(),
        cap: rand(16),
        validUntil: rand(8),
        nonce: rand(8),
      };
      const mine = delegationDigest(domain, d);
      expect(mine).toBe(TypedDataEncoder.hash(domain, ethersTypes(DELEGATION_TYPES), d));
      expect(mine).toBe(await escrow.read.hashDelegation([d]));
    }
  });

  it("signs and recovers tickets, and builds compact vouchers", async () => {
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    const account: LocalAccount = privateKeyToAccount(generatePrivateKey());
    const t = { ...randomTicket(), user: account.address };
    const signed = await signTicket(account, domain, t);
    expect(await recoverTicketSigner(domain, signed)).toBe(account.address);
    const v = toVoucher(signed);
    expect(v.termsHash).toBe(hashTerms(t.terms));
    expect(v.r).toMatch(/^0x[0-9a-f]{64}$/);
    expect(v.vs).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it("fuzz: receipt digests agree between core's fast encoder, viem and ethers", () => {
    const domain = escrowDomain(chain.chain.id, chain.deployment.escrow);
    for (let i = 0; i < 40; i++) {
      const r = {
        ticketDigest: toHex(randomBytes(32)),
        responseHash: toHex(randomBytes(32)),
        inputTokens: Number(rand(4)),
        outputTokens: Number(rand(4)),
        fee: rand(16),
      };
      const mine = receiptDigest(domain, r);
      expect(mine).toBe(hashTypedData({ domain, types: RECEIPT_TYPES, primaryType: "Receipt", message: r }));
      expect(mine).toBe(TypedDataEncoder.hash(domain, ethersTypes(RECEIPT_TYPES), r));
    }
    // Boundary values encode like the generic encoders too.
    const edge = {
      ticketDigest: toHex(randomBytes(32)),
      responseHash: toHex(randomBytes(32)),
      inputTokens: 2 ** 32 - 1,
      outputTokens: 0,
      fee: 2n ** 128n - 1n,
    };
    expect(receiptDigest(domain, edge)).toBe(hashTypedData({ domain, types: RECEIPT_TYPES, primaryType: "Receipt", message: edge }));
  });

  it("the fast encoder refuses values wider than their declared type, as a typed error", () => {
    const domain = escrowDomain(31337, randomAddress());
    const t = randomTicket();
    expect(() => ticketDigest(domain, { ...t, cumulative: 2n ** 128n })).toThrow(InvalidArgumentError);
    expect(() => ticketDigest(domain, { ...t, cumulative: 2n ** 256n })).toThrow(InvalidArgumentError);
    expect(() => ticketDigest(domain, { ...t, nonce: 2n ** 64n })).toThrow(InvalidArgumentError);
    expect(() => ticketDigest(domain, { ...t, terms: { ...t.terms, deadline: -1n } })).toThrow(InvalidArgumentError);
    expect(() => ticketDigest(domain, { ...t, terms: { ...t.terms, serviceVersion: 2 ** 32 } })).toThrow(InvalidArgumentError);
    expect(() => ticketDigest(domain, { ...t, terms: { ...t.terms, requestHash: "0x12" as Hex } })).toThrow(InvalidArgumentError);
    const r = {
      ticketDigest: toHex(randomBytes(32)),
      responseHash: toHex(randomBytes(32)),
      inputTokens: 1,
      outputTokens: 1,
      fee: 2n ** 128n,
    };
    expect(() => receiptDigest(domain, r)).toThrow(InvalidArgumentError);
    expect(() => receiptDigest(domain, { ...r, fee: 1n, inputTokens: 2 ** 32 })).toThrow(InvalidArgumentError);
    // The widest values that fit still encode.
    expect(ticketDigest(domain, { ...t, nonce: 2n ** 64n - 1n, cumulative: 2n ** 128n - 1n })).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it("incoming tickets and receipts are held to their on-chain widths (a wire-format error, never a crash)", async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const domain = escrowDomain(31337, randomAddress());
    const wire = ticketToWire(await signTicket(account, domain, { ...randomTicket(), user: account.address }));
    expect(ticketFromWire(wire).signature).toBe(wire.signature);
    const wide = (path: (w: typeof wire) => void) => {
      const copy = JSON.parse(JSON.stringify(wire)) as typeof wire;
      path(copy);
      return () => ticketFromWire(copy);
    };
    expect(wide((w) => (w.cumulative = (2n ** 128n).toString()))).toThrow(WireFormatError);
    expect(wide((w) => (w.cumulative = "9".repeat(78)))).toThrow(WireFormatError);
    expect(wide((w) => (w.nonce = (2n ** 64n).toString()))).toThrow(WireFormatError);
    expect(wide((w) => (w.nonce = "0"))).toThrow(WireFormatError);
    expect(wide((w) => (w.terms.maxCost = (2n ** 128n).toString()))).toThrow(WireFormatError);
    expect(wide((w) => (w.terms.inputPrice = (2n ** 128n).toString()))).toThrow(WireFormatError);
    expect(wide((w) => (w.terms.outputPrice = (2n ** 128n).toString()))).toThrow(WireFormatError);
    expect(wide((w) => (w.terms.deadline = (2n ** 64n).toString()))).toThrow(WireFormatError);
    expect(wide((w) => (w.cumulative = (2n ** 128n - 1n).toString()))).not.toThrow();
    const receipt = {
      ticketDigest: toHex(randomBytes(32)),
      responseHash: toHex(randomBytes(32)),
      inputTokens: 1,
      outputTokens: 1,
      fee: (2n ** 128n).toString(),
      signature: wire.signature,
    };
    expect(() => receiptFromWire(receipt)).toThrow(WireFormatError);
    expect(receiptFromWire({ ...receipt, fee: (2n ** 128n - 1n).toString() }).fee).toBe(2n ** 128n - 1n);
  });

  it("refuses to sign fields wider than their on-chain types", async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const domain = escrowDomain(31337, randomAddress());
    const t = { ...randomTicket(), user: account.address };
    await expect(signTicket(account, domain, { ...t, cumulative: 2n ** 128n })).rejects.toThrow(InvalidArgumentError);
    await expect(signTicket(account, domain, { ...t, nonce: 0n })).rejects.toThrow(/nonce starts at 1/);
    expect(() => validateTicket({ ...t, terms: { ...t.terms, requestHash: "0x1234" as Hex } })).toThrow(InvalidArgumentError);
  });
});
