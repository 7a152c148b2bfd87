/**
 * `npm start`: a one-command local 0G Compute network.
 *
 * Starts anvil on 127.0.0.1, deploys the escrow and the registry, and walks through the payment
 * lifecycle on-chain with real transactions: a provider posts its bond and lists a service, a user
 * deposits and funds a channel, signs cumulative vouchers off-chain, the provider settles the newest
 * one in a batch, the user asks to withdraw the rest, the lock passes (chain time is advanced), and
 * the user takes the rest back. Prints a report and exits 0, stopping anvil by its PID.
 *
 * Flags: `--keep` leaves the chain running (Ctrl-C stops it) and prints how to reach it.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { formatEther, getContract, keccak256, parseEther, toHex, type Address, type Hash, type LocalAccount } from "viem";
import { escrowAbi, serviceRegistryAbi, startLocalChain, type LocalChain } from "@0g-compute/contracts";
import { escrowDomain, signTicket, toVoucher, type Terms } from "@0g-compute/core";

const keep = process.argv.includes("--keep");
const log = (line = ""): void => console.log(line);
const og = (wei: bigint): string => `${formatEther(wei)} 0G`;

async function main(): Promise<void> {
  const started = Date.now();
  log("Starting a local chain (anvil on 127.0.0.1) and deploying the contracts...");
  const chain = await startLocalChain();
  const stop = async (): Promise<void> => {
    await chain.stop();
  };
  process.once("SIGINT", () => void stop().then(() => process.exit(130)));
  process.once("SIGTERM", () => void stop().then(() => process.exit(143)));

  try {
    const report = await walkThrough(chain);
    log();
    log("Report");
    for (const [k, v] of report) log(`  ${k.padEnd(34)} ${v}`);
    log();
    log(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    if (keep) {
      const d = chain.deployment;
      log();
      log("The network keeps running (Ctrl-C to stop):");
      log(`  RPC URL     ${chain.rpcUrl}   chain id ${chain.chain.id}`);
      log(`  escrow      ${d.escrow}`);
      log(`  registry    ${d.registry}`);
      log(`  accounts    anvil's development accounts (mnemonic "test test ... junk"), never for real funds`);
      const home = process.env.ZG_HOME ?? join(homedir(), ".0g-compute");
      await mkdir(home, { recursive: true, mode: 0o700 });
      await writeFile(join(home, "devnet.json"), JSON.stringify({ rpcUrl: chain.rpcUrl, chainId: chain.chain.id, escrow: d.escrow, registry: d.registry, fromBlock: d.fromBlock.toString() }, null, 2));
      log(`  CLI         0g-compute --network devnet finds it through ${join(home, "devnet.json")}`);
      await new Promise<void>(() => undefined);
    }
  } finally {
    if (!keep) await stop();
  }
}

async function walkThrough(chain: LocalChain): Promise<[string, string][]> {
  const report: [string, string][] = [];
  const { deployment, publicClient } = chain;
  const providerWallet = chain.wallet(2);
  const userWallet = chain.wallet(1);
  const provider = providerWallet.account.address;
  const user = userWallet.account.address;
  const escrowAs = (w: typeof userWallet) => getContract({ address: deployment.escrow, abi: escrowAbi, client: { public: publicClient, wallet: w } });
  const registry = getContract({ address: deployment.registry, abi: serviceRegistryAbi, client: { public: publicClient, wallet: providerWallet } });
  let gasTotal = 0n;
  const mined = async (label: string, hash: Promise<Hash>): Promise<bigint> => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error(`${label} reverted (${receipt.transactionHash})`);
    gasTotal += receipt.gasUsed;
    log(`  ${label.padEnd(46)} gas ${String(receipt.gasUsed).padStart(7)}  tx ${receipt.transactionHash.slice(0, 18)}...`);
    return receipt.gasUsed;
  };

  report.push(["RPC", `${chain.rpcUrl} (chain id ${chain.chain.id})`]);
  report.push(["escrow / registry", `${deployment.escrow} / ${deployment.registry}`]);
  report.push(["deploy gas (escrow + registry)", `${deployment.gasUsed.escrow} + ${deployment.gasUsed.registry}`]);
  report.push(["withdrawal lock", `${deployment.params.lockSeconds} s`]);
  const walletBefore = await publicClient.getBalance({ address: user });

  log();
  log("Provider lists a service");
  const inputPrice = parseEther("0.000001"); // per input token
  const outputPrice = parseEther("0.000002"); // per output token
  await mined("provider posts its listing bond", registry.write.stake({ value: deployment.params.providerStake }));
  await mined(
    "provider registers service \"demo\"",
    registry.write.addService([{
      name: "demo",
      model: "0g-demo-model",
      modelHash: keccak256(toHex("0g-demo-model")),
      quantization: "F32",
      endpoint: "http://127.0.0.1:8080",
      inputPrice,
      outputPrice,
      signer: provider,
      metadata: JSON.stringify({ contextLength: 2048 }),
    }]),
  );
  const [service] = await registry.read.getProviderServices([provider]);
  if (!service) throw new Error("service not listed");

  log();
  log("User deposits and funds a channel to the provider");
  await mined("user deposits 1 0G and funds the channel", escrowAs(userWallet).write.depositAndFund([provider], { value: parseEther("1") }));

  log();
  log("User signs one ticket per request (off-chain, no gas); each acknowledges the fees so far");
  const domain = escrowDomain(chain.chain.id, deployment.escrow);
  const requests = [
    { input: 120n, output: 80n },
    { input: 300n, output: 210n },
    { input: 90n, output: 400n },
  ];
  let cumulative = 0n;
  let newest: Awaited<ReturnType<typeof signTicket>> | undefined;
  const deadline = (await chain.now()) + 600n;
  for (const [i, r] of requests.entries()) {
    const fee = r.input * inputPrice + r.output * outputPrice;
    cumulative += fee;
    const terms: Terms = {
      serviceId: service.id,
      serviceVersion: service.version,
      inputPrice,
      outputPrice,
      maxCost: fee,
      requestHash: keccak256(toHex(`request ${i + 1}`)),
      deadline,
    };
    newest = await signTicket(userWallet.account as LocalAccount, domain, { user, provider, nonce: BigInt(i + 1), cumulative, terms });
    log(`  ticket ${i + 1}: ${r.input} in + ${r.output} out tokens = ${og(fee)}; cumulative ${og(cumulative)}`);
  }
  if (!newest) throw new Error("no ticket");

  log();
  log("Provider settles the newest voucher (one signature covers every request)");
  const settleGas = await mined("provider settles a batch of 1 voucher", escrowAs(providerWallet).write.settle([provider, [toVoucher(newest)]]));
  const earned = await escrowAs(providerWallet).read.earnings([provider]);
  await mined("provider withdraws its earnings", escrowAs(providerWallet).write.withdrawEarnings([provider]));

  log();
  log("User takes the rest back: request, lock, execute");
  const [balance] = await escrowAs(userWallet).read.getChannel([user, provider]);
  await mined(`user requests a withdrawal of ${og(balance)}`, escrowAs(userWallet).write.requestWithdraw([provider, balance]));
  const [, , , unlockAt] = await escrowAs(userWallet).read.getChannel([user, provider]);
  log(`  unlocks at chain time ${unlockAt}; advancing the local chain's clock by the lock`);
  await chain.increaseTime(deployment.params.lockSeconds);
  await mined("user executes the withdrawal to its ledger", escrowAs(userWallet).write.executeWithdraw([provider]));
  const ledger = await escrowAs(userWallet).read.ledger([user]);
  await mined("user withdraws its ledger to its wallet", escrowAs(userWallet).write.withdrawLedger([ledger, user]));
  const walletAfter = await publicClient.getBalance({ address: user });

  report.push(["fees for 3 requests", `${og(cumulative)} (${requests.reduce((a, r) => a + r.input + r.output, 0n)} tokens)`]);
  report.push(["provider earned", og(earned)]);
  report.push(["settlement gas (1 voucher)", String(settleGas)]);
  report.push(["user refunded after the lock", og(balance)]);
  report.push(["user wallet before / after", `${og(walletBefore)} / ${og(walletAfter)}`]);
  report.push(["gas for the whole walk-through", String(gasTotal)]);
  if (earned !== cumulative) throw new Error(`provider earned ${earned}, expected ${cumulative}`);
  return report;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
