import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE identity_users (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
      password_hash text NOT NULL,
      name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      phone         text,
      role          text NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
      status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
      created_at    timestamptz NOT NULL,
      updated_at    timestamptz NOT NULL,
      CONSTRAINT identity_users_email_key UNIQUE (email)
    )`.execute(db);
  await sql`
    CREATE TABLE identity_sessions (
      token_hash text PRIMARY KEY,
      user_id    bigint NOT NULL REFERENCES identity_users (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      revoked_at timestamptz,
      ip         text
    )`.execute(db);
  await sql`CREATE INDEX identity_sessions_user_idx ON identity_sessions (user_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE identity_sessions`.execute(db);
  await sql`DROP TABLE identity_users`.execute(db);
}
