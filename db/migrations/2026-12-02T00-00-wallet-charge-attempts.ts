import { type Kysely, sql } from "kysely";

/**
 * Every card charge for a wallet is recorded before the gateway is called, so a process that dies
 * after the gateway approved (and before the credit committed) leaves a pending attempt that the
 * recovery worker settles by asking the gateway, instead of money captured and never credited.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE wallet_charge_attempts (
      id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id           bigint NOT NULL REFERENCES identity_users (id),
      amount            bigint NOT NULL CHECK (amount > 0),
      gateway_key       text NOT NULL UNIQUE,
      idempotency_key   text,
      status            text NOT NULL CHECK (status IN ('pending', 'credited', 'declined', 'voiding', 'voided', 'failed')),
      gateway_reference text,
      lease_until       timestamptz NOT NULL,
      recovery_attempts integer NOT NULL DEFAULT 0,
      created_at        timestamptz NOT NULL,
      updated_at        timestamptz NOT NULL,
      CHECK (status NOT IN ('credited', 'voiding', 'voided') OR gateway_reference IS NOT NULL)
    )`.execute(db);
  // The recovery worker's scan: only unsettled attempts, oldest lease first.
  await sql`CREATE INDEX wallet_charge_attempts_unsettled_idx ON wallet_charge_attempts (lease_until) WHERE status IN ('pending', 'voiding')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE wallet_charge_attempts`.execute(db);
}
