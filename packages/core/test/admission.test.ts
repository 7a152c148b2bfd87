import { describe, expect, it } from "@jest/globals";
import { keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  AdmissionError,
  checkTerms,
  checkTicket,
  DEADLINE_SKEW_SECONDS,
  EMPTY_NONCE_WINDOW,
  escrowDomain,
  MAX_NONCE_JUMP,
  NONCE_WINDOW,
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
const body = '{"model":"m","max_tokens":8}';
const terms: Terms = {
  serviceId: keccak256(toHex("svc")),
  serviceVersion: 3,
  inputPrice: 5n,
  outputPrice: 7n,
  maxCost: 500n,
  requestHash: requestHash("/v1/chat/completions", body),
  deadline: 1000n,
};
const honoured = { serviceId: terms.serviceId, versions: [{ version: 3, inputPrice: 5n, outputPrice: 7n }] };
const sign = (over: Partial<Terms> = {}, p = provider) =>
  signTicket(user, domain, { user: user.address, provider: p, nonce: 1n, cumulative: 0n, terms: { ...terms, ...over } });
const code = async (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e: unknown) => (e instanceof AdmissionError ? `${e.status} ${e.protocolCode}` : String(e)),
  );

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
    expect(await code(checkTicket({ ...base, requestHash: requestHash("/v1/chat/completions", body + " "), ticket: await sign() }))).toBe(
      "400 request_hash_mismatch",
    );
    expect(await code(checkTicket({ ...base, ticket: await sign({ inputPrice: 4n }) }))).toBe("409 terms_changed");
    expect(await code(checkTicket({ ...base, ticket: await sign({ serviceVersion: 2 }) }))).toBe("409 terms_changed");
    // The previous version is honoured while the provider lists it (grace).
    const grace = {
      serviceId: terms.serviceId,
      versions: [
        { version: 4, inputPrice: 6n, outputPrice: 7n },
        { version: 3, inputPrice: 5n, outputPrice: 7n },
      ],
    };
    expect(await code(checkTicket({ ...base, terms: grace, ticket: await sign() }))).toBe("ok");
    // Another domain recovers another signer: a different user, never this one.
    const foreign = await signTicket(user, escrowDomain(1, domain.verifyingContract), {
      user: user.address,
      provider,
      nonce: 1n,
      cumulative: 0n,
      terms,
    });
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

  it("the deadline allows exactly DEADLINE_SKEW_SECONDS of clock skew", async () => {
    const base = { domain, provider, requestHash: terms.requestHash, terms: honoured };
    const t = await sign();
    expect(await code(checkTicket({ ...base, now: terms.deadline, ticket: t }))).toBe("ok");
    expect(await code(checkTicket({ ...base, now: terms.deadline + DEADLINE_SKEW_SECONDS, ticket: t }))).toBe("ok");
    const late = await checkTicket({ ...base, now: terms.deadline + DEADLINE_SKEW_SECONDS + 1n, ticket: t }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(AdmissionError);
    expect((late as AdmissionError).code).toBe("ADMISSION_TICKET_EXPIRED");
    expect((late as AdmissionError).details).toEqual({ now: (terms.deadline + DEADLINE_SKEW_SECONDS + 1n).toString() });
  });

  it("a paid ticket checked without terms skips only the terms check", async () => {
    const r = await checkTicket({ domain, provider, now: 990n, requestHash: terms.requestHash, ticket: await sign({ inputPrice: 1n }) });
    expect(r.ackOnly).toBe(false);
  });

  it("terms must match in service, version and both prices; the refusal names the terms in force", async () => {
    const t = await sign();
    const refusal = (h: typeof honoured) => {
      try {
        checkTerms(t, h);
        return undefined;
      } catch (e) {
        expect(e).toBeInstanceOf(AdmissionError);
        expect((e as AdmissionError).protocolCode).toBe("terms_changed");
        return e as AdmissionError;
      }
    };
    expect(refusal(honoured)).toBeUndefined();
    expect(
      refusal({ serviceId: terms.serviceId.toUpperCase().replace("0X", "0x") as typeof terms.serviceId, versions: honoured.versions }),
    ).toBeUndefined();
    const inForce = { version: 3, inputPrice: 5n, outputPrice: 8n };
    expect(refusal({ ...honoured, serviceId: keccak256(toHex("another service")) })?.details).toEqual({
      serviceId: keccak256(toHex("another service")),
      serviceVersion: 3,
      inputPrice: "5",
      outputPrice: "7",
    });
    expect(refusal({ ...honoured, versions: [inForce] })?.details).toEqual({
      serviceId: terms.serviceId,
      serviceVersion: 3,
      inputPrice: "5",
      outputPrice: "8",
    });
    expect(refusal({ ...honoured, versions: [{ ...inForce, outputPrice: 7n, inputPrice: 6n }] })).toBeDefined();
    // A service with no version in force: refused, without details.
    const none = refusal({ ...honoured, versions: [] });
    expect(none?.details).toBeUndefined();
  });

  it("nonce refusals carry their protocol code and the highest nonce seen", () => {
    const refusal = (w: NonceWindowState, n: bigint) => {
      try {
        useNonce(w, n);
        return "accepted";
      } catch (e) {
        expect(e).toBeInstanceOf(AdmissionError);
        const err = e as AdmissionError;
        expect(err.code).toBe(`ADMISSION_${err.protocolCode.toUpperCase()}`);
        return `${err.protocolCode} ${JSON.stringify(err.details ?? null)}`;
      }
    };
    // Nonces start at 1, even on a fresh lane.
    expect(refusal(EMPTY_NONCE_WINDOW, 0n)).toBe("nonce_out_of_range null");
    expect(refusal(EMPTY_NONCE_WINDOW, 1n)).toBe("accepted");
    const w = useNonce(useNonce(EMPTY_NONCE_WINDOW, 1000n), 999n);
    expect(refusal(w, 1000n)).toBe('nonce_used {"highestNonce":"1000"}');
    expect(refusal(w, 1000n - NONCE_WINDOW)).toBe('nonce_too_old {"highestNonce":"1000"}');
    expect(refusal(w, 1001n - NONCE_WINDOW)).toBe("accepted");
    // The jump bound is exact, and measured from the highest nonce seen.
    expect(refusal(w, 1000n + MAX_NONCE_JUMP)).toBe("accepted");
    expect(refusal(w, 1001n + MAX_NONCE_JUMP)).toBe('nonce_out_of_range {"highestNonce":"1000"}');
  });

  it("a nonce jump keeps the marks that stay inside the window and drops the rest", () => {
    let w = EMPTY_NONCE_WINDOW;
    for (const n of [1n, 2n, 5n]) w = useNonce(w, n);
    expect(w).toEqual({ highest: 5n, bitmap: 0b11001n });
    w = useNonce(w, 2n + NONCE_WINDOW - 1n); // nonce 2 is now the oldest in the window, 1 falls out
    expect(w.highest).toBe(2n + NONCE_WINDOW - 1n);
    expect(w.bitmap).toBe((1n << (NONCE_WINDOW - 1n)) | (1n << (NONCE_WINDOW - 4n)) | 1n);
    expect(() => useNonce(w, 2n)).toThrow(AdmissionError);
    expect(useNonce(w, w.highest + 2n).bitmap).toBe((1n << (NONCE_WINDOW - 2n)) | (1n << 2n) | 1n);
  });
});
