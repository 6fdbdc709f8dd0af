/**
 * The in-process outbox poller. Every instance of the server runs one; they share the work
 * safely: a claim is one statement with SKIP LOCKED and a lease, so no event is sent by two
 * pollers at the same time (unless a lease ran out, e.g. a poller hung past it).
 *
 * Running, it keeps up to `concurrency` events in flight, started from a local queue of claimed
 * events, and claims more (half a batch or more) as soon as there is that much room, instead of
 * sending a batch, waiting for its slowest event and only then claiming the next. While customers
 * wait (deps.busy), it sends fewer at once. Sent events are marked with that next claim, in its
 * transaction (one COMMIT for the claim and every mark since the last one). With nothing to do it waits for a NOTIFY from
 * the database (an event was inserted) or, without one, for the poll interval.
 *
 * Attempt n fails → retried after backoffMs[n-1] (the last entry repeats), ± jitter; after
 * maxAttempts the event is dead and `onDead` alerts the operators. What the event announced
 * (a paid order) stays as it is throughout. Due times and leases are on the database's clock
 * (repository.ts).
 */
import type { Db } from "../../db/index.ts";
import type { Clock, Logger, Metrics } from "../kernel/index.ts";
import { MINUTE } from "../kernel/index.ts";
import { type FanOut, outboxRepository } from "./repository.ts";
import { rushHold } from "./rush-hold.ts";
import { outboxNow } from "./service.ts";

export interface DeliverableEvent {
  id: string;
  type: string;
  destination: string;
  aggregateType: string;
  aggregateId: string;
  /** The JSON the producer wrote; a consumer reads it with the producer's contract (contract.ts). */
  payload: unknown;
  /** Attempts made before this one. */
  attempts: number;
  createdAt: Date;
}

export type OutboxHandler = (event: DeliverableEvent) => Promise<void>;

/** A failure retrying cannot fix (the receiver rejected the event as invalid): dead at once. */
export class PermanentDeliveryError extends Error {
  override name = "PermanentDeliveryError";
}

/** Subscribes to a PostgreSQL NOTIFY channel on a connection of its own; resolves to the unsubscribe. */
export type ListenForNotifications = (channel: string, onNotify: () => void) => Promise<() => Promise<void>>;

/** The channel the outbox_events insert trigger notifies (db/migrations/2026-12-02T00-20-outbox-delivery.ts). */
const OUTBOX_CHANNEL = "agora_outbox";

export interface OutboxPollerConfig {
  /** The most events one claim takes. */
  batchSize: number;
  /** With nothing to do and no NOTIFY: how long until the poller looks again. */
  pollIntervalMs: number;
  leaseMs: number;
  /** Wait after the 1st, 2nd, … failed attempt; the last entry repeats. */
  backoffMs: number[];
  maxAttempts: number;
  /** 0.1 = each wait varies by up to ±10 %, so retries of a burst do not arrive together. */
  jitterRatio: number;
  /** Events being sent at the same time. */
  concurrency: number;
  /** Events being sent at the same time while `busy()` says customers are waiting (deps.busy). */
  concurrencyUnderLoad: number;
  /**
   * How long, from a rush's start, the poller claims and sends nothing while customers wait (0:
   * never); after it, `concurrencyUnderLoad` at once, so a rush that lasts still moves the backlog.
   */
  holdUnderLoadMs: number;
  /** The longest a sent event waits for a claim to carry its "sent" mark before it is written on its own. */
  markDelayMs: number;
}

const defaultOutboxPollerConfig: OutboxPollerConfig = {
  batchSize: 50,
  pollIntervalMs: 1_000,
  leaseMs: 60_000,
  backoffMs: [5 * MINUTE, 15 * MINUTE],
  maxAttempts: 3,
  jitterRatio: 0.1,
  concurrency: 32,
  // One: under a rush the backlog still moves, and deliveries take the least of the customers' CPU (docs/benchmarks.md, stop 28).
  concurrencyUnderLoad: 1,
  // A sale's burst (order-rush-spread: 2,000 orders in under a second) gets the whole machine, and its
  // events leave within seconds: +5 % orders a second over nine pairs against one delivery at a time (docs/benchmarks.md, stop 30).
  holdUnderLoadMs: 2_000,
  markDelayMs: 50,
};

/** Busy moments at most this far apart belong to one rush (rushHold): held back once, however busy flickers. */
const RUSH_GAP_MS = 500;
/**
 * How often a running poller notes whether customers are waiting, so a rush's busy moments are seen
 * closer than RUSH_GAP_MS even while the poller itself waits (a slow send, the poll interval): a long
 * rush is then one rush, not a new hold after every pause of the poller's own.
 */
const RUSH_SAMPLE_MS = 100;
/** While holding back, how often the poller looks whether the customers are gone or the hold is over. */
const HOLD_CHECK_MS = 25;

export interface OutboxPollerDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics | null;
  /** One per destination (the subscriptions wired in apps/server/compose.ts). */
  handlers: Readonly<Record<string, OutboxHandler>>;
  onDead?: (event: DeliverableEvent, error: string) => Promise<void>;
  config?: Partial<OutboxPollerConfig>;
  /** Distinguishes this poller's leases from other instances'. */
  instanceId?: string;
  random?: () => number;
  /** LISTEN on a dedicated connection: wakes the poller when events arrive. Without it, the interval. */
  listen?: ListenForNotifications;
  /**
   * True while customers' requests are waiting (a rush): for the rush's first `holdUnderLoadMs` the
   * poller sends nothing, then at most `concurrencyUnderLoad` events at once, and it catches up when
   * the rush is over, so deliveries do not take the CPU a sale's customers are waiting for. Asked
   * before each claim and send, and every RUSH_SAMPLE_MS.
   */
  busy?: () => boolean;
  /** Writes the rows of events written once (EventPublisher.fanOut), before each claim. Without it, such events wait for a poller that has it. */
  fanOut?: FanOut;
}

export interface PollResult {
  claimed: number;
  sent: number;
  retried: number;
  dead: number;
}

export type OutboxPoller = ReturnType<typeof createOutboxPoller>;

function retryDelayMs(config: Pick<OutboxPollerConfig, "backoffMs" | "jitterRatio">, failedAttempts: number, random: () => number): number {
  const base = config.backoffMs[Math.min(failedAttempts, config.backoffMs.length) - 1] ?? 0;
  return Math.max(0, Math.round(base * (1 + config.jitterRatio * (2 * random() - 1))));
}

type ClaimedRow = Awaited<ReturnType<typeof outboxRepository.markSentAndClaimDue>>[number];

function toDeliverable(row: ClaimedRow): DeliverableEvent {
  return {
    id: row.id,
    type: row.type,
    destination: row.destination,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    payload: row.payload,
    attempts: row.attempts,
    createdAt: row.created_at,
  };
}

export function createOutboxPoller(deps: OutboxPollerDeps) {
  const { db, clock, logger, metrics, handlers, onDead, listen, random = Math.random, busy = () => false, fanOut = null } = deps;
  const config = { ...defaultOutboxPollerConfig, ...deps.config };
  const owner = deps.instanceId ?? `poller-${crypto.randomUUID().slice(0, 8)}`;
  const served = Object.keys(handlers);
  const now = () => outboxNow(clock);

  /**
   * Events sent whose "sent" mark is not written yet. The mark rides with the next claim (one
   * transaction and one COMMIT for both, repository.markSentAndClaimDue), which the loop makes as
   * soon as room frees up; a claim that does not come within `markDelayMs` (the loop waiting for
   * room behind slow sends, runOnce, stop) leaves it to a mark of its own. Until it is written the
   * event stays leased to this poller: nobody else sends it, and the next event of its aggregate
   * waits, as it waited for the mark before.
   */
  let unmarked: string[] = [];
  let markTimer: ReturnType<typeof setTimeout> | null = null;
  let marking: Promise<void> = Promise.resolve();
  function takeUnmarked(): string[] {
    if (markTimer) clearTimeout(markTimer);
    markTimer = null;
    const ids = unmarked;
    unmarked = [];
    return ids;
  }
  function scheduleFlush(): void {
    if (markTimer || unmarked.length === 0) return;
    markTimer = setTimeout(() => {
      markTimer = null;
      void flushMarks();
    }, config.markDelayMs);
  }
  /** A mark that failed is tried again on its own after a pause, not left to claims that may keep failing. */
  function retryMarksLater(): void {
    if (markTimer || unmarked.length === 0) return;
    markTimer = setTimeout(
      () => {
        markTimer = null;
        if (!stopping) void flushMarks();
      },
      Math.max(config.markDelayMs, 1_000),
    );
    markTimer.unref?.();
  }
  function noteSent(id: string): void {
    unmarked.push(id);
    scheduleFlush();
  }
  /** Writes every pending mark now (one statement); resolves once it is written or given back. */
  function flushMarks(): Promise<void> {
    const run = marking.then(async () => {
      const ids = takeUnmarked();
      if (ids.length === 0) return;
      try {
        await outboxRepository.markSent(db, ids, owner, now());
        metrics?.outboxDelivered.inc({ outcome: "sent" }, ids.length);
      } catch (error) {
        // Kept for the next claim; if none comes (stopping), the leases run out and the events are sent again.
        logger.error({ err: error, events: ids.length }, "outbox: could not mark sent events");
        unmarked = [...ids, ...unmarked];
        retryMarksLater();
      }
    });
    marking = run;
    return run;
  }

  async function deliver(event: DeliverableEvent, result: PollResult): Promise<void> {
    const handler = handlers[event.destination];
    try {
      if (!handler) throw new PermanentDeliveryError(`no handler for destination ${event.destination}`);
      await handler(event);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const failedAttempts = event.attempts + 1;
      const dead = error instanceof PermanentDeliveryError || failedAttempts >= config.maxAttempts;
      const retryInMs = dead ? 0 : retryDelayMs(config, failedAttempts, random);
      await outboxRepository.markFailed(db, event.id, owner, message, retryInMs, dead, now());
      metrics?.outboxDelivered.inc({ outcome: dead ? "dead" : "retry" });
      if (dead) {
        result.dead++;
        logger.error({ eventId: event.id, type: event.type, destination: event.destination, attempts: failedAttempts, error: message }, "outbox event is dead");
        await onDead?.(event, message).catch((alertError) => logger.error({ err: alertError, eventId: event.id }, "could not alert operators"));
      } else {
        result.retried++;
        logger.warn(
          { eventId: event.id, type: event.type, destination: event.destination, attempts: failedAttempts, retryInMs, error: message },
          "outbox delivery failed; will retry",
        );
      }
      return;
    }
    noteSent(event.id);
    result.sent++;
  }

  /** Claims up to `limit` events, writing the pending sent marks in the same transaction. */
  async function claim(limit: number): Promise<DeliverableEvent[]> {
    if ((served.length === 0 || limit <= 0) && unmarked.length === 0) return [];
    await marking;
    const ids = takeUnmarked();
    try {
      const rows = await outboxRepository.markSentAndClaimDue(db, ids, now(), config.leaseMs, owner, limit, served, fanOut);
      if (ids.length > 0) metrics?.outboxDelivered.inc({ outcome: "sent" }, ids.length);
      return rows.map(toDeliverable);
    } catch (error) {
      // The leases still hold the events; their marks are written on their own, not after a claim that
      // may keep failing (past the lease, another poller would send them again).
      unmarked = [...ids, ...unmarked];
      void flushMarks();
      throw error;
    }
  }

  let lastStatsAt = 0;
  async function reportLag(force: boolean): Promise<void> {
    if (!metrics || (!force && performance.now() - lastStatsAt < 5_000)) return;
    lastStatsAt = performance.now();
    const stats = await outboxRepository.pendingStats(db, now());
    metrics.outboxPending.set(stats.pending);
    metrics.outboxOldestPendingSeconds.set(stats.oldestSeconds);
  }

  let stopping = false;
  let loop: Promise<void> | null = null;
  /** Resolves the running loop's current wait (a NOTIFY, a delivery that freed room, stop). */
  let wake: (() => void) | null = null;
  /** A nudge that came while the loop was not waiting (e.g. during a claim): the next wait ends at once. */
  let nudged = false;
  const nudge = () => {
    const resolve = wake;
    wake = null;
    if (resolve) resolve();
    else nudged = true;
  };
  function waitForNudge(ms: number): Promise<void> {
    if (nudged) {
      nudged = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(nudge, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** One claim, every claimed event delivered (`concurrency` at a time); for tests and tools. */
  async function runOnce(): Promise<PollResult> {
    const result: PollResult = { claimed: 0, sent: 0, retried: 0, dead: 0 };
    const queue = await claim(config.batchSize);
    result.claimed = queue.length;
    const workers = Array.from({ length: Math.min(config.concurrency, queue.length) }, async () => {
      for (let event = queue.shift(); event; event = queue.shift()) {
        // Stopping: what is not started yet goes back at once instead of waiting out its lease.
        if (stopping) await outboxRepository.release(db, event.id, owner);
        else await deliver(event, result);
      }
    });
    await Promise.all(workers);
    await flushMarks();
    await reportLag(true);
    return result;
  }

  /**
   * Keeps up to `concurrency` events in flight until stopped (`concurrencyUnderLoad` while busy).
   * A claim takes a batch (half of `batchSize` or more) into a local queue, from which sends start
   * as others finish: claiming a few at a time as sends finished one by one cost the database
   * ~1.7 × more per event (scripts/bench/outbox-probe.ts; docs/benchmarks.md, After stop 25).
   */
  async function run(): Promise<void> {
    const result: PollResult = { claimed: 0, sent: 0, retried: 0, dead: 0 };
    const inFlight = new Set<Promise<void>>();
    /** Claimed (leased to this poller) and not started yet, oldest first, with when they were claimed. */
    const claimedAhead: Array<{ event: DeliverableEvent; claimedAt: number }> = [];
    const heldByRush = rushHold(config.holdUnderLoadMs, RUSH_GAP_MS);
    /** Busy, and within `holdUnderLoadMs` of the rush's start: no send starts and no claim begins. */
    const holdingBack = () => busy() && heldByRush(performance.now());
    const rushSampler =
      config.holdUnderLoadMs > 0
        ? setInterval(() => {
            if (busy()) heldByRush(performance.now());
          }, RUSH_SAMPLE_MS)
        : null;
    rushSampler?.unref?.();
    const sendingAtOnce = () => {
      if (!busy()) return config.concurrency;
      return heldByRush(performance.now()) ? 0 : Math.min(config.concurrency, config.concurrencyUnderLoad);
    };
    const claimAt = Math.max(1, Math.ceil(config.batchSize / 2));
    const room = () => sendingAtOnce() + config.batchSize - inFlight.size - claimedAhead.length;
    const startSends = () => {
      while (!stopping && inFlight.size < sendingAtOnce()) {
        const next = claimedAhead.shift();
        if (!next) return;
        // Waited in the queue for half its lease (sends stuck on a slow destination): not sent late.
        // Given back while the lease still holds; past it there is nothing to give back, and a
        // release (by owner) could clear a newer lease this poller took on the event since.
        const waitedMs = performance.now() - next.claimedAt;
        if (waitedMs > config.leaseMs / 2) {
          if (waitedMs < config.leaseMs)
            void outboxRepository
              .release(db, next.event.id, owner)
              .catch((error) => logger.warn({ err: error, eventId: next.event.id }, "outbox: could not give back an event"));
          continue;
        }
        const delivery = deliver(next.event, result)
          // Only recording the outcome can fail here (the database is away): the lease brings the event back.
          .catch((error) => logger.error({ err: error, eventId: next.event.id }, "outbox: could not record a delivery"))
          .finally(() => {
            inFlight.delete(delivery);
            startSends();
            if (room() >= claimAt || inFlight.size === 0) nudge();
          });
        inFlight.add(delivery);
      }
    };
    let unsubscribe: (() => Promise<void>) | null = null;
    if (listen) {
      try {
        unsubscribe = await listen(OUTBOX_CHANNEL, nudge);
      } catch (error) {
        logger.warn({ err: error }, "outbox: LISTEN failed; polling every interval instead");
      }
    }
    const waitingFor = config.pollIntervalMs * 2 + 5_000;
    let waiting = false;
    let waitingSince = 0;
    while (!stopping) {
      if (holdingBack()) {
        await Bun.sleep(HOLD_CHECK_MS);
        continue;
      }
      const asked = Math.max(0, Math.min(room(), config.batchSize));
      let claimed = 0;
      nudged = false;
      try {
        const events = await claim(asked);
        claimed = events.length;
        const claimedAt = performance.now();
        // An event claimed again (its lease ran out while it waited here): the new claim replaces the stale copy.
        const again = new Set(events.map((event) => event.id));
        const kept = claimedAhead.filter((queued) => !again.has(queued.event.id));
        claimedAhead.splice(0, claimedAhead.length, ...kept);
        for (const event of events) claimedAhead.push({ event, claimedAt });
        startSends();
        if (claimed > 0 && waiting) {
          waiting = false;
          await outboxRepository.markBusy(db, owner);
        }
        await reportLag(false);
      } catch (error) {
        logger.error({ err: error }, "outbox poll failed");
      }
      if (stopping) break;
      // A full claim and room left: more may be due at once.
      if (claimed > 0 && claimed === asked && room() >= claimAt) continue;
      if (inFlight.size === 0 && claimed === 0 && unsubscribe && (!waiting || performance.now() - waitingSince > config.pollIntervalMs)) {
        // Idle: ask inserts to notify (again, before the registration runs out); after a first
        // registration look once more, so an event committed just before it is not missed.
        const first = !waiting;
        try {
          await outboxRepository.markWaiting(db, owner, waitingFor);
          waiting = true;
          waitingSince = performance.now();
          if (first) continue;
        } catch (error) {
          logger.error({ err: error }, "outbox: could not register as waiting");
        }
      }
      await waitForNudge(config.pollIntervalMs);
    }
    if (rushSampler) clearInterval(rushSampler);
    // Stopped: what was claimed and not started goes back at once instead of waiting out its lease.
    for (const { event } of claimedAhead.splice(0)) await outboxRepository.release(db, event.id, owner).catch(() => {});
    await Promise.all(inFlight);
    await flushMarks();
    if (waiting) await outboxRepository.markBusy(db, owner).catch(() => {});
    await unsubscribe?.().catch((error) => logger.warn({ err: error }, "outbox: UNLISTEN failed"));
  }

  return {
    owner,
    config,
    runOnce,
    /** The plan of this poller's claim (EXPLAIN; nothing is claimed): for tests and tools. */
    claimPlan: (): Promise<string[]> => outboxRepository.claimPlan(db, now(), config.batchSize, served),
    /** Polls until stopped. */
    start(): void {
      if (loop) return;
      stopping = false;
      loop = run().catch((error) => logger.error({ err: error }, "outbox poller stopped on an error"));
    },
    /** Finishes the events in flight, then returns. */
    async stop(): Promise<void> {
      stopping = true;
      nudge();
      await loop;
      loop = null;
    },
  };
}
