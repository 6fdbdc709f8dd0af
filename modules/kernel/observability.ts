/** Structured logs (pino) and Prometheus metrics (prom-client), shared by every module. */
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export type { Logger };

/** JSON lines; `pretty`: readable lines for a developer's terminal (pino-pretty, in-process). */
export function createLogger(level = "info", options: { pretty?: boolean } = {}): Logger {
  const settings = {
    level,
    base: { service: "agora" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: ["password", "*.password", "token", "*.token", "headers.authorization"],
  };
  if (!options.pretty) return pino(settings);
  return pino(settings, pretty({ colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname,service" }));
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

/**
 * Says that a dependency went away once, not once per failed statement: the first failure is a
 * warning, further ones are counted and summed up at most every `quietMs`, and the first success
 * after an outage says how long it lasted.
 */
export interface OutageLog {
  lost(error: unknown): void;
  connected(): void;
  isDown(): boolean;
}

export function createOutageLog(logger: Logger, dependency: string, quietMs = 30_000, settleMs = 2_000): OutageLog {
  let downSince: number | null = null;
  let failures = 0;
  let lastWarning = 0;
  // A new connection is not yet a recovery: the other connections of a terminated pool fail one by
  // one after it. The outage is over once a connection has stood for `settleMs` with no new loss.
  let settling: ReturnType<typeof setTimeout> | null = null;
  const describe = (error: unknown) => {
    const e = error as { code?: unknown; message?: unknown };
    return { code: typeof e?.code === "string" ? e.code : undefined, message: typeof e?.message === "string" ? e.message : String(error) };
  };
  return {
    lost(error) {
      const now = Date.now();
      failures++;
      if (settling) clearTimeout(settling);
      settling = null;
      if (downSince === null) {
        downSince = now;
        lastWarning = now;
        logger.warn(
          { dependency, error: describe(error) },
          `${dependency}: connection lost or refused; requests that need it answer SERVICE_UNAVAILABLE until it is back`,
        );
      } else if (now - lastWarning >= quietMs) {
        lastWarning = now;
        logger.warn({ dependency, failures, downForMs: now - downSince, error: describe(error) }, `${dependency}: still unavailable`);
      }
    },
    connected() {
      if (downSince === null || settling) return;
      settling = setTimeout(() => {
        settling = null;
        if (downSince === null) return;
        logger.info({ dependency, failures, downForMs: Date.now() - downSince }, `${dependency}: connected again`);
        downSince = null;
        failures = 0;
      }, settleMs);
      settling.unref?.();
    },
    isDown: () => downSince !== null,
  };
}
