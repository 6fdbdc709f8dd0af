import { type Kysely, type RawBuilder, sql } from "kysely";

/**
 * An event with several destinations may be written once, as one row for the destination
 * 'fan-out', and its rows per destination written by the poller later, in its claim's transaction
 * (modules/outbox/repository.ts, fanOutStatement): a paid order then writes one outbox row
 * instead of three or four while the customers wait. The due index the claim walks leaves those
 * rows out, so a sale's backlog of them is never read past; they have a due index of their own.
 * The new index is built before the old one goes, so the claim always has one.
 *
 * The insert trigger no longer notifies from a poller's claim (it sets agora.outbox_quiet): the
 * fan-out's insert runs in every claim, rows or none, and a statement trigger fires either way, so
 * a waiting poller's own claim would wake it again at once, in a loop. It claims what it fanned out
 * itself; other pollers are woken by the producers' inserts, as before.
 */

/** The insert trigger's function: notifies while some poller waits, and `also` holds. */
async function wakePollersWhen(db: Kysely<unknown>, also: RawBuilder<boolean>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION outbox_wake_pollers() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF ${also} AND EXISTS (SELECT 1 FROM outbox_waiting_pollers WHERE until > now()) THEN
        PERFORM pg_notify('agora_outbox', '');
      END IF;
      RETURN NULL;
    END
    $$`.execute(db);
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await wakePollersWhen(db, sql`current_setting('agora.outbox_quiet', true) IS DISTINCT FROM 'on'`);
  await sql`CREATE INDEX outbox_events_due_direct_idx ON outbox_events (next_attempt_at, id) WHERE status = 'pending' AND destination <> 'fan-out'`.execute(db);
  await sql`DROP INDEX outbox_events_due_idx`.execute(db);
  await sql`ALTER INDEX outbox_events_due_direct_idx RENAME TO outbox_events_due_idx`.execute(db);
  await sql`CREATE INDEX outbox_events_fan_out_due_idx ON outbox_events (next_attempt_at, id) WHERE status = 'pending' AND destination = 'fan-out'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await wakePollersWhen(db, sql`true`);
  await sql`DROP INDEX outbox_events_fan_out_due_idx`.execute(db);
  await sql`CREATE INDEX outbox_events_due_all_idx ON outbox_events (next_attempt_at, id) WHERE status = 'pending'`.execute(db);
  await sql`DROP INDEX outbox_events_due_idx`.execute(db);
  await sql`ALTER INDEX outbox_events_due_all_idx RENAME TO outbox_events_due_idx`.execute(db);
}
