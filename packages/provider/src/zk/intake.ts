import { Hono } from "hono";
import { getAddress, type Address, type Chain, type PublicClient, type Transport } from "viem";
import { z } from "zod";
import { zkEscrowAbi } from "@0g-compute/contracts";
import { protocolErrorBody } from "@0g-compute/core";
import { hash2, verifyZkVoucher, zkVoucherFromJson, zkVoucherToJson, type ZkVoucher } from "@0g-compute/core/zk";
import type { ProviderStore } from "../store.js";

/** Path of the endpoint through which users hand ZK-mode vouchers (checkpoints) to the provider. */
export const ZK_VOUCHER_PATH = "/v1/zk/vouchers";

const decimal = z.string().regex(/^\d{1,78}$/);
/** Body of `POST /v1/zk/vouchers`: the payer's address and the voucher as `zkVoucherToJson` writes it. */
export const zkVoucherSubmissionSchema = z.strictObject({
  user: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  voucher: z.strictObject({
    leafIndex: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
    cumulative: decimal,
    publicKey: z.tuple([decimal, decimal]),
    signature: z.strictObject({ R8: z.tuple([decimal, decimal]), S: decimal }),
  }),
});

/** What {@link zkVoucherIntake} needs. */
export interface ZkIntakeOptions {
  store: ProviderStore;
  publicClient: PublicClient<Transport, Chain>;
  chainId: number;
  /** The `ZkEscrow` deployment. */
  escrow: Address;
  provider: Address;
}

/**
 * `POST /v1/zk/vouchers`: a user hands the provider a signed cumulative ZK voucher. It is kept only if
 * its EdDSA signature is valid for this chain, escrow and provider, its key and leaf are the ones the
 * user bound on-chain (so nobody can overwrite another user's voucher), and it raises the leaf's
 * cumulative. Refusals are OpenAI-style errors with the protocol's codes.
 *
 * @example
 * app.route("/", zkVoucherIntake({ store, publicClient, chainId, escrow: zkEscrow, provider }));
 */
export function zkVoucherIntake(options: ZkIntakeOptions): Hono {
  const app = new Hono();
  app.post(ZK_VOUCHER_PATH, async (c) => {
    let body: z.infer<typeof zkVoucherSubmissionSchema>;
    try {
      body = zkVoucherSubmissionSchema.parse(await c.req.json());
    } catch (err) {
      return c.json(protocolErrorBody("invalid_request", `not a ZK voucher submission: ${(err as Error).message.slice(0, 300)}`), 400);
    }
    const voucher: ZkVoucher = zkVoucherFromJson(body.voucher);
    if (!verifyZkVoucher(voucher, { chainId: options.chainId, escrow: options.escrow, provider: options.provider })) {
      return c.json(
        protocolErrorBody("bad_signature", "the ZK voucher's signature does not verify for this chain, escrow and provider"),
        401,
      );
    }
    const channel = await options.publicClient.readContract({
      address: options.escrow,
      abi: zkEscrowAbi,
      functionName: "getZkChannel",
      args: [getAddress(body.user), options.provider],
    });
    if (
      channel.keyHash === 0n ||
      channel.keyHash !== hash2(voucher.publicKey[0], voucher.publicKey[1]) ||
      channel.leafIndex !== voucher.leafIndex
    ) {
      return c.json(protocolErrorBody("key_not_authorized", "the voucher's key and leaf are not the ones this user bound on-chain"), 401);
    }
    const held = options.store.putZkVoucher(voucher.leafIndex, voucher.cumulative, JSON.stringify(zkVoucherToJson(voucher)));
    return c.json({ ok: held === voucher.cumulative, leafIndex: voucher.leafIndex, cumulative: held.toString() });
  });
  return app;
}

/** The vouchers the intake kept, for the ZK settler (`vouchers: () => storedZkVouchers(store)`). */
export function storedZkVouchers(store: ProviderStore): ZkVoucher[] {
  return store.zkVoucherJson().map((j) => zkVoucherFromJson(JSON.parse(j) as Parameters<typeof zkVoucherFromJson>[0]));
}
