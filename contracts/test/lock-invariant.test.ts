// The withdrawal lock, by behaviour rather than by function names: every state-changing function of the
// ABI (whatever it is called, including any added later) is called from every role with plausible
// arguments, at two moments (during the lock and after it), each call from the same rich state. After each
// call, `LOCK` is unchanged and every unlock time is as specified: only a user's own withdrawal request
// sets its channel's unlock time, to exactly `block.timestamp + LOCK` (a request always restarts the
// lock); only the user's own cancel or executed withdrawal clears it; nothing else, by anyone, touches it.
// Run on the plain Escrow (voucher mode) and on a ZkEscrow (both modes; a stand-in verifier accepts every
// proof, so settlement can be called without proving).
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { encodeFunctionData, type Abi, type AbiFunction, type AbiParameter, type Address, type LocalAccount } from "viem";
import { compactSignature, escrowDomain, signDelegation, type Voucher } from "@0g-compute/core";
import { hash2, ZkChannelTree } from "@0g-compute/core/zk";
import { escrowAbi, zkEscrowAbi } from "../ts/index.js";
import { startLocalChain, type LocalChain, type LocalWallet } from "../ts/testing.js";
import { randomAccount, voucher } from "./helpers.js";
import { setupStandInZk } from "./zk-helpers.js";

const LOCK = 3600n;
const SHAPE = { batchSize: 2, queueSlots: 2, depth: 4 };
const ZK_KEYS = { user: [11n, 12n], stranger: [21n, 22n] } as const;

/** Functions that change a lock, and how (the specification under test). Everything else must not. */
const SETS_VOUCHER_LOCK = new Set(["requestWithdraw"]);
const CLEARS_VOUCHER_LOCK = new Set(["cancelWithdraw", "executeWithdraw"]);
const SETS_ZK_LOCK = new Set(["zkRequestWithdraw"]);
const CLEARS_ZK_LOCK = new Set(["zkCancelWithdraw", "zkExecuteWithdraw"]);

interface Roles {
  user: LocalWallet;
  provider: LocalWallet;
  stranger: LocalWallet;
  key: LocalWallet;
  zkProvider: LocalWallet;
}

interface World {
  chain: LocalChain;
  escrow: Address;
  abi: Abi;
  zk: boolean;
  roles: Roles;
  /** Plausible argument lists for `fn` called by `caller` (empty: use generic ones). */
  plausible(fn: AbiFunction, caller: LocalWallet): Promise<{ args: unknown[]; value?: bigint }[]>;
}

type Snapshot = { lock: bigint; voucher: Map<string, bigint>; zk: Map<string, bigint> };

const pair = (u: Address, p: Address) => `${u}/${p}`;

async function observe(w: World): Promise<Snapshot> {
  const { chain, escrow, abi } = w;
  const read = (functionName: string, args: unknown[] = []) =>
    chain.publicClient.readContract({ address: escrow, abi, functionName, args } as never) as Promise<unknown>;
  const people = Object.values(w.roles).map((r) => r.account.address);
  const providers = [w.roles.provider.account.address, w.roles.zkProvider.account.address];
  const voucher = new Map<string, bigint>();
  const zk = new Map<string, bigint>();
  const reads: Promise<void>[] = [];
  for (const u of people) {
    for (const p of providers) {
      reads.push((read("getChannel", [u, p]) as Promise<readonly bigint[]>).then((c) => void voucher.set(pair(u, p), c[3]!)));
      if (w.zk)
        reads.push((read("getZkChannel", [u, p]) as Promise<{ unlockAt: bigint }>).then((c) => void zk.set(pair(u, p), c.unlockAt)));
    }
  }
  await Promise.all(reads);
  return { lock: (await read("LOCK")) as bigint, voucher, zk };
}

/** Generic arguments for any input type, built from the roles' addresses and a few numbers. */
function genericValue(p: AbiParameter, variant: number, roles: Roles): unknown {
  const type = p.type;
  const array = /^(.*)\[(\d*)\]$/.exec(type);
  if (array) {
    const inner = { ...p, type: array[1]! } as AbiParameter;
    const n = array[2] === "" ? 1 : Number(array[2]);
    return Array.from({ length: n }, () => genericValue(inner, variant, roles));
  }
  if (type === "tuple")
    return Object.fromEntries(
      (p as { components: readonly AbiParameter[] }).components.map((c) => [c.name, genericValue(c, variant, roles)]),
    );
  if (type === "address") return [roles.provider, roles.user, roles.zkProvider][variant % 3]!.account.address;
  if (type === "bool") return variant % 2 === 0;
  if (type.startsWith("uint")) return [1n, 1000n, 10n ** 6n][variant % 3]!;
  if (type.startsWith("int")) return 1n;
  if (type === "bytes") return "0x";
  if (type.startsWith("bytes")) return `0x${"00".repeat(Number(type.slice(5)))}`;
  if (type === "string") return "x";
  throw new Error(`no generic value for ${type}`);
}

/** Call every state-changing function from every role; check the lock after each; return which succeeded. */
async function walk(w: World, succeeded: Set<string>): Promise<void> {
  const { chain, escrow, abi, roles } = w;
  const fns = abi.filter((x): x is AbiFunction => x.type === "function" && x.stateMutability !== "view" && x.stateMutability !== "pure");
  expect(fns.length).toBeGreaterThan(10);
  const base = await observe(w);
  let snapshot = await chain.testClient.snapshot();
  for (const fn of fns) {
    for (const caller of Object.values(roles)) {
      const plausible = await w.plausible(fn, caller);
      const calls: { args: unknown[]; value?: bigint }[] =
        plausible.length > 0 ? plausible : [0, 1, 2].map((v) => ({ args: fn.inputs.map((p) => genericValue(p, v, roles)) }));
      for (const call of calls) {
        await chain.testClient.revert({ id: snapshot });
        snapshot = await chain.testClient.snapshot();
        const data = encodeFunctionData({ abi, functionName: fn.name, args: call.args } as never);
        let ok = true;
        try {
          await chain.publicClient.call({ account: caller.account, to: escrow, data, value: call.value ?? 0n });
        } catch {
          ok = false; // refused: a reverted call changes nothing, and is not sent
        }
        let timestamp = 0n;
        if (ok) {
          const hash = await caller.sendTransaction({ to: escrow, data, value: call.value ?? 0n, gas: 5_000_000n });
          const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
          expect(receipt.status).toBe("success");
          timestamp = (await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
          succeeded.add(fn.name);
        }
        const after = await observe(w);
        const what = `${fn.name}(${call.args.map(String).join(", ")}) from ${Object.entries(roles).find(([, r]) => r === caller)![0]}`;
        expect({ what, lock: after.lock }).toEqual({ what, lock: base.lock });
        const target = typeof call.args[0] === "string" ? pair(caller.account.address, call.args[0] as Address) : "";
        const expected = (key: string, before: bigint, sets: Set<string>, clears: Set<string>): bigint => {
          if (!ok || key !== target) return before;
          if (sets.has(fn.name)) return timestamp + base.lock;
          if (clears.has(fn.name)) return 0n;
          return before;
        };
        for (const [key, before] of base.voucher) {
          expect({ what, channel: key, unlockAt: after.voucher.get(key) }).toEqual({
            what,
            channel: key,
            unlockAt: expected(key, before, SETS_VOUCHER_LOCK, CLEARS_VOUCHER_LOCK),
          });
        }
        for (const [key, before] of base.zk) {
          expect({ what, zkChannel: key, unlockAt: after.zk.get(key) }).toEqual({
            what,
            zkChannel: key,
            unlockAt: expected(key, before, SETS_ZK_LOCK, CLEARS_ZK_LOCK),
          });
        }
      }
    }
  }
  await chain.testClient.revert({ id: snapshot });
}

/** The shared voucher-mode state: channels with pending withdrawals, a session key, earnings. */
async function voucherState(chain: LocalChain, escrow: Address, abi: Abi, roles: Roles) {
  const send = async (from: LocalWallet, functionName: string, args: unknown[], value = 0n) => {
    const hash = await from.writeContract({ address: escrow, abi, functionName, args, value, chain: chain.chain } as never);
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`${functionName} reverted`);
  };
  const P = roles.provider.account.address;
  const domain = escrowDomain(chain.chain.id, escrow);
  await send(roles.user, "depositAndFund", [P], 10_000n);
  await send(roles.user, "deposit", [], 10_000n);
  await send(roles.stranger, "depositAndFund", [P], 10_000n);
  const validUntil = (await chain.now()) + 10n * LOCK;
  await send(roles.user, "authorizeKey", [P, roles.key.account.address, 5_000n, validUntil]);
  // Earnings for the provider, so that its withdrawal succeeds.
  const paid = await voucher(domain, roles.user.account as LocalAccount, { provider: P, cumulative: 100n });
  await send(roles.provider, "settle", [P, [paid]]);
  await send(roles.user, "requestWithdraw", [P, 4_000n]);
  await send(roles.stranger, "requestWithdraw", [P, 3_000n]);
  const newer: Voucher = await voucher(domain, roles.user.account as LocalAccount, { provider: P, nonce: 2n, cumulative: 300n });
  const byKey: Voucher = await voucher(domain, roles.key.account as LocalAccount, {
    user: roles.user.account.address,
    provider: P,
    cumulative: 200n,
  });
  return { send, domain, vouchers: [newer, byKey], validUntil };
}

/** Plausible arguments of the voucher-mode functions (shared by both contracts). */
async function voucherPlausible(
  w: Omit<World, "plausible">,
  fn: AbiFunction,
  caller: LocalWallet,
  extra: { vouchers: Voucher[]; domain: ReturnType<typeof escrowDomain> },
) {
  const { roles, chain, escrow, abi } = w;
  const P = roles.provider.account.address;
  const me = caller.account.address;
  const later = (await chain.now()) + 100n * LOCK;
  const nonce = (await chain.publicClient.readContract({
    address: escrow,
    abi,
    functionName: "delegationNonce",
    args: [roles.user.account.address],
  } as never)) as bigint;
  switch (fn.name) {
    case "deposit":
      return [{ args: [], value: 500n }];
    case "withdrawLedger":
      return [{ args: [1n, me] }];
    case "fund":
      return [{ args: [P, 500n] }];
    case "depositAndFund":
      return [{ args: [P], value: 500n }];
    case "requestWithdraw":
      return [{ args: [P, 1n] }, { args: [P, 5_000n] }];
    case "cancelWithdraw":
    case "executeWithdraw":
      return [{ args: [P] }];
    case "authorizeKey":
      return [{ args: [P, randomAccount().address, 100n, later] }, { args: [P, roles.key.account.address, 6_000n, later] }];
    case "authorizeKeyWithSig": {
      const d = { user: roles.user.account.address, provider: P, key: randomAccount().address, cap: 100n, validUntil: later, nonce };
      const { r, vs } = compactSignature((await signDelegation(roles.user.account as LocalAccount, extra.domain, d)).signature);
      return [{ args: [d, r, vs] }];
    }
    case "revokeKey":
      return [{ args: [P, roles.key.account.address] }];
    case "settle":
      return [{ args: [P, extra.vouchers] }];
    case "withdrawEarnings":
      return [{ args: [me] }];
    default:
      return [];
  }
}

describe.each([
  { label: "Escrow", zk: false },
  { label: "ZkEscrow", zk: true },
])("$label: the lock, whatever function anyone calls", ({ zk }) => {
  let w: World;
  let stop: () => Promise<void>;
  const succeeded = new Set<string>();

  beforeAll(async () => {
    let chain: LocalChain;
    let escrow: Address;
    let abi: Abi;
    if (zk) {
      const f = await setupStandInZk({ lockSeconds: LOCK, minFund: 100n, shape: SHAPE });
      chain = f.chain;
      escrow = f.zk.escrow;
      abi = zkEscrowAbi as Abi;
      stop = f.stop;
    } else {
      chain = await startLocalChain({ params: { lockSeconds: LOCK, minFund: 100n } });
      escrow = chain.deployment.escrow;
      abi = escrowAbi as Abi;
      stop = () => chain.stop();
    }
    const roles: Roles = {
      user: chain.wallet(1),
      provider: chain.wallet(2),
      stranger: chain.wallet(3),
      key: chain.wallet(4),
      zkProvider: chain.wallet(5),
    };
    const v = await voucherState(chain, escrow, abi, roles);
    const ZP = roles.zkProvider.account.address;
    const tree = new ZkChannelTree(SHAPE.depth);
    const leaves = new Map<Address, number>();
    if (zk) {
      // ZK channels of the user and the stranger to another provider, in the tree, with pending
      // withdrawals; then a deposit of the stranger's that no proof consumes (the provider freezes after
      // the lock, so that deposit reclaims work in the second phase).
      for (const [who, [ax, ay]] of [
        [roles.user, ZK_KEYS.user],
        [roles.stranger, ZK_KEYS.stranger],
      ] as const) {
        await v.send(who, "openZkChannel", [ZP, ax, ay]);
        await v.send(who, "zkDeposit", [ZP], 1_000n);
        const leafIndex = Number(
          (
            (await chain.publicClient.readContract({
              address: escrow,
              abi,
              functionName: "getZkChannel",
              args: [who.account.address, ZP],
            } as never)) as { leafIndex: number }
          ).leafIndex,
        );
        leaves.set(who.account.address, leafIndex);
        tree.set(leafIndex, { keyHash: hash2(ax, ay), funded: 1_000n, paid: 0n });
      }
      await v.send(roles.provider, "settleZk", [ZP, tree.root, 1n, 0n, "0x", [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]]);
      await v.send(roles.user, "zkRequestWithdraw", [ZP, 300n]);
      await v.send(roles.stranger, "zkRequestWithdraw", [ZP, 200n]);
      await v.send(roles.stranger, "zkDeposit", [ZP], 500n);
    }
    const base = { chain, escrow, abi, zk, roles };
    w = {
      ...base,
      async plausible(fn, caller) {
        const common = await voucherPlausible(base, fn, caller, v);
        if (common.length > 0) return common;
        const me = caller.account.address;
        const leafIndex = leaves.get(me) ?? 0;
        const { leaf, siblings } = tree.proof(leafIndex);
        switch (fn.name) {
          case "openZkChannel":
            return [{ args: [ZP, 31n, 32n] }, { args: [roles.provider.account.address, 33n, 34n] }];
          case "zkDeposit":
            return [{ args: [ZP], value: 100n }];
          case "zkFund":
            return [{ args: [ZP, 100n] }];
          case "settleZk":
            return [{ args: [ZP, tree.root, 0n, 0n, "0x", [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]] }];
          case "claimZkEarnings":
          case "zkCancelWithdraw":
          case "zkReclaimDeposit":
            return fn.inputs.length === 0 ? [{ args: [] }] : [{ args: [ZP] }];
          case "zkRequestWithdraw":
            return [{ args: [ZP, 1n] }, { args: [ZP, 900n] }];
          case "zkExecuteWithdraw":
            return [{ args: [ZP, leaf.funded, leaf.paid, siblings] }];
          default:
            return [];
        }
      },
    };
  }, 120_000);
  afterAll(async () => {
    await stop?.();
  });

  it("during the lock: no call by anyone moves LOCK or an unlock time, except the owner's request (restarted) and cancel", async () => {
    await w.chain.increaseTime(LOCK / 2n);
    await walk(w, succeeded);
  });

  it("after the lock: likewise, and the owner's executed withdrawal clears it", async () => {
    await w.chain.increaseTime(LOCK);
    await walk(w, succeeded);
    // The walk really exercised the contract: every function it has plausible arguments for succeeded
    // at least once (a stale argument list would make this test vacuous).
    const all = w.abi
      .filter((x): x is AbiFunction => x.type === "function" && x.stateMutability !== "view" && x.stateMutability !== "pure")
      .map((f) => f.name);
    expect(all.filter((n) => !succeeded.has(n))).toEqual([]);
  });
});
