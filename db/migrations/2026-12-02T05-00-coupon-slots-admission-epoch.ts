import { type Kysely, sql } from "kysely";

/**
 * Coupons without a hot row. Each issued coupon takes a numbered slot, 1..quantity: Redis admission
 * hands the slots out, and PostgreSQL fences them with UNIQUE (coupon_id, slot) and a CHECK that the
 * slot is within the coupon's quantity. The quantity is copied into the row and tied to the coupon by
 * a foreign key on (coupon_id, coupon_quantity), so the CHECK is the database's own guard, not a
 * condition the application has to remember. Winners no longer update the coupon row; its
 * issued_quantity becomes a roll-up of the rows.
 *
 * coupon_admission_epoch: one random value per database. It is part of every Redis admission key, so
 * a re-created database (coupon ids reused) never reads the Redis state of another one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE coupon_coupons ADD CONSTRAINT coupon_coupons_id_quantity_key UNIQUE (id, total_quantity)`.execute(db);
  await sql`ALTER TABLE coupon_issued ADD COLUMN slot integer, ADD COLUMN coupon_quantity integer`.execute(db);
  // Coupons issued before slots existed take slots 1..n in issue order.
  await sql`
    UPDATE coupon_issued i
       SET slot = numbered.slot, coupon_quantity = c.total_quantity
      FROM (SELECT id, row_number() OVER (PARTITION BY coupon_id ORDER BY id)::int AS slot FROM coupon_issued) numbered,
           coupon_coupons c
     WHERE numbered.id = i.id AND c.id = i.coupon_id`.execute(db);
  await sql`
    ALTER TABLE coupon_issued
      ALTER COLUMN slot SET NOT NULL,
      ALTER COLUMN coupon_quantity SET NOT NULL,
      ADD CONSTRAINT coupon_issued_slot_within_quantity CHECK (slot BETWEEN 1 AND coupon_quantity),
      ADD CONSTRAINT coupon_issued_one_per_slot UNIQUE (coupon_id, slot),
      ADD CONSTRAINT coupon_issued_coupon_quantity_fkey FOREIGN KEY (coupon_id, coupon_quantity) REFERENCES coupon_coupons (id, total_quantity)`.execute(db);
  // The pair key above implies the plain one; checking both would lock the coupon row twice per issue.
  await sql`ALTER TABLE coupon_issued DROP CONSTRAINT IF EXISTS coupon_issued_coupon_id_fkey`.execute(db);

  await sql`
    CREATE TABLE coupon_admission_epoch (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      epoch     uuid NOT NULL DEFAULT gen_random_uuid()
    )`.execute(db);
  await sql`INSERT INTO coupon_admission_epoch DEFAULT VALUES`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE coupon_admission_epoch`.execute(db);
  await sql`ALTER TABLE coupon_issued ADD CONSTRAINT coupon_issued_coupon_id_fkey FOREIGN KEY (coupon_id) REFERENCES coupon_coupons (id)`.execute(db);
  await sql`
    ALTER TABLE coupon_issued
      DROP CONSTRAINT coupon_issued_coupon_quantity_fkey,
      DROP CONSTRAINT coupon_issued_one_per_slot,
      DROP CONSTRAINT coupon_issued_slot_within_quantity,
      DROP COLUMN slot,
      DROP COLUMN coupon_quantity`.execute(db);
  await sql`ALTER TABLE coupon_coupons DROP CONSTRAINT coupon_coupons_id_quantity_key`.execute(db);
}
