import type { Command } from "commander";
import { formatAmount } from "../../amount.js";
import { clientFrom, networkFrom, output, type GlobalOptions } from "../context.js";

/** `network`: the network in use, checked against the chain. */
export function registerNetwork(program: Command, globals: () => GlobalOptions): void {
  program
    .command("network")
    .description("show the network in use and check that its contracts answer")
    .action(async () => {
      const opts = globals();
      const net = await networkFrom(opts);
      const client = await clientFrom(opts, { needKey: false });
      await client.verifyDeployment();
      const [lock, minFund] = await Promise.all([client.escrow.read.LOCK(), client.escrow.read.MIN_FUND()]);
      const result = { ...net, lockSeconds: lock, minFund };
      output(opts, result, () =>
        [
          `network   ${net.name} (chain id ${net.chainId})`,
          `rpc       ${net.rpcUrl}`,
          `escrow    ${net.escrow}`,
          `registry  ${net.registry}`,
          `lock      ${lock} s before a channel withdrawal completes`,
          `min fund  ${formatAmount(minFund)} per channel`,
        ].join("\n"),
      );
    });
}
