import { type RawBuilder, type Selectable, sql } from "kysely";
import type { CatalogProductsTable, Db, StockMovementKind, Tx } from "../../db/index.ts";
import { compiledQuery, LockRank, noteLock, pgConstraint, pgErrorCode } from "../../db/index.ts";
import type { BrowseFilter } from "./schema.ts";

type Executor = Db | Tx;
export type ProductRow = Omit<Selectable<CatalogProductsTable>, "search_name"> & { stock: number };

export interface SortCursor {
  id: number;
  price?: number;
}

const productColumns = ["p.id", "p.name", "p.category", "p.price", "p.description", "p.status", "p.created_at", "p.updated_at"] as const;

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function selectProducts(db: Executor) {
  return db
    .selectFrom("catalog_products as p")
    .leftJoin("inventory_stock as s", "s.product_id", "p.id")
    .select([...productColumns, (eb) => eb.fn.coalesce("s.quantity", eb.lit(0)).as("stock")]);
}

interface BrowseValues {
  statuses: string[];
  category: string | null;
  minPrice: number | null;
  maxPrice: number | null;
  pattern: string | null;
  limit: number;
}

/** The page (chosen from the products alone), then only its rows joined to their stock. */
function browsePage(v: BrowseValues, keyset: RawBuilder<unknown>, order: RawBuilder<unknown>) {
  return sql<ProductRow>`
    WITH page AS (
      SELECT p.id, p.name, p.category, p.price, p.description, p.status, p.created_at, p.updated_at
        FROM catalog_products p
       WHERE p.status = ANY(${v.statuses}::text[])
         AND (${v.category}::text IS NULL OR p.category = ${v.category}::text)
         AND (${v.minPrice}::int8 IS NULL OR p.price >= ${v.minPrice}::int8)
         AND (${v.maxPrice}::int8 IS NULL OR p.price <= ${v.maxPrice}::int8)
         AND (${v.pattern}::text IS NULL OR p.search_name LIKE lower(${v.pattern}::text))
         AND ${keyset}
       ORDER BY ${order}
       LIMIT ${v.limit}::int8
    )
    SELECT p.id, p.name, p.category, p.price, p.description, p.status, p.created_at, p.updated_at, coalesce(s.quantity, 0) AS stock
      FROM page p LEFT JOIN inventory_stock s ON s.product_id = p.id`;
}

/**
 * The browse statements, one per sort, built by Kysely once (db/compiled.ts) and left unnamed:
 * PostgreSQL plans every call with its values, so a filter that is not given (`$n IS NULL OR …`)
 * folds away and the plan is the one a statement with only the given filters would get. The page is
 * chosen before the stock join: joined first, a search matching hundreds of names sometimes got a
 * plan that joined them all (6.5 ms against 1.8 ms at 100,000 products). A search matches
 * `search_name` (lower(name), migration 2026-12-02T11-00) against the lower-cased pattern: the same
 * rows as `name ILIKE pattern`, without lower-casing every name it reads.
 */
const browseNewest = compiledQuery(
  (
    _db,
    statuses: string[],
    category: string | null,
    minPrice: number | null,
    maxPrice: number | null,
    pattern: string | null,
    limit: number,
    beforeId: number | null,
  ) => browsePage({ statuses, category, minPrice, maxPrice, pattern, limit }, sql`(${beforeId}::int8 IS NULL OR p.id < ${beforeId}::int8)`, sql`p.id DESC`),
  { prepared: false },
);

const browseByPrice = (direction: "asc" | "desc") =>
  compiledQuery(
    (
      _db,
      statuses: string[],
      category: string | null,
      minPrice: number | null,
      maxPrice: number | null,
      pattern: string | null,
      limit: number,
      afterId: number | null,
      afterPrice: number,
    ) =>
      browsePage(
        { statuses, category, minPrice, maxPrice, pattern, limit },
        direction === "asc"
          ? sql`(${afterId}::int8 IS NULL OR (p.price, p.id) > (${afterPrice}::int8, ${afterId}::int8))`
          : sql`(${afterId}::int8 IS NULL OR (p.price, p.id) < (${afterPrice}::int8, ${afterId}::int8))`,
        direction === "asc" ? sql`p.price ASC, p.id ASC` : sql`p.price DESC, p.id DESC`,
      ),
    { prepared: false },
  );
const browsePriceAsc = browseByPrice("asc");
const browsePriceDesc = browseByPrice("desc");

const productsByIds = compiledQuery(
  (_db, ids: number[]) => sql<ProductRow>`
    SELECT p.id, p.name, p.category, p.price, p.description, p.status, p.created_at, p.updated_at, coalesce(s.quantity, 0) AS stock
      FROM catalog_products p LEFT JOIN inventory_stock s ON s.product_id = p.id
     WHERE p.id = ANY(${ids}::int8[])`,
);

/**
 * One product, the usual order: its own statement, because PostgreSQL plans `= ANY($1)` again on
 * every call (the generic plan, guessing 10 ids, never looks cheaper than a custom one: ~0.2 ms of
 * planning per order), while `= $1` is planned once per connection.
 */
const productById = compiledQuery(
  (_db, id: number) => sql<ProductRow>`
    SELECT p.id, p.name, p.category, p.price, p.description, p.status, p.created_at, p.updated_at, coalesce(s.quantity, 0) AS stock
      FROM catalog_products p LEFT JOIN inventory_stock s ON s.product_id = p.id
     WHERE p.id = ${id}::int8`,
);

/** The hot product's statement on every order: compiled once (db/compiled.ts). */
const changeStock = compiledQuery(
  (_db, productId: number, change: number, kind: StockMovementKind, reason: string | null, actorId: number | null, orderId: number | null, at: Date) => sql<{
    product_id: number;
    quantity: number;
    low_stock_threshold: number;
  }>`
      WITH changed AS (
        UPDATE inventory_stock SET quantity = quantity + ${change}::int4, updated_at = ${at}
         WHERE product_id = ${productId} AND quantity + ${change}::int4 >= 0
        RETURNING product_id, quantity, low_stock_threshold
      ), logged AS (
        INSERT INTO inventory_movements (product_id, kind, quantity_change, quantity_after, reason, actor_id, order_id, created_at)
        SELECT product_id, ${kind}, ${change}::int4, quantity, ${reason}, ${actorId}::int8, ${orderId}::int8, ${at} FROM changed
      )
      SELECT product_id, quantity, low_stock_threshold FROM changed`,
);

/**
 * A sale's take whose answer nobody reads (sent with the order's COMMIT, db/pipeline.ts), so every
 * refusal is an error instead of "no row": short stock breaks the CHECK (quantity >= 0); a take that
 * would cross the low-stock threshold (and leave stock to cross to) sets NULL (NOT NULL violation),
 * because its event needs the answer read (`changeStock`, the careful path). The two stay apart so
 * a short take can be answered from a read instead of a second transaction. A missing stock row
 * cannot happen here: the order's line holds the product row (FOR KEY SHARE through its foreign
 * key), and only deleting the product deletes its stock row.
 */
const takeStockOrFail = compiledQuery(
  (_db, productId: number, quantity: number, orderId: number | null, at: Date) => sql`
      WITH changed AS (
        UPDATE inventory_stock
           SET quantity = CASE WHEN quantity >= low_stock_threshold AND quantity - ${quantity}::int4 < low_stock_threshold
                                    AND quantity - ${quantity}::int4 >= 0 THEN NULL
                               ELSE quantity - ${quantity}::int4 END,
               updated_at = ${at}
         WHERE product_id = ${productId}::int8
        RETURNING product_id, quantity
      )
      INSERT INTO inventory_movements (product_id, kind, quantity_change, quantity_after, reason, actor_id, order_id, created_at)
      SELECT product_id, 'sale', -${quantity}::int4, quantity, NULL, NULL, ${orderId}::int8, ${at} FROM changed`,
);

/**
 * A batch of orders' sales in ONE statement (modules/orders/batch.ts): each product's rows locked in
 * ascending id order first (as `takeStockOrFail` line by line), then taken by the sum of the
 * batch's lines, if that leaves stock and crosses no low-stock threshold (whose event needs the
 * careful path); one movement per order line, each with the quantity after it in the batch's
 * order. Returns the products taken: a product missing from the answer was left as it was.
 */
const takeStockForBatch = compiledQuery(
  (_db, productIds: number[], quantities: number[], orderIds: number[], at: Date) => sql<{ product_id: number }>`
      WITH line AS (
        SELECT * FROM unnest(${productIds}::int8[], ${quantities}::int4[], ${orderIds}::int8[]) WITH ORDINALITY AS l(product_id, quantity, order_id, n)
      ), wanted AS (
        SELECT product_id, sum(quantity)::int4 AS quantity FROM line GROUP BY product_id
      ), locked AS MATERIALIZED (
        SELECT product_id FROM inventory_stock WHERE product_id IN (SELECT product_id FROM wanted) ORDER BY product_id FOR NO KEY UPDATE
      ), changed AS (
        UPDATE inventory_stock s SET quantity = s.quantity - w.quantity, updated_at = ${at}
          FROM wanted w JOIN locked USING (product_id)
         WHERE s.product_id = w.product_id AND s.quantity >= w.quantity
           AND NOT (s.quantity >= s.low_stock_threshold AND s.quantity - w.quantity < s.low_stock_threshold)
        RETURNING s.product_id, s.quantity
      ), logged AS (
        INSERT INTO inventory_movements (product_id, kind, quantity_change, quantity_after, reason, actor_id, order_id, created_at)
        SELECT line.product_id, 'sale', -line.quantity,
               changed.quantity + coalesce(sum(line.quantity) OVER (PARTITION BY line.product_id ORDER BY line.n
                                                                    ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0),
               NULL, NULL, line.order_id, ${at}
          FROM line JOIN changed USING (product_id) ORDER BY line.n
      )
      SELECT product_id FROM changed`,
);

/** The constraint errors of `takeStockOrFail`: short stock, or a low-stock crossing. */
export function isRefusedTake(error: unknown): boolean {
  return isShortTake(error) || (pgErrorCode(error) === "23502" && isStockTable(error));
}

/** `takeStockOrFail` refused for short stock (not a low-stock crossing). */
export function isShortTake(error: unknown): boolean {
  return pgErrorCode(error) === "23514" && pgConstraint(error) === "inventory_stock_quantity_check";
}

function isStockTable(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { table?: unknown }).table === "inventory_stock";
}

export const productRepository = {
  /** One page of products, newest or by price, keyset-paged; `statuses` limits what the caller may see. */
  async browse(
    db: Executor,
    filter: BrowseFilter & { statuses: Array<"active" | "hidden" | "deleted"> },
    after: SortCursor | undefined,
    limit: number,
  ): Promise<ProductRow[]> {
    const values = [
      filter.statuses,
      filter.category ?? null,
      filter.minPrice ?? null,
      filter.maxPrice ?? null,
      filter.query ? `%${escapeLike(filter.query)}%` : null,
      limit,
      after?.id ?? null,
    ] as const;
    const { rows } =
      filter.sort === "newest"
        ? await browseNewest(db, ...values)
        : await (filter.sort === "price_asc" ? browsePriceAsc : browsePriceDesc)(db, ...values, after?.price ?? 0);
    // The join does not keep the page's order: sort again (at most `limit` rows).
    const sign = filter.sort === "price_asc" ? 1 : -1;
    return rows.sort((a, b) => (filter.sort === "newest" ? b.id - a.id : sign * (a.price - b.price) || sign * (a.id - b.id)));
  },

  findById(db: Executor, id: number): Promise<ProductRow | undefined> {
    return selectProducts(db).where("p.id", "=", id).executeTakeFirst();
  },

  /** Every order prices its lines with this: compiled once (db/compiled.ts). */
  async findByIds(db: Executor, ids: number[]): Promise<ProductRow[]> {
    if (ids.length === 0) return [];
    if (ids.length === 1) return (await productById(db, ids[0] as number)).rows;
    return (await productsByIds(db, ids)).rows;
  },

  categories(db: Executor) {
    return db
      .selectFrom("catalog_products")
      .select(["category", (eb) => eb.fn.countAll<number>().as("productCount")])
      .where("status", "=", "active")
      .groupBy("category")
      .orderBy("category")
      .execute();
  },

  async insert(
    trx: Tx,
    product: { name: string; category: string; price: number; description: string; status: "active" | "hidden"; at: Date },
  ): Promise<number> {
    const row = await trx
      .insertInto("catalog_products")
      .values({
        name: product.name,
        category: product.category,
        price: product.price,
        description: product.description,
        status: product.status,
        created_at: product.at,
        updated_at: product.at,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return row.id;
  },

  async update(
    db: Executor,
    id: number,
    patch: Partial<Pick<CatalogProductsTable, "name" | "category" | "price" | "description" | "status">>,
    at: Date,
  ): Promise<boolean> {
    const result = await db
      .updateTable("catalog_products")
      .set({ ...patch, updated_at: at })
      .where("id", "=", id)
      .where("status", "<>", "deleted")
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  },
};

export interface StockChange {
  productId: number;
  quantityAfter: number;
  threshold: number;
}

export const inventoryRepository = {
  async createStock(trx: Tx, productId: number, quantity: number, threshold: number, at: Date): Promise<void> {
    await trx.insertInto("inventory_stock").values({ product_id: productId, quantity, low_stock_threshold: threshold, updated_at: at }).execute();
  },

  findStock(db: Executor, productId: number) {
    return db.selectFrom("inventory_stock").selectAll().where("product_id", "=", productId).executeTakeFirst();
  },

  /** Shared locks on the stock rows (ascending id): others may read, nobody may change them until we commit. */
  lockShared(trx: Tx, productIds: number[]) {
    const ids = [...new Set(productIds)].sort((a, b) => a - b);
    if (ids.length === 0) return Promise.resolve([]);
    noteLock(trx, LockRank.Stock, ids[0]);
    return trx.selectFrom("inventory_stock").select(["product_id", "quantity"]).where("product_id", "in", ids).orderBy("product_id").forShare().execute();
  },

  /**
   * Adds `change` (negative to take) to one product's stock if the result stays ≥ 0, and logs the
   * movement, in ONE statement: the conditional UPDATE's row lock is the exclusive lock, and a hot
   * product's row is held one round trip less. Undefined when refused; nothing is written then.
   */
  async applyChange(
    trx: Tx,
    productId: number,
    change: number,
    movement: { kind: StockMovementKind; reason: string | null; actorId: number | null; orderId: number | null },
    at: Date,
  ): Promise<StockChange | undefined> {
    noteLock(trx, LockRank.Stock, productId);
    const result = await changeStock(trx, productId, change, movement.kind, movement.reason, movement.actorId, movement.orderId, at);
    const row = result.rows[0];
    return row && { productId: Number(row.product_id), quantityAfter: row.quantity, threshold: row.low_stock_threshold };
  },

  /** `takeStockForBatch` (rank Stock, ascending): the products taken; the others are short or would cross their threshold. */
  async takeForBatch(trx: Tx, lines: Array<{ productId: number; quantity: number; orderId: number }>, at: Date): Promise<Set<number>> {
    if (lines.length === 0) return new Set();
    noteLock(trx, LockRank.Stock, Math.min(...lines.map((l) => l.productId)));
    const result = await takeStockForBatch(
      trx,
      lines.map((l) => l.productId),
      lines.map((l) => l.quantity),
      lines.map((l) => l.orderId),
      at,
    );
    return new Set(result.rows.map((row) => Number(row.product_id)));
  },

  /** `takeStockOrFail` for one line (rank Stock): its answer is not read; a refusal is an error (isRefusedTake). */
  async takeOrFail(trx: Tx, productId: number, quantity: number, orderId: number | null, at: Date): Promise<void> {
    noteLock(trx, LockRank.Stock, productId);
    await takeStockOrFail(trx, productId, quantity, orderId, at);
  },

  async setThreshold(db: Executor, productId: number, threshold: number, at: Date): Promise<boolean> {
    const result = await db
      .updateTable("inventory_stock")
      .set({ low_stock_threshold: threshold, updated_at: at })
      .where("product_id", "=", productId)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  },

  async insertMovements(
    trx: Tx,
    movements: Array<{
      productId: number;
      kind: StockMovementKind;
      change: number;
      after: number;
      reason: string | null;
      actorId: number | null;
      orderId: number | null;
      at: Date;
    }>,
  ): Promise<void> {
    if (movements.length === 0) return;
    await trx
      .insertInto("inventory_movements")
      .values(
        movements.map((m) => ({
          product_id: m.productId,
          kind: m.kind,
          quantity_change: m.change,
          quantity_after: m.after,
          reason: m.reason,
          actor_id: m.actorId,
          order_id: m.orderId,
          created_at: m.at,
        })),
      )
      .execute();
  },

  listMovements(db: Executor, productId: number, beforeId: number | undefined, limit: number) {
    let q = db.selectFrom("inventory_movements").selectAll().where("product_id", "=", productId).orderBy("id", "desc").limit(limit);
    if (beforeId !== undefined) q = q.where("id", "<", beforeId);
    return q.execute();
  },

  /** Counts and value of what is on the shelves (deleted products left out). */
  summary(db: Executor) {
    return db
      .selectFrom("catalog_products as p")
      .innerJoin("inventory_stock as s", "s.product_id", "p.id")
      .select([
        sql<number>`(count(*) filter (where p.status = 'active'))::int8`.as("active_products"),
        sql<number>`(count(*) filter (where p.status = 'hidden'))::int8`.as("hidden_products"),
        sql<number>`(count(*) filter (where s.quantity = 0))::int8`.as("out_of_stock"),
        sql<number>`(count(*) filter (where s.quantity < s.low_stock_threshold))::int8`.as("low_stock"),
        sql<number>`coalesce(sum(s.quantity), 0)::int8`.as("units"),
        sql<number>`coalesce(sum(s.quantity::int8 * p.price), 0)::int8`.as("stock_value"),
      ])
      .where("p.status", "<>", "deleted")
      .executeTakeFirstOrThrow();
  },

  listLowStock(db: Executor, limit: number) {
    return db
      .selectFrom("inventory_stock as s")
      .innerJoin("catalog_products as p", "p.id", "s.product_id")
      .select(["p.id", "p.name", "p.category", "s.quantity", "s.low_stock_threshold", "s.updated_at"])
      .where("p.status", "<>", "deleted")
      .whereRef("s.quantity", "<", "s.low_stock_threshold")
      .orderBy("s.quantity")
      .orderBy("p.id")
      .limit(limit)
      .execute();
  },

  async insertRestockSignup(db: Executor, signup: { productId: number; userId: number; channel: "email" | "sms"; at: Date }): Promise<number> {
    const row = await db
      .insertInto("inventory_restock_subscriptions")
      .values({ product_id: signup.productId, user_id: signup.userId, channel: signup.channel, created_at: signup.at })
      .returning("id")
      .executeTakeFirstOrThrow();
    return row.id;
  },

  /** Erasing an account: its restock sign-ups go (rank RestockSignup). */
  async removeRestockSignupsOf(trx: Tx, userId: number): Promise<number> {
    noteLock(trx, LockRank.RestockSignup, 0);
    const result = await trx.deleteFrom("inventory_restock_subscriptions").where("user_id", "=", userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  },

  /** Closes every open sign-up of a product and returns who signed up. */
  closeRestockSignups(trx: Tx, productId: number, at: Date) {
    noteLock(trx, LockRank.RestockSignup, productId);
    return trx
      .updateTable("inventory_restock_subscriptions")
      .set({ notified_at: at })
      .where("product_id", "=", productId)
      .where("notified_at", "is", null)
      .returning(["id", "user_id", "channel"])
      .execute();
  },
};
