import { sql } from "kysely";
import type { Db, Tx } from "../../db/index.ts";

type Executor = Db | Tx;

export interface NewOutboxRow {
  id: string;
  aggregateType: string;
  aggregateId: string;
  type: string;
  destination: string;
  payload: unknown;
  at: Date;
}

export const outboxRepository = {
  async insertMany(trx: Tx, rows: NewOutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    await trx
      .insertInto("outbox_events")
      .values(
        rows.map((row) => ({
          id: row.id,
          aggregate_type: row.aggregateType,
          aggregate_id: row.aggregateId,
          type: row.type,
          destination: row.destination,
          payload: JSON.stringify(row.payload),
          status: "pending" as const,
          next_attempt_at: row.at,
          created_at: row.at,
        })),
      )
      .execute();
  },

  /**
   * Claims due events in ONE statement: rows locked by a concurrent claim are skipped (SKIP LOCKED),
   * and the lease (locked_until) keeps other pollers off them until it ends. A poller that dies
   * mid-batch simply lets its leases run out; its events are then claimed again.
   * Per aggregate and destination, events go out in order: one waits while an earlier one is
   * still pending (being sent, or waiting to be retried), so "delivered" never overtakes "shipped".
   */
  claimDue(db: Db, now: Date, leaseUntil: Date, owner: string, limit: number, destinations: string[]) {
    return db
      .updateTable("outbox_events")
      .set({ locked_until: leaseUntil, locked_by: owner })
      .where("id", "in", (eb) =>
        eb
          .selectFrom("outbox_events")
          .select("id")
          .where("status", "=", "pending")
          .where("destination", "in", destinations)
          .where("next_attempt_at", "<=", now)
          .where((w) => w.or([w("locked_until", "is", null), w("locked_until", "<=", now)]))
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(
                selectFrom("outbox_events as earlier")
                  .select("earlier.id")
                  .whereRef("earlier.aggregate_type", "=", "outbox_events.aggregate_type")
                  .whereRef("earlier.aggregate_id", "=", "outbox_events.aggregate_id")
                  .whereRef("earlier.destination", "=", "outbox_events.destination")
                  .where("earlier.status", "=", "pending")
                  .whereRef("earlier.id", "<", "outbox_events.id"),
              ),
            ),
          )
          .orderBy("next_attempt_at")
          .orderBy("id")
          .limit(limit)
          .forUpdate()
          .skipLocked(),
      )
      .returning(["id", "aggregate_type", "aggregate_id", "type", "destination", "payload", "attempts", "created_at"])
      .execute();
  },

  async markSent(db: Db, id: string, owner: string, at: Date): Promise<void> {
    await db
      .updateTable("outbox_events")
      .set((eb) => ({ status: "sent", sent_at: at, attempts: eb("attempts", "+", 1), locked_until: null, locked_by: null, last_error: null }))
      .where("id", "=", id)
      .where("locked_by", "=", owner)
      .execute();
  },

  /** Records a failed attempt: retried at `nextAttemptAt`, or dead when `dead`. */
  async markFailed(db: Db, id: string, owner: string, error: string, nextAttemptAt: Date, dead: boolean): Promise<void> {
    await db
      .updateTable("outbox_events")
      .set((eb) => ({
        status: dead ? "dead" : "pending",
        attempts: eb("attempts", "+", 1),
        last_error: error.slice(0, 1000),
        next_attempt_at: nextAttemptAt,
        locked_until: null,
        locked_by: null,
      }))
      .where("id", "=", id)
      .where("locked_by", "=", owner)
      .execute();
  },

  /** Gives an event back without counting an attempt (the poller was stopped before sending it). */
  async release(db: Db, id: string, owner: string): Promise<void> {
    await db.updateTable("outbox_events").set({ locked_until: null, locked_by: null }).where("id", "=", id).where("locked_by", "=", owner).execute();
  },

  list(
    db: Executor,
    filter: { status?: "pending" | "sent" | "dead"; destination?: string; type?: string; aggregateId?: string; afterId?: string; limit: number },
  ) {
    let q = db.selectFrom("outbox_events").selectAll().orderBy("id").limit(filter.limit);
    if (filter.status) q = q.where("status", "=", filter.status);
    if (filter.destination) q = q.where("destination", "=", filter.destination);
    if (filter.type) q = q.where("type", "=", filter.type);
    if (filter.aggregateId) q = q.where("aggregate_id", "=", filter.aggregateId);
    if (filter.afterId) q = q.where("id", ">", filter.afterId);
    return q.execute();
  },

  find(db: Executor, id: string) {
    return db.selectFrom("outbox_events").selectAll().where("id", "=", id).executeTakeFirst();
  },

  forAggregate(db: Executor, aggregateType: string, aggregateIds: string[], type: string, destination: string) {
    if (aggregateIds.length === 0) return Promise.resolve([]);
    return db
      .selectFrom("outbox_events")
      .select(["aggregate_id", "status", "attempts", "last_error", "next_attempt_at", "sent_at"])
      .where("aggregate_type", "=", aggregateType)
      .where("aggregate_id", "in", aggregateIds)
      .where("type", "=", type)
      .where("destination", "=", destination)
      .execute();
  },

  /** Due now, unless it is sent or a poller holds a live lease on it (being sent this moment). */
  async retryNow(db: Db, id: string, now: Date): Promise<boolean> {
    const result = await db
      .updateTable("outbox_events")
      .set({ status: "pending", next_attempt_at: now })
      .where("id", "=", id)
      .where("status", "in", ["pending", "dead"])
      .where((w) => w.or([w("locked_until", "is", null), w("locked_until", "<=", now)]))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  },

  /** Pending count and the age of the oldest pending event, for the lag metric. */
  async pendingStats(db: Db, now: Date): Promise<{ pending: number; oldestSeconds: number }> {
    const row = await db
      .selectFrom("outbox_events")
      .select([sql<number>`count(*)::int8`.as("pending"), sql<Date | null>`min(created_at)`.as("oldest")])
      .where("status", "=", "pending")
      .executeTakeFirstOrThrow();
    return { pending: Number(row.pending), oldestSeconds: row.oldest ? Math.max(0, (now.getTime() - new Date(row.oldest).getTime()) / 1000) : 0 };
  },
};
