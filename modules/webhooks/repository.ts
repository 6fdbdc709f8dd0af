import { type RawBuilder, sql } from "kysely";
import type { Db, Tx } from "../../db/index.ts";
import { compiledQuery } from "../../db/index.ts";

type Executor = Db | Tx;
export type DeliveryStatus = "pending" | "delivered" | "failed" | "dead" | "skipped";

/** Every order and shipment event's fan-out asks this: compiled once (db/compiled.ts). */
const activeForStatement = compiledQuery(
  (_db, eventType: string) => sql<{ id: number }>`
    SELECT id FROM webhook_endpoints WHERE status = 'active' AND event_types @> ARRAY[${eventType}]::text[] ORDER BY id`,
);

/**
 * Whether an active endpoint wants events of this type (a SQL condition): the outbox writes an
 * event's fan-out row only then (events.ts), judged in the producer's own transaction, so a shop
 * without endpoints writes, claims and marks no row per event for nobody. An endpoint gets the
 * events written after it is registered (or resumed), as the fan-out gives it only those.
 */
export function anEndpointWants(eventType: RawBuilder<string>): RawBuilder<boolean> {
  return sql<boolean>`EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.status = 'active' AND w.event_types @> ARRAY[${eventType}]::text[])`;
}

export const webhookRepository = {
  insertEndpoint(trx: Executor, row: { url: string; secret: string; eventTypes: string[]; description: string; createdBy: number | null; at: Date }) {
    return trx
      .insertInto("webhook_endpoints")
      .values({
        url: row.url,
        secret: row.secret,
        event_types: row.eventTypes,
        description: row.description,
        created_by: row.createdBy,
        created_at: row.at,
        updated_at: row.at,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  },

  findEndpoint(db: Executor, id: number) {
    return db.selectFrom("webhook_endpoints").selectAll().where("id", "=", id).executeTakeFirst();
  },

  setStatus(db: Executor, id: number, status: "active" | "paused", at: Date) {
    return db.updateTable("webhook_endpoints").set({ status, updated_at: at }).where("id", "=", id).returningAll().executeTakeFirst();
  },

  listEndpoints(db: Executor, filter: { status?: "active" | "paused"; beforeId?: number; limit: number }) {
    let q = db.selectFrom("webhook_endpoints").selectAll().orderBy("id", "desc").limit(filter.limit);
    if (filter.status) q = q.where("status", "=", filter.status);
    if (filter.beforeId !== undefined) q = q.where("id", "<", filter.beforeId);
    return q.execute();
  },

  /** Active endpoints that want this event type (GIN index on event_types). */
  async activeFor(trx: Executor, eventType: string): Promise<Array<{ id: number }>> {
    return (await activeForStatement(trx, eventType)).rows;
  },

  /** One delivery per (endpoint, event); those already written (a fan-out that ran twice) are not returned. */
  insertDeliveries(trx: Tx, rows: Array<{ endpointId: number; eventId: string; eventType: string; at: Date }>) {
    if (rows.length === 0) return Promise.resolve([]);
    return trx
      .insertInto("webhook_deliveries")
      .values(rows.map((r) => ({ endpoint_id: r.endpointId, event_id: r.eventId, event_type: r.eventType, created_at: r.at })))
      .onConflict((oc) => oc.constraint("webhook_deliveries_once_per_event").doNothing())
      .returning(["id", "endpoint_id"])
      .execute();
  },

  findDelivery(db: Executor, id: number) {
    return db.selectFrom("webhook_deliveries").selectAll().where("id", "=", id).executeTakeFirst();
  },

  /** One attempt's outcome. A delivery already delivered stays delivered. */
  recordAttempt(db: Executor, id: number, outcome: { status: DeliveryStatus; statusCode: number | null; error: string | null; at: Date }) {
    return db
      .updateTable("webhook_deliveries")
      .set((eb) => ({
        status: outcome.status,
        attempts: eb("attempts", "+", 1),
        last_status_code: outcome.statusCode,
        last_error: outcome.error?.slice(0, 1000) ?? null,
        last_attempt_at: outcome.at,
        delivered_at: outcome.status === "delivered" ? outcome.at : null,
      }))
      .where("id", "=", id)
      .where("status", "<>", "delivered")
      .execute();
  },

  /** Without an attempt: skipped (the endpoint was paused) or dead (the outbox gave up). */
  setDeliveryStatus(db: Executor, id: number, status: "skipped" | "dead", error: string | null) {
    return db
      .updateTable("webhook_deliveries")
      .set({ status, ...(error === null ? {} : { last_error: error.slice(0, 1000) }) })
      .where("id", "=", id)
      .where("status", "<>", "delivered")
      .execute();
  },

  listDeliveries(db: Executor, filter: { endpointId: number; status?: DeliveryStatus; beforeId?: number; limit: number }) {
    let q = db.selectFrom("webhook_deliveries").selectAll().where("endpoint_id", "=", filter.endpointId).orderBy("id", "desc").limit(filter.limit);
    if (filter.status) q = q.where("status", "=", filter.status);
    if (filter.beforeId !== undefined) q = q.where("id", "<", filter.beforeId);
    return q.execute();
  },
};

export type EndpointRow = NonNullable<Awaited<ReturnType<typeof webhookRepository.findEndpoint>>>;
export type DeliveryRow = NonNullable<Awaited<ReturnType<typeof webhookRepository.findDelivery>>>;
