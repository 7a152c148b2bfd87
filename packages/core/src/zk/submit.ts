import type { Address } from "viem";
import { ProviderError } from "../wire.js";
import { zkVoucherToJson, type ZkVoucher } from "./voucher.js";

/**
 * Hand a signed ZK voucher (a cumulative checkpoint) to a provider running ZK mode. Resolves to the
 * cumulative the provider now holds for the leaf (at least this voucher's when it was accepted);
 * refusals throw a {@link ProviderError} with the provider's code (`bad_signature`, `key_not_authorized`...).
 *
 * @example
 * const v = signZkVoucher(key, { chainId, escrow: zkEscrow, provider, leafIndex }, owed);
 * await submitZkVoucher(service.endpoint, user, v);
 */
export async function submitZkVoucher(endpoint: string, user: Address, voucher: ZkVoucher, doFetch: typeof fetch = fetch): Promise<bigint> {
  const res = await doFetch(new URL("/v1/zk/vouchers", endpoint), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, voucher: zkVoucherToJson(voucher) }),
  });
  const body = (await res.json().catch(() => ({}))) as {
    cumulative?: string;
    error?: { code?: string; message?: string; details?: Record<string, unknown> };
  };
  if (!res.ok)
    throw new ProviderError(
      res.status,
      body.error?.code ?? `http_${res.status}`,
      body.error?.message ?? "ZK voucher refused",
      body.error?.details,
    );
  return BigInt(body.cumulative ?? "0");
}
