import { type Kysely, sql } from "kysely";

/**
 * Product search matched `name ILIKE '%…%'`. In a UTF-8 database ILIKE lower-cases both sides and
 * then matches case-sensitively, so every candidate row paid a lower(name) (~2 µs): a two-word search
 * matching 800 of 100,000 names spent ~4 ms rechecking them (docs/speed/reads.md). `search_name`
 * keeps lower(name) (same collation, so `search_name LIKE lower(pattern)` is the same match as the
 * ILIKE) and the trigram index moves to it. A 1,000-entry histogram on it lets the planner see how
 * common a term is: a common one walks the newest products (cheap LIKE per row), a rare one the index.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE catalog_products ADD COLUMN search_name text GENERATED ALWAYS AS (lower(name)) STORED`.execute(db);
  await sql`ALTER TABLE catalog_products ALTER COLUMN search_name SET STATISTICS 1000`.execute(db);
  await sql`CREATE INDEX catalog_products_search_name_trgm_idx ON catalog_products USING gin (search_name gin_trgm_ops)`.execute(db);
  await sql`DROP INDEX catalog_products_name_trgm_idx`.execute(db);
  await sql`ANALYZE catalog_products`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX catalog_products_name_trgm_idx ON catalog_products USING gin (name gin_trgm_ops)`.execute(db);
  await sql`ALTER TABLE catalog_products DROP COLUMN search_name`.execute(db);
}
