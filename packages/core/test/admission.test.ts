import { describe, expect, it } from "@jest/globals";
import { keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  AdmissionError,
  checkTicket,
  EMPTY_NONCE_WINDOW,
  escrowDomain,
  requestHash,
  signTicket,
  useNonce,
  ZERO_HASH,
  type NonceWindowState,
  type Terms,
} from "../src/index.js";

const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const user = privateKeyToAccount(generatePrivateKey());
const provider = privateKeyToAccount(generatePrivateKey()).address;
const body = "{\"model\":\"m\",\"max_tokens\":8}";
const terms: Terms = { serviceId: keccak256(toHex("svc")), serviceVersion: 3, inputPrice: 5n, outputPrice: 7n, maxCost: 500n, requestHash: requestHash("/v1/chat/completions", body), deadline: 1000n };
const honoured = { serviceId: terms.serviceId, versions: [{ version: 3, inputPrice: 5n, outputPrice: 7n }] };
const sign = (over: Partial<Terms> = {}, p = provider) => signTicket(user, domain, { user: user.address, provider: p, nonce: 1n, cumulative: 0n, terms: { ...terms, ...over } });
const code = async (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof AdmissionError ? `${e.status} ${e.protocolCode}` : String(e)));

describe("admission checks", () => {
  it("accepts a good ticket and returns its signer and digest", async () => {
    const t = await sign();
    const r = await checkTicket({ domain, ticket: t, provider, now: 990n, requestHash: terms.requestHash, terms: honoured });
    expect(r.signer).toBe(user.address);
    expect(r.ackOnly).toBe(false);
  });

  it("refuses each bad ticket with the protocol's status and code", async () => {
    const base = { domain, provider, now: 990n, requestHash: terms.requestHash, terms: honoured };
    expect(await code(checkTicket({ ...base, ticket: await sign({}, user.address) }))).toBe("409 wrong_provider");
    expect(await code(checkTicket({ ...base, ticket: { ...(await sign()), signature: "0x00" } }))).toBe("401 bad_signature");
    expect(await code(checkTicket({ ...base, now: 1006n, ticket: await sign() }))).toBe("409 ticket_expired");
    expect(await code(checkTicket({ ...base, requestHash: requestHash("/v1/chat/completions", body + " "), ticket: await sign() }))).toBe("400 request_hash_mismatch");
    expect(await code(checkTicket({ ...base, ticket: await sign({ inputPrice: 4n }) }))).toBe("409 terms_changed");
    expect(await code(checkTicket({ ...base, ticket: await sign({ serviceVersion: 2 }) }))).toBe("409 terms_changed");
    // The previous version is honoured while the provider lists it (grace).
    const grace = { serviceId: terms.serviceId, versions: [{ version: 4, inputPrice: 6n, outputPrice: 7n }, { version: 3, inputPrice: 5n, outputPrice: 7n }] };
    expect(await code(checkTicket({ ...base, terms: grace, ticket: await sign() }))).toBe("ok");
    // Another domain recovers another signer: a different user, never this one.
    const foreign = await signTicket(user, escrowDomain(1, domain.verifyingContract), { user: user.address, provider, nonce: 1n, cumulative: 0n, terms });
    expect((await checkTicket({ ...base, ticket: foreign })).signer).not.toBe(user.address);
  });

  it("ack-only tickets skip the request checks", async () => {
    const t = await sign({ maxCost: 0n, requestHash: ZERO_HASH, deadline: 0n });
    expect((await checkTicket({ domain, provider, now: 5000n, ticket: t })).ackOnly).toBe(true);
  });

  it("nonce window: any order within 256, replays and too-old nonces refused", () => {
    let w: NonceWindowState = EMPTY_NONCE_WINDOW;
    // 1..32 in a scrambled but deterministic order.
    const order = Array.from({ length: 32 }, (_, i) => BigInt(((i * 13) % 32) + 1));
    for (const n of order) w = useNonce(w, n);
    expect(w.highest).toBe(32n);
    for (const n of order) expect(() => useNonce(w, n)).toThrow(/was used/);
    w = useNonce(w, 300n);
    expect(() => useNonce(w, 44n)).toThrow(/below the window/);
    w = useNonce(w, 45n);
    expect(() => useNonce(w, 45n)).toThrow(/was used/);
    expect(() => useNonce(w, 300n + 2n ** 32n + 1n)).toThrow(/too far/);
    expect(() => useNonce(w, 0n)).toThrow(AdmissionError);
  });
});
