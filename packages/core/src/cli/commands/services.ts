import { Option, type Command } from "commander";
import { checkHealth, filterServices, listServices, rankServices, type SortBy } from "../../discovery.js";
import { chainNow, clientFrom, output, perMillion, when, type GlobalOptions } from "../context.js";

/** `services`: the catalogue from the on-chain registry. */
export function registerServices(program: Command, globals: () => GlobalOptions): void {
  program
    .command("services")
    .description("the service catalogue from the on-chain registry, with prices per 1M tokens and measured latency")
    .option("--model <id>", "only this model")
    .addOption(new Option("--sort <key>", "order").choices(["price", "latency"]).default("price"))
    .option("--all", "include inactive providers and insecure endpoints")
    .action(async (cmd: { model?: string; sort: SortBy; all?: boolean }) => {
      const opts = globals();
      const client = await clientFrom(opts, { needKey: false });
      const services = filterServices(await listServices(client.publicClient, client.network), {
        ...(cmd.model ? { model: cmd.model } : {}),
        ...(cmd.all ? { includeInactive: true, allowInsecure: true } : {}),
      });
      const [health, now] = await Promise.all([checkHealth(services), chainNow(client)]);
      const ranked = rankServices(health, cmd.sort);
      const byId = new Map(health.map((h) => [h.service.id, h]));
      const rows = ranked.map((s) => ({ ...s, healthy: byId.get(s.id)?.healthy ?? false, latencyMs: byId.get(s.id)?.latencyMs }));
      output(opts, rows, () =>
        rows.length === 0
          ? "no services listed"
          : rows
              .map(
                (s) =>
                  `${s.model}  ${s.name}@${s.provider}\n  in ${perMillion(s.inputPrice)} / out ${perMillion(s.outputPrice)} per 1M tokens, v${s.version}, ${s.healthy ? `healthy ${Math.round(s.latencyMs ?? 0)} ms` : "unreachable"}\n  ${s.endpoint}` +
                  (s.pending
                    ? `\n  scheduled: v${s.pending.version} in ${perMillion(s.pending.inputPrice)} / out ${perMillion(s.pending.outputPrice)} from ${when(s.pending.effectiveAt, now)}`
                    : ""),
              )
              .join("\n"),
      );
    });
}
