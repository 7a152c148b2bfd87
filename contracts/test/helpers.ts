// Shared helpers for the contract tests: a local chain, typed contract handles, signed vouchers.
import { getContract, parseEventLogs, type Address, type Hash, type Hex, type LocalAccount, type TransactionReceipt } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { escrowAbi, serviceRegistryAbi } from "../ts/index.js";
import { startLocalChain, type LocalChain, type LocalChainOptions, type LocalWallet } from "../ts/testing.js";
import { escrowDomain, signTicket, toVoucher, type EscrowDomain, type Terms, type Voucher } from "@0g-compute/core";

export const ZERO32 = `0x${"0".repeat(64)}` as Hex;

export interface Fixture {
  chain: LocalChain;
  domain: EscrowDomain;
  escrowAs(wallet: LocalWallet): ReturnType<typeof escrowContract>;
  registryAs(wallet: LocalWallet): ReturnType<typeof registryContract>;
  /** Wait for a transaction and fail unless it succeeded. */
  mined(hash: Promise<Hash> | Hash): Promise<TransactionReceipt>;
  /** Remember the chain's state (call at the end of `beforeAll`). */
  checkpoint(): Promise<void>;
  /** Go back to the remembered state, and remember it again (call in `beforeEach`). */
  rewind(): Promise<void>;
}

function escrowContract(chain: LocalChain, wallet: LocalWallet) {
  return getContract({
    address: chain.deployment.escrow,
    abi: escrowAbi,
    client: { public: chain.publicClient, wallet },
  });
}

function registryContract(chain: LocalChain, wallet: LocalWallet) {
  return getContract({
    address: chain.deployment.registry,
    abi: serviceRegistryAbi,
    client: { public: chain.publicClient, wallet },
  });
}

export async function setup(options: LocalChainOptions = {}): Promise<Fixture> {
  const chain = await startLocalChain(options);
  const mined = async (hash: Promise<Hash> | Hash): Promise<TransactionReceipt> => {
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
    return receipt;
  };
  let snapshot: Hex | undefined;
  const checkpoint = async () => {
    snapshot = await chain.testClient.snapshot();
  };
  return {
    chain,
    checkpoint,
    async rewind() {
      if (!snapshot) throw new Error("rewind() before checkpoint()");
      await chain.testClient.revert({ id: snapshot });
      await checkpoint();
    },
    domain: escrowDomain(chain.chain.id, chain.deployment.escrow),
    escrowAs: (wallet) => escrowContract(chain, wallet),
    registryAs: (wallet) => registryContract(chain, wallet),
    mined,
  };
}

/** Terms of a request; only their hash reaches the chain. */
export function terms(overrides: Partial<Terms> = {}): Terms {
  return {
    serviceId: `0x${"11".repeat(32)}`,
    serviceVersion: 1,
    inputPrice: 1n,
    outputPrice: 2n,
    maxCost: 1000n,
    requestHash: `0x${"22".repeat(32)}`,
    deadline: 2_000_000_000n,
    ...overrides,
  };
}

/** A voucher for `provider` signed by `signer` on behalf of `user`. */
export async function voucher(
  domain: EscrowDomain,
  signer: LocalAccount,
  args: { user?: Address; provider: Address; nonce?: bigint; cumulative: bigint; terms?: Terms },
): Promise<Voucher> {
  const signed = await signTicket(signer, domain, {
    user: args.user ?? signer.address,
    provider: args.provider,
    nonce: args.nonce ?? 1n,
    cumulative: args.cumulative,
    terms: args.terms ?? terms(),
  });
  return toVoucher(signed);
}

/** A fresh random account (not funded). */
export function randomAccount(): LocalAccount {
  return privateKeyToAccount(generatePrivateKey());
}

/** Decoded escrow events of a receipt, by name. */
export function escrowEvents(receipt: TransactionReceipt) {
  return parseEventLogs({ abi: escrowAbi, logs: receipt.logs });
}

/** Skip reasons, as the contract's enum. */
export const SkipReason = { None: 0, BadSignature: 1, NotDelegated: 2, LaneClosed: 3, NothingNew: 4, NoFunds: 5 } as const;

/** The `Skipped` and `Settled` events of a settlement receipt, in order. */
export function settlementOutcome(receipt: TransactionReceipt) {
  const events = escrowEvents(receipt);
  return {
    settled: events.filter((e) => e.eventName === "Settled").map((e) => e.args as { user: Address; provider: Address; paid: bigint }),
    skipped: events.filter((e) => e.eventName === "Skipped").map((e) => e.args as { user: Address; signer: Address; reason: number }),
    batch: events.find((e) => e.eventName === "BatchSettled")?.args as { items: bigint; paid: bigint } | undefined,
  };
}
