/**
 * The in-process outbox poller. Every instance of the server runs one; they share the work
 * safely: a claim is one statement with SKIP LOCKED and a lease, so no event is sent by two
 * pollers at the same time (unless a lease ran out, e.g. a poller hung past it).
 *
 * Attempt n fails → retried after backoffMs[n-1] (the last entry repeats), ± jitter; after
 * maxAttempts the event is dead and `onDead` alerts the operators. What the event announced
 * (a paid order) stays as it is throughout.
 */
import type { Db } from "../../db/index.ts";
import type { Clock, Logger, Metrics } from "../kernel/index.ts";
import { MINUTE } from "../kernel/index.ts";
import { outboxRepository } from "./repository.ts";
import type { Destination } from "./routes.ts";

export interface DeliverableEvent {
  id: string;
  type: string;
  destination: string;
  aggregateType: string;
  aggregateId: string;
  payload: Record<string, unknown>;
  /** Attempts made before this one. */
  attempts: number;
  createdAt: Date;
}

export type OutboxHandler = (event: DeliverableEvent) => Promise<void>;

/** A failure retrying cannot fix (the receiver rejected the event as invalid): dead at once. */
export class PermanentDeliveryError extends Error {
  override name = "PermanentDeliveryError";
}

export interface OutboxPollerConfig {
  batchSize: number;
  pollIntervalMs: number;
  leaseMs: number;
  /** Wait after the 1st, 2nd, … failed attempt; the last entry repeats. */
  backoffMs: number[];
  maxAttempts: number;
  /** 0.1 = each wait varies by up to ±10 %, so retries of a burst do not arrive together. */
  jitterRatio: number;
  /** Events of one batch sent at the same time. */
  concurrency: number;
}

export const defaultOutboxPollerConfig: OutboxPollerConfig = {
  batchSize: 50,
  pollIntervalMs: 1_000,
  leaseMs: 60_000,
  backoffMs: [5 * MINUTE, 15 * MINUTE],
  maxAttempts: 3,
  jitterRatio: 0.1,
  concurrency: 8,
};

export interface OutboxPollerDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics | null;
  handlers: Partial<Record<Destination, OutboxHandler>>;
  onDead?: (event: DeliverableEvent, error: string) => Promise<void>;
  config?: Partial<OutboxPollerConfig>;
  /** Distinguishes this poller's leases from other instances'. */
  instanceId?: string;
  random?: () => number;
}

export interface PollResult {
  claimed: number;
  sent: number;
  retried: number;
  dead: number;
}

export type OutboxPoller = ReturnType<typeof createOutboxPoller>;

export function retryDelayMs(config: Pick<OutboxPollerConfig, "backoffMs" | "jitterRatio">, failedAttempts: number, random: () => number): number {
  const base = config.backoffMs[Math.min(failedAttempts, config.backoffMs.length) - 1] ?? 0;
  return Math.max(0, Math.round(base * (1 + config.jitterRatio * (2 * random() - 1))));
}

export function createOutboxPoller(deps: OutboxPollerDeps) {
  const { db, clock, logger, metrics, handlers, onDead, random = Math.random } = deps;
  const config = { ...defaultOutboxPollerConfig, ...deps.config };
  const owner = deps.instanceId ?? `poller-${crypto.randomUUID().slice(0, 8)}`;
  const served = Object.keys(handlers) as Destination[];

  async function deliver(event: DeliverableEvent, result: PollResult): Promise<void> {
    const handler = handlers[event.destination as Destination];
    try {
      if (!handler) throw new PermanentDeliveryError(`no handler for destination ${event.destination}`);
      await handler(event);
      await outboxRepository.markSent(db, event.id, owner, clock.now());
      result.sent++;
      metrics?.outboxDelivered.inc({ outcome: "sent" });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const failedAttempts = event.attempts + 1;
      const dead = error instanceof PermanentDeliveryError || failedAttempts >= config.maxAttempts;
      const next = new Date(clock.now().getTime() + (dead ? 0 : retryDelayMs(config, failedAttempts, random)));
      await outboxRepository.markFailed(db, event.id, owner, message, next, dead);
      metrics?.outboxDelivered.inc({ outcome: dead ? "dead" : "retry" });
      if (dead) {
        result.dead++;
        logger.error({ eventId: event.id, type: event.type, destination: event.destination, attempts: failedAttempts, error: message }, "outbox event is dead");
        await onDead?.(event, message).catch((alertError) => logger.error({ err: alertError, eventId: event.id }, "could not alert operators"));
      } else {
        result.retried++;
        logger.warn(
          { eventId: event.id, type: event.type, destination: event.destination, attempts: failedAttempts, nextAttemptAt: next, error: message },
          "outbox delivery failed; will retry",
        );
      }
    }
  }

  let stopping = false;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;

  async function runOnce(): Promise<PollResult> {
    const result: PollResult = { claimed: 0, sent: 0, retried: 0, dead: 0 };
    if (served.length === 0) return result;
    const now = clock.now();
    const rows = await outboxRepository.claimDue(db, now, new Date(now.getTime() + config.leaseMs), owner, config.batchSize, served);
    result.claimed = rows.length;
    const queue = rows.map((row) => ({
      id: row.id,
      type: row.type,
      destination: row.destination,
      aggregateType: row.aggregate_type,
      aggregateId: row.aggregate_id,
      payload: row.payload as Record<string, unknown>,
      attempts: row.attempts,
      createdAt: row.created_at,
    }));
    const workers = Array.from({ length: Math.min(config.concurrency, queue.length) }, async () => {
      for (let event = queue.shift(); event; event = queue.shift()) {
        // Stopping: what is not started yet goes back at once instead of waiting out its lease.
        if (stopping) await outboxRepository.release(db, event.id, owner);
        else await deliver(event, result);
      }
    });
    await Promise.all(workers);
    if (metrics) {
      const stats = await outboxRepository.pendingStats(db, clock.now());
      metrics.outboxPending.set(stats.pending);
      metrics.outboxOldestPendingSeconds.set(stats.oldestSeconds);
    }
    return result;
  }

  return {
    owner,
    config,
    runOnce,
    /** Polls until stopped; a full batch is followed at once by the next. */
    start(): void {
      if (loop) return;
      stopping = false;
      loop = (async () => {
        while (!stopping) {
          let full = false;
          try {
            full = (await runOnce()).claimed >= config.batchSize;
          } catch (error) {
            logger.error({ err: error }, "outbox poll failed");
          }
          if (!full && !stopping) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, config.pollIntervalMs);
            });
            wake = null;
          }
        }
      })();
    },
    /** Finishes the batch in flight (events not yet started are released), then returns. */
    async stop(): Promise<void> {
      stopping = true;
      wake?.();
      await loop;
      loop = null;
    },
  };
}
