import { type Kysely, sql } from "kysely";

/**
 * The outbox keeps up with a sale (modules/outbox/repository.ts, poller.ts):
 * - The claim asks, for every due event, "is an earlier event of this aggregate still pending
 *   for this destination?". Without an index made for that question the planner, with the
 *   statistics of a table that grew by thousands of rows in seconds, answered it by scanning
 *   every pending row per candidate (4 s per claim with 6,000 pending). The partial index makes
 *   it one probe; the due index carries the id so the claim reads in (next_attempt_at, id) order.
 * - Pollers waiting for work are woken by NOTIFY. A transaction that notifies takes a
 *   database-wide lock for its commit (PostgreSQL serializes notifying commits), so the trigger
 *   notifies only while some poller says it is waiting: during a rush the pollers are busy,
 *   no order transaction notifies, and commits stay concurrent.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX outbox_events_pending_aggregate_idx ON outbox_events (aggregate_type, aggregate_id, destination, id) WHERE status = 'pending'`.execute(
    db,
  );
  await sql`DROP INDEX outbox_events_due_idx`.execute(db);
  await sql`CREATE INDEX outbox_events_due_idx ON outbox_events (next_attempt_at, id) WHERE status = 'pending'`.execute(db);

  // A poller that found nothing to do and listens: until when it waits (a crashed one expires by itself).
  await sql`
    CREATE UNLOGGED TABLE outbox_waiting_pollers (
      owner text PRIMARY KEY,
      until timestamptz NOT NULL
    )`.execute(db);
  await sql`
    CREATE FUNCTION outbox_wake_pollers() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM outbox_waiting_pollers WHERE until > now()) THEN
        PERFORM pg_notify('agora_outbox', '');
      END IF;
      RETURN NULL;
    END
    $$`.execute(db);
  await sql`CREATE TRIGGER outbox_events_wake_pollers AFTER INSERT ON outbox_events FOR EACH STATEMENT EXECUTE FUNCTION outbox_wake_pollers()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER outbox_events_wake_pollers ON outbox_events`.execute(db);
  await sql`DROP FUNCTION outbox_wake_pollers()`.execute(db);
  await sql`DROP TABLE outbox_waiting_pollers`.execute(db);
  await sql`DROP INDEX outbox_events_due_idx`.execute(db);
  await sql`CREATE INDEX outbox_events_due_idx ON outbox_events (next_attempt_at) WHERE status = 'pending'`.execute(db);
  await sql`DROP INDEX outbox_events_pending_aggregate_idx`.execute(db);
}
