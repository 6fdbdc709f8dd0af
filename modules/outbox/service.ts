import { uuidv7 } from "uuidv7";
import type { Tx } from "../../db/index.ts";
import { outboxRepository } from "./repository.ts";
import { destinationsOf } from "./routes.ts";

export interface OutboxEvent {
  aggregateType: string;
  aggregateId: string | number;
  type: string;
  payload: Record<string, unknown>;
}

/**
 * Writes events in the caller's transaction, one row per destination (see routes.ts), so an
 * event exists exactly when the change it announces committed. The poller sends them later.
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
