import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of a provider node (aggregates only: no per-user labels). */
export class ProviderMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "zg_provider_requests_total",
    help: "Paid requests by outcome",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly refusals = new Counter({
    name: "zg_provider_refusals_total",
    help: "Refused requests by protocol error code",
    labelNames: ["code"],
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: "zg_provider_tokens_total",
    help: "Tokens billed",
    labelNames: ["kind"],
    registers: [this.registry],
  });
  readonly billedWei = new Counter({
    name: "zg_provider_billed_wei_total",
    help: "Fees in signed receipts (wei)",
    registers: [this.registry],
  });
  readonly settledWei = new Counter({
    name: "zg_provider_settled_wei_total",
    help: "Fees paid on-chain by settlement (wei)",
    registers: [this.registry],
  });
  readonly settlements = new Counter({
    name: "zg_provider_settlements_total",
    help: "Settlement transactions by outcome",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({ name: "zg_provider_in_flight", help: "Requests being generated", registers: [this.registry] });
  readonly admissionSeconds = new Histogram({
    name: "zg_provider_admission_seconds",
    help: "Ticket verification and reservation time",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: "zg_provider_request_seconds",
    help: "Whole request time",
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
    registers: [this.registry],
  });
}
