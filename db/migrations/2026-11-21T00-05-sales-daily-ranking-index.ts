import { type Kysely, sql } from "kysely";

/**
 * Each day's products ranked by units sold: popular products read the top of each day in the
 * window instead of aggregating every product-day (see modules/sales/repository.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX sales_daily_ranking_idx ON sales_daily (day, sold_quantity DESC, product_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX sales_daily_ranking_idx`.execute(db);
}
