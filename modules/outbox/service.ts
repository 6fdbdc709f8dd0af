import { uuidv7 } from "uuidv7";
import type { Tx } from "../../db/index.ts";
import { type Clock, systemClock } from "../kernel/index.ts";
import { outboxRepository, type PinnedNow } from "./repository.ts";
import { destinationsOf } from "./routes.ts";

/**
 * The instant the outbox's statements use as "now": null (the database's `now()`) with the system
 * clock, as in production; a test's ManualClock is pushed into the statements instead, so moving
 * it moves due times and leases exactly (repository.ts).
 */
export function outboxNow(clock: Clock): PinnedNow {
  return clock === systemClock ? null : clock.now();
}

export interface OutboxEvent {
  aggregateType: string;
  aggregateId: string | number;
  type: string;
  payload: Record<string, unknown>;
}

/**
 * Writes events in the caller's transaction, one row per destination (see routes.ts), so an
 * event exists exactly when the change it announces committed. The poller sends them later.
 * `at` is recorded as the event's time; it is due at once on the database's clock.
 */
export async function enqueueEvents(trx: Tx, at: Date, events: OutboxEvent[]): Promise<string[]> {
  const rows = events.flatMap((event) =>
    destinationsOf(event.type).map((destination) => ({
      id: uuidv7(),
      aggregateType: event.aggregateType,
      aggregateId: String(event.aggregateId),
      type: event.type,
      destination,
      payload: event.payload,
      at,
    })),
  );
  await outboxRepository.insertMany(trx, rows);
  return rows.map((row) => row.id);
}
