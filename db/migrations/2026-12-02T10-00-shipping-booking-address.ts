import { type Kysely, sql } from "kysely";

/**
 * shipping_shipments.booking_address: the address a booking is being asked of the carrier for,
 * sealed (kernel/pii.ts), written before the call and cleared in the transaction that records its
 * outcome. A process that dies between the carrier's answer and that transaction leaves it set, so
 * the retry knows which parcel may exist (same key, same address: the carrier answers it again) and
 * cancels it if the order's address changed meanwhile, instead of leaving it booked.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE shipping_shipments ADD COLUMN booking_address text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE shipping_shipments DROP COLUMN booking_address`.execute(db);
}
