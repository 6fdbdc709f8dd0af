import { uuidv7 } from "uuidv7";
import type { Tx } from "../../db/index.ts";
import { outboxRepository } from "./repository.ts";

export interface OutboxEvent {
  aggregateType: string;
  aggregateId: string | number;
  type: string;
  payload: Record<string, unknown>;
}

/**
 * Writes events in the caller's transaction, so an event exists exactly when the change it
 * announces committed. A poller sends them later; nothing here talks to the outside.
 */
export async function enqueueEvents(trx: Tx, at: Date, events: OutboxEvent[]): Promise<string[]> {
  const rows = events.map((event) => ({
    id: uuidv7(),
    aggregateType: event.aggregateType,
    aggregateId: String(event.aggregateId),
    type: event.type,
    payload: event.payload,
    at,
  }));
  await outboxRepository.insertMany(trx, rows);
  return rows.map((row) => row.id);
}
