// PaymentSession's guards on what the client acknowledges: a provider cannot make it sign a
// cumulative of the provider's choosing, and no receipt's fee counts twice.
import { describe, expect, it } from "@jest/globals";
import type { Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  escrowDomain,
  feeFor,
  MemoryLaneStore,
  PaymentSession,
  responseHash,
  signReceipt,
  signTicket,
  ticketDigest,
  ticketToWire,
  ZERO_HASH,
  type ServiceInfo,
} from "../src/index.js";

const user = privateKeyToAccount(generatePrivateKey());
const receiptKey = privateKeyToAccount(generatePrivateKey());
const providerAddress = privateKeyToAccount(generatePrivateKey()).address;
const domain = escrowDomain(31337, privateKeyToAccount(generatePrivateKey()).address);
const service: ServiceInfo = {
  id: `0x${"11".repeat(32)}` as Hex,
  provider: providerAddress,
  name: "chat",
  model: "m",
  modelHash: ZERO_HASH,
  quantization: "F32",
  endpoint: "http://127.0.0.1:9",
  inputPrice: 3n,
  outputPrice: 5n,
  version: 1,
  signer: receiptKey.address,
  previousSigner: "0x0000000000000000000000000000000000000000",
  rotatedAt: 0n,
  metadata: {},
  active: true,
};
const session = () =>
  new PaymentSession({ domain, user: user.address, signer: user, service, store: new MemoryLaneStore(), ackDelayMs: 60_000 });

describe("PaymentSession", () => {
  it("resync adopts a cumulative only from a ticket its own key signed on its own lane", async () => {
    const s = session();
    const terms = s.terms(ZERO_HASH, 0n);
    const base = { user: user.address, provider: providerAddress, nonce: 40n, cumulative: 10n ** 18n, terms };
    // A ticket the provider forged with another key, in the user's name: a huge cumulative.
    const forged = await signTicket(privateKeyToAccount(generatePrivateKey()), domain, base);
    expect(await s.resync({ highestNonce: "40", ticket: ticketToWire(forged) })).toBe(true); // the nonce moves...
    expect((await s.state()).acked).toBe(0n); // ...the cumulative does not
    expect((await s.state()).nextNonce).toBe(41n);
    // The user's own signature, but for another provider or another user: not this lane's either.
    const elsewhere = await signTicket(user, domain, { ...base, provider: privateKeyToAccount(generatePrivateKey()).address });
    await s.resync({ ticket: ticketToWire(elsewhere) });
    const otherUser = await signTicket(user, domain, { ...base, user: privateKeyToAccount(generatePrivateKey()).address });
    await s.resync({ ticket: ticketToWire(otherUser) });
    expect((await s.state()).acked).toBe(0n);
    // Its own ticket on this lane is adopted.
    const own = await signTicket(user, domain, { ...base, cumulative: 1234n });
    expect(await s.resync({ ticket: ticketToWire(own) })).toBe(true);
    expect((await s.state()).acked).toBe(1234n);
  });

  it("counts one receipt's fee once, however often it is presented", async () => {
    const s = session();
    const body = '{"choices":[]}';
    const ticket = await s.signTicket(`0x${"22".repeat(32)}`, 1000n);
    const receipt = await signReceipt(receiptKey, domain, {
      ticketDigest: ticketDigest(domain, ticket),
      responseHash: responseHash(body),
      inputTokens: 10,
      outputTokens: 20,
      fee: feeFor(ticket.terms, 10, 20),
    });
    const observed = { responseHash: responseHash(body) };
    const first = await s.acceptReceipt(ticket, receipt, observed);
    const again = await s.acceptReceipt(ticket, receipt, observed);
    expect(first.fee).toBe(130n);
    expect(first.cumulative).toBe(130n);
    expect(again.cumulative).toBe(130n);
    expect((await s.state()).acked).toBe(130n);
  });
});
