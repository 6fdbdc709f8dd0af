import { z } from "zod";
import type { Db } from "../../db/index.ts";
import type { Clock } from "../kernel/index.ts";
import { adminProcedure, noInput, pageLimitSchema, router, singleLineText } from "../kernel/index.ts";
import { outboxErrors } from "./errors.ts";
import { FAN_OUT, outboxRepository } from "./repository.ts";
import { outboxNow } from "./service.ts";

export interface DeliveryState {
  status: "pending" | "sent" | "dead";
  synced: boolean;
  attempts: number;
  lastError: string | null;
  nextRetryAt: Date | null;
  syncedAt: Date | null;
}

/** How far events of some aggregates got to one destination (e.g. each order's sync with the data platform). */
export async function deliveryStates(
  db: Db,
  aggregateType: string,
  aggregateIds: Array<string | number>,
  type: string,
  destination: string,
): Promise<Map<string, DeliveryState>> {
  const rows = await outboxRepository.forAggregate(db, aggregateType, aggregateIds.map(String), type, destination);
  const states = new Map<string, DeliveryState>();
  // An event not fanned out yet has no row for the destination: it is pending there, not yet tried.
  for (const row of rows.filter((r) => r.destination === FAN_OUT && r.status === "pending"))
    states.set(row.aggregate_id, { status: "pending", synced: false, attempts: 0, lastError: null, nextRetryAt: row.next_attempt_at, syncedAt: null });
  for (const row of rows.filter((r) => r.destination !== FAN_OUT))
    states.set(row.aggregate_id, {
      status: row.status,
      synced: row.status === "sent",
      attempts: row.attempts,
      lastError: row.last_error,
      nextRetryAt: row.status === "pending" ? row.next_attempt_at : null,
      syncedAt: row.sent_at,
    });
  return states;
}

const listInput = z
  .strictObject({
    status: z.enum(["pending", "sent", "dead"]).optional(),
    destination: singleLineText().max(50).optional(),
    type: singleLineText().max(100).optional(),
    cursor: z.uuid().optional(),
    limit: pageLimitSchema,
  })
  .default({ limit: 20 });

export function createOutboxRouter(db: Db, clock: Clock) {
  return router({
    admin: router({
      list: adminProcedure.input(listInput).query(async ({ input }) => {
        const rows = await outboxRepository.list(db, { ...input, afterId: input.cursor, limit: input.limit + 1 });
        const items = rows.slice(0, input.limit).map((row) => ({
          id: row.id,
          type: row.type,
          destination: row.destination,
          aggregateType: row.aggregate_type,
          aggregateId: row.aggregate_id,
          status: row.status,
          attempts: row.attempts,
          lastError: row.last_error,
          nextAttemptAt: row.next_attempt_at,
          createdAt: row.created_at,
          sentAt: row.sent_at,
          payload: row.payload,
        }));
        return { items, nextCursor: rows.length > input.limit ? (items.at(-1)?.id ?? null) : null };
      }),
      /** Sends a pending or dead event at the next poll; a dead one gets one more attempt. */
      retry: adminProcedure.input(z.strictObject({ eventId: z.uuid() })).mutation(async ({ input }) => {
        const retryAt = await outboxRepository.retryNow(db, input.eventId, outboxNow(clock));
        if (!retryAt) {
          const exists = await outboxRepository.find(db, input.eventId);
          if (!exists) throw outboxErrors.OUTBOX_EVENT_NOT_FOUND.create({ eventId: input.eventId });
          throw outboxErrors.OUTBOX_EVENT_NOT_RETRYABLE.create({ eventId: input.eventId, status: exists.status, leasedUntil: exists.locked_until });
        }
        return { eventId: input.eventId, retryAt };
      }),
      stats: adminProcedure.input(noInput).query(() => outboxRepository.pendingStats(db, outboxNow(clock))),
    }),
  });
}
