// The escrow's high-s check, isolated. A compact (EIP-2098) signature keeps s in 255 bits, so the twin
// of an ordinary signature (s -> n - s, parity flipped) usually cannot even be written down, and a test
// built from one passes whether or not the check exists. Here s is chosen at the curve order's half:
// the low form s = (n - 1) / 2 and its twin (n + 1) / 2 both fit in 255 bits, and without the check
// the twin would recover the same signer. The signer is whoever that signature recovers to (no one holds
// its key), made a session key of the user's channel so its vouchers are payable.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { recoverAddress, toHex, type Hex } from "viem";
import { hashTerms, ticketDigest, type Voucher } from "@0g-compute/core";
import type { LocalWallet } from "../ts/testing.js";
import { SkipReason, setup, settlementOutcome, terms, type Fixture } from "./helpers.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF = N / 2n; // the largest s the contract accepts
/** The secp256k1 generator's x coordinate: a valid r. */
const GX = 0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n;
const word = (x: bigint) => toHex(x, { size: 32 });

describe("Escrow voucher signatures: malleability", () => {
  let f: Fixture;
  let user: LocalWallet;
  let provider: LocalWallet;

  beforeAll(async () => {
    f = await setup({ params: { minFund: 0n } });
    user = f.chain.wallet(1);
    provider = f.chain.wallet(2);
    await f.mined(f.escrowAs(user).write.depositAndFund([provider.account.address], { value: 1000n }));
  });
  afterAll(async () => {
    await f?.chain.stop();
  });

  it("refuses the high-s twin of a valid signature, and pays the low-s original", async () => {
    const ticket = { user: user.account.address, provider: provider.account.address, nonce: 1n, cumulative: 100n, terms: terms() };
    const digest = ticketDigest(f.domain, ticket);
    const low = { r: word(GX), s: word(HALF), yParity: 0 };
    const signer = await recoverAddress({ hash: digest, signature: low });
    // The same point with s -> n - s and the other parity: a second valid ECDSA signature by `signer`.
    const high = { r: word(GX), s: word(N - HALF), yParity: 1 };
    expect(await recoverAddress({ hash: digest, signature: high })).toBe(signer);
    expect(N - HALF).toBeLessThan(1n << 255n); // representable in compact form
    await f.mined(
      f.escrowAs(user).write.authorizeKey([provider.account.address, signer, 1000n, BigInt(Math.floor(Date.now() / 1000)) + 10n ** 6n]),
    );

    const compact = (sig: { r: Hex; s: Hex; yParity: number }): Voucher => ({
      user: ticket.user,
      nonce: ticket.nonce,
      cumulative: ticket.cumulative,
      termsHash: hashTerms(ticket.terms),
      r: sig.r,
      vs: word((BigInt(sig.yParity) << 255n) | BigInt(sig.s)),
    });
    const twin = settlementOutcome(await f.mined(f.escrowAs(provider).write.settle([provider.account.address, [compact(high)]])));
    expect(twin.settled).toEqual([]);
    expect(twin.skipped.map((s) => s.reason)).toEqual([SkipReason.BadSignature]);
    const original = settlementOutcome(await f.mined(f.escrowAs(provider).write.settle([provider.account.address, [compact(low)]])));
    expect(original.settled.map((s) => s.paid)).toEqual([100n]);
  });
});
