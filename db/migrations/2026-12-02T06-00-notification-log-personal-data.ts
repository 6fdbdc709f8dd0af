import { type Kysely, sql } from "kysely";

/**
 * The notification log holds personal data: the recipient (an email or a phone number) and texts
 * that name the customer. They are stored sealed (modules/kernel/pii.ts) from now on, and the
 * de-duplication key (one message per event, channel, recipient and template) moves from the
 * plaintext recipient to its keyed blind index: a sealed value is random, so only the index can say
 * two recipients are the same. Rows logged before this keep their plaintext, with no index, until the
 * server seals them at start (notifications.resealPersonalData, before the outbox poller runs), or
 * `bun run pii:reencrypt`: SQL has no key.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE notification_messages ADD COLUMN recipient_index text`.execute(db);
  await sql`DROP INDEX notification_messages_source_idx`.execute(db);
  await sql`
    CREATE UNIQUE INDEX notification_messages_source_idx
      ON notification_messages (source_event_id, channel, recipient_index, template) WHERE source_event_id IS NOT NULL`.execute(db);
  // What the start-up pass looks for: empty once sealed, so every later start finds nothing at once.
  await sql`CREATE INDEX notification_messages_unsealed_idx ON notification_messages (id) WHERE recipient_index IS NULL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX notification_messages_unsealed_idx`.execute(db);
  await sql`DROP INDEX notification_messages_source_idx`.execute(db);
  await sql`ALTER TABLE notification_messages DROP COLUMN recipient_index`.execute(db);
  // Sealed recipients are all distinct texts: the old key only holds again once they are opened (no SQL can).
  await sql`
    CREATE UNIQUE INDEX notification_messages_source_idx
      ON notification_messages (source_event_id, channel, recipient, template) WHERE source_event_id IS NOT NULL`.execute(db);
}
