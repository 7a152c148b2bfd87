// POST /v1/ack: an ack-only ticket carries the client's verified cumulative, so the provider holds a
// voucher for its last answers too. Accepted only for a lane the node served, never above what it billed.
import type { Hono } from "hono";
import type { Address } from "viem";
import { AdmissionError, checkTicket, unixSeconds } from "@0g-compute/core";
import type { ProviderContext } from "./context.js";
import { clientAddress, readTicket } from "./read-request.js";
import type { Refusals } from "./refusals.js";

/** Serves `POST /v1/ack` on `app`. */
export function ackRoute(app: Hono, ctx: ProviderContext, refusals: Refusals): void {
  const clock = ctx.clock ?? (() => unixSeconds());
  app.post("/v1/ack", async (c) => {
    const address = clientAddress(c);
    let signer: Address | undefined;
    try {
      refusals.checkAddress(address);
      const ticket = readTicket(c);
      const checked = await checkTicket({ domain: ctx.domain, ticket, provider: ctx.provider, now: clock() });
      signer = checked.signer;
      refusals.takeAck(signer);
      if (!checked.ackOnly)
        throw new AdmissionError("bad_ticket", "an acknowledgement carries an ack-only ticket (maxCost 0, requestHash 0)");
      const admitted = ctx.store.acknowledge({ ticket, signer: checked.signer, digest: checked.digest, now: Date.now() });
      await admitted.committed;
      return c.json({ ok: true, acked: admitted.lane.acked.toString() });
    } catch (err) {
      return refusals.answer(c, err, address, signer);
    }
  });
}
