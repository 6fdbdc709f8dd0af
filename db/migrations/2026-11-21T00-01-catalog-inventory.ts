import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // Trigram index: substring search on product names stays an index scan at 100k+ products.
  await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);
  await sql`
    CREATE TABLE catalog_products (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      category    text NOT NULL CHECK (length(category) BETWEEN 1 AND 50),
      price       bigint NOT NULL CHECK (price >= 0),
      description text NOT NULL DEFAULT '',
      status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'hidden', 'deleted')),
      created_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX catalog_products_name_trgm_idx ON catalog_products USING gin (name gin_trgm_ops)`.execute(db);
  await sql`CREATE INDEX catalog_products_category_idx ON catalog_products (category, id)`.execute(db);
  await sql`CREATE INDEX catalog_products_price_idx ON catalog_products (price, id)`.execute(db);
  await sql`CREATE INDEX catalog_products_created_idx ON catalog_products (created_at, id)`.execute(db);

  // One stock row a product, apart from the product row: the hot row a flash sale updates stays small.
  await sql`
    CREATE TABLE inventory_stock (
      product_id          bigint PRIMARY KEY REFERENCES catalog_products (id) ON DELETE CASCADE,
      quantity            integer NOT NULL CHECK (quantity >= 0),
      low_stock_threshold integer NOT NULL DEFAULT 10 CHECK (low_stock_threshold >= 0),
      updated_at          timestamptz NOT NULL
    )`.execute(db);
  await sql`
    CREATE TABLE inventory_movements (
      id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      product_id      bigint NOT NULL REFERENCES catalog_products (id) ON DELETE CASCADE,
      kind            text NOT NULL CHECK (kind IN ('inbound', 'outbound', 'adjustment', 'sale', 'release')),
      quantity_change integer NOT NULL,
      quantity_after  integer NOT NULL CHECK (quantity_after >= 0),
      reason          text,
      actor_id        bigint REFERENCES identity_users (id),
      order_id        bigint,
      created_at      timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX inventory_movements_product_idx ON inventory_movements (product_id, id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE inventory_movements`.execute(db);
  await sql`DROP TABLE inventory_stock`.execute(db);
  await sql`DROP TABLE catalog_products`.execute(db);
}
