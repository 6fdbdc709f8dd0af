/**
 * Popular products read each day's best sellers first and stop as soon as the answer is certain.
 * Checked against the plain aggregate over randomly generated sales: skewed (a popular head, as
 * real shops have and the early stop relies on), flat (it must fall back), with ties, hidden
 * products and empty days. Sales rows are written straight into sales_daily as test fixtures.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { DAY, utcDay } from "../../modules/kernel/index.ts";
import { createSalesService, type SalesService } from "../../modules/sales/index.ts";
import { startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let productIds: number[] = [];
/** Reads heads whatever the window's size (the production service only does for big windows). */
let headsFirst: SalesService;

beforeAll(async () => {
  t = await startTestAgora({ infra: "memory" });
  const now = t.clock.now();
  const rows = await sql<{ id: number }>`
    INSERT INTO catalog_products (name, category, price, status, created_at, updated_at)
    SELECT 'Product ' || g, 'fixture', 1000 + g, CASE WHEN g % 17 = 0 THEN 'hidden' ELSE 'active' END, ${now}, ${now}
      FROM generate_series(1, 400) AS g
    RETURNING id`.execute(t.db);
  productIds = rows.rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  headsFirst = createSalesService({ db: t.db, clock: t.clock, cache: t.infra.cache, catalog: t.agora.services.catalog, aggregateBelowRows: 0 });
});
afterAll(() => t.close());

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

async function fill(seed: number, shape: "skewed" | "flat" | "ties" | "cancelled") {
  await sql`TRUNCATE sales_daily`.execute(t.db);
  const rnd = random(seed);
  const rows = new Map<string, { day: string; product_id: number; sold: number; orders: number }>();
  for (let i = 0; i < 6000; i++) {
    const daysAgo = Math.floor(rnd() * 12);
    if (daysAgo === 5) continue; // an empty day in the window
    const day = utcDay(new Date(t.clock.now().getTime() - daysAgo * DAY));
    const index = shape === "skewed" || shape === "cancelled" ? Math.floor(productIds.length * rnd() ** 3) : Math.floor(productIds.length * rnd());
    const productId = productIds[index] as number;
    const quantity = shape === "ties" ? 1 : 1 + Math.floor(rnd() * 3);
    const key = `${day}:${productId}`;
    const row = rows.get(key) ?? { day, product_id: productId, sold: 0, orders: 0 };
    row.sold += quantity;
    row.orders += 1;
    rows.set(key, row);
  }
  // Cancelled and refunded sales leave product-days at zero (sold 0, orders 0): in the heads' tails.
  if (shape === "cancelled") for (const row of rows.values()) if (rnd() < 0.3) Object.assign(row, { sold: 0, orders: 0 });
  const values = [...rows.values()];
  for (let i = 0; i < values.length; i += 1000) {
    await t.db
      .insertInto("sales_daily")
      .values(values.slice(i, i + 1000).map((r) => ({ day: r.day, product_id: r.product_id, sold_quantity: r.sold, order_count: r.orders })))
      .execute();
  }
  await sql`ANALYZE sales_daily`.execute(t.db);
}

/** The plain answer: aggregate every row of the window, skip hidden products, rank. */
async function expected(days: number, limit: number) {
  const from = utcDay(new Date(t.clock.now().getTime() - (days - 1) * DAY));
  const rows = await sql<{ product_id: number; sold: number; orders: number }>`
    SELECT s.product_id, sum(s.sold_quantity)::int8 AS sold, sum(s.order_count)::int8 AS orders
      FROM sales_daily s JOIN catalog_products p ON p.id = s.product_id AND p.status = 'active'
     WHERE s.day >= ${from}::date
     GROUP BY s.product_id HAVING sum(s.sold_quantity) > 0
     ORDER BY sold DESC, orders DESC, s.product_id LIMIT ${limit}`.execute(t.db);
  return rows.rows.map((r) => [Number(r.product_id), Number(r.sold), Number(r.orders)]);
}

describe("popular products: early stop is exact", () => {
  for (const shape of ["skewed", "flat", "ties", "cancelled"] as const) {
    test(`${shape} sales, several windows and sizes`, async () => {
      for (const seed of [1, 2, 3]) {
        await fill(seed * 7919 + shape.length, shape);
        for (const [days, limit] of [
          [1, 5],
          [3, 5],
          [7, 10],
          [10, 50],
          [30, 1],
        ] as const) {
          const want = await expected(days, limit);
          for (const sales of [headsFirst, t.agora.services.sales]) {
            const answer = await sales.popularUncached(days, limit);
            expect(answer.products.map((p) => [p.productId, p.soldQuantity, p.orderCount])).toEqual(want);
          }
        }
      }
    });
  }

  test("a steady seller that is in no day's first head still wins the window", async () => {
    await sql`TRUNCATE sales_daily`.execute(t.db);
    const active = productIds.filter((_, i) => (i + 1) % 17 !== 0);
    const steady = active[0] as number;
    const rows: Array<{ day: string; product_id: number; sold_quantity: number; order_count: number }> = [];
    for (let d = 0; d < 5; d++) {
      const day = utcDay(new Date(t.clock.now().getTime() - d * DAY));
      rows.push({ day, product_id: steady, sold_quantity: 30, order_count: 30 });
      // Sixty products outsell it each day (more than a first head holds), a different sixty every
      // day: each sells 31..90 once.
      for (let k = 0; k < 60; k++) rows.push({ day, product_id: active[1 + d * 60 + k] as number, sold_quantity: 31 + k, order_count: 1 });
    }
    await t.db.insertInto("sales_daily").values(rows).execute();
    await sql`ANALYZE sales_daily`.execute(t.db);
    const answer = await headsFirst.popularUncached(5, 3);
    expect(answer.products[0]).toMatchObject({ productId: steady, soldQuantity: 150 });
    expect(answer.products.map((p) => [p.productId, p.soldQuantity, p.orderCount])).toEqual(await expected(5, 3));
  });

  test("a candidate missing from one day's head is probed when it can still reach the top, and only then", async () => {
    await sql`TRUNCATE sales_daily`.execute(t.db);
    const active = productIds.filter((_, i) => (i + 1) % 17 !== 0);
    const [edge, leader, ...rest] = active as [number, number, ...number[]];
    const today = utcDay(t.clock.now());
    const yesterday = utcDay(new Date(t.clock.now().getTime() - DAY));
    const rows: Array<{ day: string; product_id: number; sold_quantity: number; order_count: number }> = [];
    // Sixty products fill each day's head past its depth (44 for limit 1: the top 11 with lookahead, × 4).
    for (let k = 0; k < 60; k++) {
      rows.push({ day: today, product_id: rest[k] as number, sold_quantity: 100 + k, order_count: 1 });
      rows.push({ day: yesterday, product_id: rest[k] as number, sold_quantity: 100 + k, order_count: 1 });
    }
    // The leader tops both days; `edge` tops today and sold just under the cut-off yesterday: its
    // total ties the leader's on units, and its orders decide (it must be probed to know them).
    rows.push({ day: today, product_id: leader, sold_quantity: 500, order_count: 1 });
    rows.push({ day: yesterday, product_id: leader, sold_quantity: 500, order_count: 1 });
    rows.push({ day: today, product_id: edge, sold_quantity: 901, order_count: 1 });
    rows.push({ day: yesterday, product_id: edge, sold_quantity: 99, order_count: 5 });
    await t.db.insertInto("sales_daily").values(rows).execute();
    await sql`ANALYZE sales_daily`.execute(t.db);
    for (const limit of [1, 2, 5]) {
      const answer = await headsFirst.popularUncached(2, limit);
      expect(answer.products.map((p) => [p.productId, p.soldQuantity, p.orderCount])).toEqual(await expected(2, limit));
    }
    expect((await headsFirst.popularUncached(2, 1)).products[0]).toMatchObject({ productId: edge, soldQuantity: 1000, orderCount: 6 });
  });
});
