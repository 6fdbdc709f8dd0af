/** Structured logs (pino) and Prometheus metrics (prom-client), shared by every module. */
import pino, { type Logger } from "pino";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export type { Logger };

export function createLogger(level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: { service: "agora" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: ["password", "*.password", "token", "*.token", "headers.authorization"],
  });
}

export interface Metrics {
  registry: Registry;
  procedureDuration: Histogram<"procedure" | "type" | "outcome">;
  dbPool: Gauge<"state">;
  outboxPending: Gauge;
  outboxOldestPendingSeconds: Gauge;
  outboxDelivered: Counter<"outcome">;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    procedureDuration: new Histogram({
      name: "agora_procedure_duration_seconds",
      help: "tRPC procedure latency by procedure and outcome (ok or the error code)",
      labelNames: ["procedure", "type", "outcome"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    dbPool: new Gauge({ name: "agora_db_pool_connections", help: "Database pool connections by state", labelNames: ["state"], registers: [registry] }),
    outboxPending: new Gauge({ name: "agora_outbox_pending_events", help: "Outbox events waiting to be sent", registers: [registry] }),
    outboxOldestPendingSeconds: new Gauge({ name: "agora_outbox_lag_seconds", help: "Age of the oldest pending outbox event", registers: [registry] }),
    outboxDelivered: new Counter({
      name: "agora_outbox_deliveries_total",
      help: "Outbox delivery attempts by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    }),
  };
}
