import { type Kysely, sql } from "kysely";

/**
 * Sales waiting to be rolled up into sales_daily. An order's transaction only appends here (new
 * rows, contended by nobody); the roll-up (modules/sales) moves them into the aggregate outside
 * any order, so a flash-sale product's sales_daily row is no longer a second hot row every buyer
 * queues on. Signed: a cancellation appends the negative of the sale it takes back.
 * No foreign key to the product: it would share-lock the hot product row once more per order;
 * sales_daily's own key checks it when the row is rolled up.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE sales_pending (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      day           date NOT NULL,
      product_id    bigint NOT NULL,
      sold_quantity integer NOT NULL CHECK (sold_quantity <> 0),
      order_count   integer NOT NULL CHECK (order_count IN (-1, 1))
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE sales_pending`.execute(db);
}
