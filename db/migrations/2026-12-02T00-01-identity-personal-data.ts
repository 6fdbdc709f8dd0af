import { type Kysely, sql } from "kysely";

/**
 * Email and phone are stored sealed (AES-256-GCM, modules/kernel/pii.ts); lookups go through keyed
 * blind indexes. The plaintext checks and the unique key on the email column move to the index: a
 * sealed value is random, so only the index can say two emails are the same. Rows written before
 * this are sealed by the server at start (identity.sealPersonalData), not here: SQL has no key.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE identity_users DROP CONSTRAINT identity_users_email_check`.execute(db);
  await sql`ALTER TABLE identity_users DROP CONSTRAINT identity_users_email_key`.execute(db);
  await sql`ALTER TABLE identity_users ADD COLUMN email_index text, ADD COLUMN phone_index text`.execute(db);
  await sql`CREATE UNIQUE INDEX identity_users_email_index_key ON identity_users (email_index)`.execute(db);
  await sql`CREATE INDEX identity_users_phone_index_idx ON identity_users (phone_index) WHERE phone_index IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX identity_users_phone_index_idx`.execute(db);
  await sql`DROP INDEX identity_users_email_index_key`.execute(db);
  await sql`ALTER TABLE identity_users DROP COLUMN email_index, DROP COLUMN phone_index`.execute(db);
  await sql`ALTER TABLE identity_users ADD CONSTRAINT identity_users_email_key UNIQUE (email)`.execute(db);
}
