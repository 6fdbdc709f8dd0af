import { uuidv7 } from "uuidv7";
import type { Tx } from "../../db/index.ts";
import { type Clock, systemClock } from "../kernel/index.ts";
import type { OutboxEvent } from "./contract.ts";
import { FAN_OUT, outboxRepository, type PinnedNow, type RowCondition } from "./repository.ts";

/**
 * The instant the outbox's statements use as "now": null (the database's `now()`) with the system
 * clock, as in production; a test's ManualClock is pushed into the statements instead, so moving
 * it moves due times and leases exactly (repository.ts).
 */
export function outboxNow(clock: Clock): PinnedNow {
  return clock === systemClock ? null : clock.now();
}

/**
 * The id of an event written once (FAN_OUT): a uuidv7 with its last byte zero. Its rows per
 * destination take the same id with that byte set to the destination's number (1…255,
 * repository.ts fanOutStatement), so none of them can have the event's own id.
 */
function fanOutId(): string {
  return `${uuidv7().slice(0, 34)}00`;
}

/**
 * The function that writes one row per (event, destination) in the caller's transaction, except
 * where a destination's `writtenWhen` does not hold (one statement for all; see repository.ts).
 * `at` is recorded as the event's time; it is due at once on the database's clock. Producers go
 * through an EventPublisher (contract.ts), which picks the destinations from the subscriptions.
 * Returns the ids of the rows written.
 */
export function createRowWriter(conditions: readonly RowCondition[]) {
  const insertMany = outboxRepository.rowInserter(conditions);
  return async (trx: Tx, at: Date, rows: ReadonlyArray<{ event: OutboxEvent; destination: string }>): Promise<string[]> => {
    const newRows = rows.map(({ event, destination }) => ({
      id: destination === FAN_OUT ? fanOutId() : uuidv7(),
      aggregateType: event.aggregateType,
      aggregateId: event.aggregateId,
      type: event.type,
      destination,
      payload: event.payload,
      at,
    }));
    return insertMany(trx, newRows);
  };
}
