import { type Kysely, sql } from "kysely";

/**
 * Customers the operator registers, customers who leave, and their address books.
 *
 * - `must_change_password`: an account an operator registered with a temporary password; until the
 *   customer sets their own, every procedure but changing it (and me, logout) is refused.
 * - `status = 'deleted'`, `deleted_at`: the account is erased (name, email and phone replaced, sessions
 *   ended), the row stays because orders, the ledger and coupons reference it and the books need them.
 * - `customer_addresses`: recipient, phone and address sealed (kernel/pii.ts). The database holds the
 *   rules: one default per customer (partial unique index) and at most 20 entries (a slot 1..20,
 *   unique per customer: two adds racing for the last slot cannot both win).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE identity_users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false`.execute(db);
  await sql`ALTER TABLE identity_users ADD COLUMN deleted_at timestamptz`.execute(db);
  await sql`ALTER TABLE identity_users DROP CONSTRAINT identity_users_status_check`.execute(db);
  await sql`ALTER TABLE identity_users ADD CONSTRAINT identity_users_status_check CHECK (status IN ('active', 'deactivated', 'deleted'))`.execute(db);
  await sql`ALTER TABLE identity_users ADD CONSTRAINT identity_users_deleted_check CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))`.execute(db);

  await sql`
    CREATE TABLE customer_addresses (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id    bigint NOT NULL REFERENCES identity_users (id),
      slot       smallint NOT NULL CHECK (slot BETWEEN 1 AND 20),
      label      text NOT NULL CHECK (length(label) BETWEEN 1 AND 50),
      recipient  text NOT NULL,
      phone      text,
      address    text NOT NULL,
      is_default boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      CONSTRAINT customer_addresses_slot_key UNIQUE (user_id, slot)
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX customer_addresses_one_default_idx ON customer_addresses (user_id) WHERE is_default`.execute(db);
  await sql`CREATE INDEX customer_addresses_user_idx ON customer_addresses (user_id, id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE customer_addresses`.execute(db);
  await sql`ALTER TABLE identity_users DROP CONSTRAINT identity_users_deleted_check`.execute(db);
  await sql`ALTER TABLE identity_users DROP CONSTRAINT identity_users_status_check`.execute(db);
  await sql`ALTER TABLE identity_users ADD CONSTRAINT identity_users_status_check CHECK (status IN ('active', 'deactivated'))`.execute(db);
  await sql`ALTER TABLE identity_users DROP COLUMN deleted_at, DROP COLUMN must_change_password`.execute(db);
}
