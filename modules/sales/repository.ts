import { sql } from "kysely";
import type { Db, Tx } from "../../db/index.ts";
import { compiledQuery } from "../../db/index.ts";

/** One advisory lock key for the roll-up: one roll-up at a time, across every instance. */
const ROLL_UP_LOCK = 0x5a1e5_da11;

/** On every paid order: compiled once (db/compiled.ts). */
const insertPending = compiledQuery(
  (_db, day: string, productIds: number[], quantities: number[], orderDelta: number) => sql`
    INSERT INTO sales_pending (day, product_id, sold_quantity, order_count)
    SELECT ${day}::date, line.product_id, line.quantity * ${orderDelta}::int4, ${orderDelta}::int4
      FROM unnest(${productIds}::int8[], ${quantities}::int4[]) AS line(product_id, quantity)`,
);

export interface DayHead {
  day: string;
  product_id: number;
  sold_quantity: number;
  order_count: number;
}

interface SellerRow {
  product_id: number;
  sold: number;
  orders: number;
}

/** Whether any sale waits to be rolled up: the reads below answer it in their own snapshot. */
const anyPending = sql<boolean>`EXISTS (SELECT 1 FROM sales_pending)`;

const pendingExists = compiledQuery((_db) => sql<{ pending: boolean }>`SELECT ${anyPending} AS pending`);

const headsOfDays = compiledQuery(
  (_db, days: string[], perDay: number) => sql<{ pending: boolean } & { [K in keyof DayHead]: DayHead[K] | null }>`
    SELECT f.pending, h.day, h.product_id, h.sold_quantity, h.order_count
      FROM (SELECT ${anyPending} AS pending) AS f
      LEFT JOIN LATERAL (
        SELECT d.day::text AS day, t.product_id, t.sold_quantity, t.order_count
          FROM unnest(${days}::date[]) AS d(day)
          CROSS JOIN LATERAL (
            SELECT product_id, sold_quantity, order_count FROM sales_daily
             WHERE sales_daily.day = d.day
             ORDER BY sold_quantity DESC, product_id
             LIMIT ${perDay}::int4
          ) AS t
      ) AS h ON true`,
);

const salesOfPairs = compiledQuery(
  (_db, days: string[], productIds: number[]) => sql<{ product_id: number; sold_quantity: number; order_count: number }>`
    SELECT k.product_id, s.sold_quantity, s.order_count
      FROM unnest(${days}::date[], ${productIds}::int8[]) AS k(day, product_id)
      CROSS JOIN LATERAL (
        SELECT sold_quantity, order_count FROM sales_daily
         WHERE sales_daily.day = k.day AND sales_daily.product_id = k.product_id
         LIMIT 1
      ) AS s`,
);

const aggregateTop = compiledQuery(
  (_db, fromDay: string, limit: number) => sql<{ pending: boolean } & { [K in keyof SellerRow]: SellerRow[K] | null }>`
    SELECT f.pending, t.product_id, t.sold, t.orders
      FROM (SELECT ${anyPending} AS pending) AS f
      LEFT JOIN LATERAL (
        SELECT product_id, sum(sold_quantity)::int8 AS sold, sum(order_count)::int8 AS orders
          FROM sales_daily
         WHERE day >= ${fromDay}::date
         GROUP BY product_id
        HAVING sum(sold_quantity) > 0
         ORDER BY sold DESC, orders DESC, product_id
         LIMIT ${limit}::int4
      ) AS t ON true`,
  { prepared: false },
);

export const salesRepository = {
  /**
   * Appends one order's lines (negative quantities and order count to take a sale back) to the
   * pending sales, in ONE statement. New rows only: no lock anybody else waits for.
   */
  async appendPending(trx: Tx, day: string, lines: Array<{ productId: number; quantity: number }>, orderDelta: 1 | -1): Promise<void> {
    if (lines.length === 0) return;
    await insertPending(
      trx,
      day,
      lines.map((l) => l.productId),
      lines.map((l) => l.quantity),
      orderDelta,
    );
  },

  /**
   * Moves up to `batch` pending sales into sales_daily, in ONE statement (its own transaction):
   * takes them out of sales_pending, sums them per (day, product), adds the sums to the rows that
   * exist and inserts the others. Only one roll-up runs at a time (an advisory lock for the
   * statement): a second caller takes nothing and returns 0 rather than wait, unless `waitForLock`
   * (a reader that must see what is pending: it waits for the roll-up in flight to commit, then
   * takes what is left). Nothing else writes sales_daily, so the roll-up is the only transaction
   * that locks its rows (rank SalesDaily). Returns how many pending rows it rolled up.
   */
  async rollUp(db: Db, batch: number, { waitForLock = false } = {}): Promise<number> {
    const gate = waitForLock
      ? sql`SELECT true AS mine FROM (SELECT pg_advisory_xact_lock(${ROLL_UP_LOCK}::int8)) AS waited`
      : sql`SELECT pg_try_advisory_xact_lock(${ROLL_UP_LOCK}::int8) AS mine`;
    const result = await sql<{ taken: number }>`
      WITH gate AS (${gate}), taken AS (
        DELETE FROM sales_pending
         WHERE (SELECT mine FROM gate)
           AND id IN (SELECT id FROM sales_pending ORDER BY id LIMIT ${batch})
        RETURNING day, product_id, sold_quantity, order_count
      ), summed AS (
        SELECT day, product_id, sum(sold_quantity)::int4 AS sold_quantity, sum(order_count)::int4 AS order_count
          FROM taken GROUP BY day, product_id
      ), updated AS (
        UPDATE sales_daily s
           SET sold_quantity = s.sold_quantity + summed.sold_quantity, order_count = s.order_count + summed.order_count
          FROM summed
         WHERE s.day = summed.day AND s.product_id = summed.product_id
      ), inserted AS (
        -- Not ON CONFLICT: PostgreSQL checks the proposed row (a negative delta) before the conflict.
        -- One roll-up at a time (the gate), so the rows this statement cannot see do not exist, except
        -- when it waited for the gate: a row inserted meanwhile is a unique violation, and the caller
        -- runs a new statement (service.ts, rollUp).
        INSERT INTO sales_daily (day, product_id, sold_quantity, order_count)
        SELECT day, product_id, sold_quantity, order_count FROM summed
         WHERE NOT EXISTS (SELECT 1 FROM sales_daily s WHERE s.day = summed.day AND s.product_id = summed.product_id)
         ORDER BY day, product_id
      )
      SELECT count(*)::int4 AS taken FROM taken`.execute(db);
    return Number(result.rows[0]?.taken ?? 0);
  },

  /** Whether any sale waits to be rolled up: prepared, a few µs of PostgreSQL where the roll-up statement costs ~1 ms to plan. */
  async anyPending(db: Db): Promise<boolean> {
    return (await pendingExists(db)).rows[0]?.pending === true;
  },

  /** How many sales wait to be rolled up (the roll-up's backlog). */
  async pendingCount(db: Db): Promise<number> {
    const result = await sql<{ n: number }>`SELECT count(*)::int8 AS n FROM sales_pending`.execute(db);
    return Number(result.rows[0]?.n ?? 0);
  },

  /**
   * Each day's `perDay` best sellers, best first (index-only on sales_daily_ranking_idx), and
   * whether any sale waits in sales_pending, read in the same snapshot: when none does, every sale
   * committed before this statement is in the rows it read. No day read and no rows: one row of nulls.
   * Prepared (db/compiled.ts): the plan is the same for any days and depth.
   */
  headsOfDays(db: Db, days: string[], perDay: number) {
    return headsOfDays(db, days, perDay).then((r) => ({
      pending: r.rows[0]?.pending === true,
      heads: r.rows.filter((row): row is DayHead & { pending: boolean } => row.product_id !== null),
    }));
  },

  /**
   * The sales of the given (day, product) pairs that have a row: one primary-key probe each. A
   * LATERAL with LIMIT 1 (the key allows one row anyway) so the planner cannot turn the probes into
   * a join over the whole window (at 100k lines it hashed all 7,000 window rows: 2.5 ms against 1 ms).
   */
  salesOf(db: Db, days: string[], productIds: number[]) {
    if (productIds.length === 0) return Promise.resolve([]);
    return salesOfPairs(db, days, productIds).then((r) => r.rows);
  },

  /**
   * Top products by units sold from `fromDay` on, aggregating every product-day of the window, and
   * whether any sale waits in sales_pending (same snapshot; one row of nulls when nothing sold).
   * Not prepared: the window's size decides between the range scan and a sequential one.
   */
  top(db: Db, fromDay: string, limit: number) {
    return aggregateTop(db, fromDay, limit).then((r) => ({
      pending: r.rows[0]?.pending === true,
      sellers: r.rows.filter((row): row is SellerRow & { pending: boolean } => row.product_id !== null),
    }));
  },

  /**
   * PostgreSQL's own estimate of sales_daily rows per day (planner statistics: no scan), to pick
   * the cheaper way to rank a window. Null before the table was ever analyzed.
   */
  async rowsPerDayEstimate(db: Db): Promise<number | null> {
    const result = await sql<{ rows: number; days: number | null }>`
      SELECT c.reltuples::float8 AS rows, s.n_distinct::float8 AS days
        FROM pg_class c
        LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = 'sales_daily' AND s.attname = 'day'
       WHERE c.oid = 'sales_daily'::regclass`.execute(db);
    const row = result.rows[0];
    if (!row || row.rows <= 0 || row.days === null) return null;
    // n_distinct < 0 is a fraction of the rows rather than a count.
    const days = row.days < 0 ? -row.days * row.rows : row.days;
    return days > 0 ? row.rows / days : null;
  },
};
