import { getAddress, type Address } from "viem";

/** EIP-712 domain name and version of the escrow; bumped whenever a signed type changes. */
export const ESCROW_DOMAIN_NAME = "0G Compute Escrow";
export const ESCROW_DOMAIN_VERSION = "1";

/** The EIP-712 domain every ticket, receipt and delegation is signed in. */
export interface EscrowDomain {
  name: typeof ESCROW_DOMAIN_NAME;
  version: typeof ESCROW_DOMAIN_VERSION;
  chainId: number;
  verifyingContract: Address;
}

/**
 * The signing domain for one deployment. Always build it from your own configuration (chain id from
 * your RPC, escrow address from your network preset), never from values a provider sent you.
 *
 * @example
 * const domain = escrowDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
 */
export function escrowDomain(chainId: number, escrow: Address): EscrowDomain {
  return { name: ESCROW_DOMAIN_NAME, version: ESCROW_DOMAIN_VERSION, chainId, verifyingContract: getAddress(escrow) };
}
