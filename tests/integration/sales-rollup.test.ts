/**
 * The sales roll-up: an order's transaction appends its lines to sales_pending, and the roll-up
 * moves them into sales_daily after commit (modules/sales). The in-process worker is stopped in
 * each test so the counts are exact; the last test lets it run.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "kysely";
import pg from "pg";
import { compiledQuery, inTransaction } from "../../db/index.ts";
import { createSalesService } from "../../modules/sales/index.ts";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";

setDefaultTimeout(30_000);

let t: TestAgora;
let buyer: Customer;

const sales = () => t.agora.services.sales;

async function daily(productId: number) {
  const rows = await t.db
    .selectFrom("sales_daily")
    .select(["day", "sold_quantity", "order_count"])
    .where("product_id", "=", productId)
    .orderBy("day")
    .execute();
  return rows.map((r) => [r.day, r.sold_quantity, r.order_count]);
}

beforeAll(async () => {
  t = await startTestAgora();
  [buyer] = (await t.signUpCustomers(1, "rollup")) as [Customer];
  await t.fund(buyer, 1_000_000);
});

beforeEach(async () => {
  await sales().stop();
  await sales().rollUp();
});

afterAll(async () => {
  await t.close();
});

describe("sales roll-up", () => {
  test("a paid order waits in sales_pending until the roll-up moves it, exactly once", async () => {
    const p = await t.createProduct({ price: 1_000, stock: 50 });
    await buyer.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 2 }] });
    await buyer.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 3 }] });
    // A pending (unpaid) order is not a sale.
    await buyer.client.orders.create.mutate({ items: [{ productId: p.id, quantity: 4 }] });

    expect(await sales().pendingSales()).toBe(2);
    expect(await daily(p.id)).toEqual([]);
    expect(await sales().rollUp()).toBe(2);
    expect(await sales().pendingSales()).toBe(0);
    const today = t.clock.now().toISOString().slice(0, 10);
    expect(await daily(p.id)).toEqual([[today, 5, 2]]);
    expect(await sales().rollUp()).toBe(0);
    expect(await daily(p.id)).toEqual([[today, 5, 2]]);
  });

  test("cancelling appends the negative of the sale; rolled up with it or after it, the day nets out", async () => {
    const p = await t.createProduct({ price: 1_000, stock: 50 });
    const today = t.clock.now().toISOString().slice(0, 10);
    // Sale and cancellation in one batch.
    const first = await buyer.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 2 }] });
    await buyer.client.orders.cancel.mutate({ orderId: first.orderId });
    expect(await sales().pendingSales()).toBe(2);
    expect(await sales().rollUp()).toBe(2);
    expect(await daily(p.id)).toEqual([[today, 0, 0]]);

    // Sale rolled up first, cancellation later.
    const second = await buyer.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 3 }] });
    await sales().rollUp();
    expect(await daily(p.id)).toEqual([[today, 3, 1]]);
    await buyer.client.orders.cancel.mutate({ orderId: second.orderId });
    await sales().rollUp();
    expect(await daily(p.id)).toEqual([[today, 0, 0]]);

    // Two-step: counted when paid, taken back when cancelled after paying.
    const pending = await buyer.client.orders.create.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    await buyer.client.orders.pay.mutate({ orderId: pending.orderId });
    await sales().rollUp();
    expect(await daily(p.id)).toEqual([[today, 1, 1]]);
    await buyer.client.orders.cancel.mutate({ orderId: pending.orderId });
    await sales().rollUp();
    expect(await daily(p.id)).toEqual([[today, 0, 0]]);
  });

  test("popular products count committed sales without waiting for the worker", async () => {
    const p = await t.createProduct({ name: "Rolled", price: 1_000, stock: 50 });
    await buyer.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 40 }] });
    expect(await sales().pendingSales()).toBe(1);
    const top = await sales().popularUncached(1, 1);
    expect(top.products[0]).toMatchObject({ productId: p.id, soldQuantity: 40, orderCount: 1 });
    expect(await sales().pendingSales()).toBe(0);
  });

  test("popular products count committed sales while another roll-up is moving them: the reader waits for it", async () => {
    const p = await t.createProduct({ name: "In flight", price: 1_000, stock: 50 });
    await buyer.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 45 }] });
    // Another instance's roll-up, caught between taking the sale out of sales_pending and committing.
    const other = new pg.Client({ connectionString: t.database.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT pg_advisory_xact_lock($1::int8)", [0x5a1e5_da11]); // modules/sales/repository.ts, ROLL_UP_LOCK
      await other.query(
        `WITH taken AS (DELETE FROM sales_pending WHERE product_id = $1 RETURNING day, product_id, sold_quantity, order_count)
         INSERT INTO sales_daily (day, product_id, sold_quantity, order_count)
         SELECT day, product_id, sum(sold_quantity), sum(order_count) FROM taken GROUP BY day, product_id`,
        [p.id],
      );
      const reading = sales().popularUncached(1, 50);
      await Bun.sleep(200);
      await other.query("COMMIT");
      const top = await reading;
      expect(top.products.find((x) => x.productId === p.id)).toMatchObject({ soldQuantity: 45, orderCount: 1 });
    } finally {
      await other.end();
    }
    expect(await sales().pendingSales()).toBe(0);
    expect((await daily(p.id)).map((r) => [r[1], r[2]])).toEqual([[45, 1]]);
  });

  test("popular products read from the heads count pending sales and pending cancellations too", async () => {
    // The heads path whatever the table's size; the same roll-up lock as the worker's.
    const headsFirst = createSalesService({ db: t.db, clock: t.clock, cache: t.infra.cache, catalog: t.agora.services.catalog, aggregateBelowRows: 0 });
    await sql`ANALYZE sales_daily`.execute(t.db);
    const p = await t.createProduct({ name: "Heads", price: 1_000, stock: 100 });
    const placed = await buyer.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 60 }] });
    expect(await sales().pendingSales()).toBe(1);
    expect((await headsFirst.popularUncached(1, 1)).products[0]).toMatchObject({ productId: p.id, soldQuantity: 60, orderCount: 1 });
    expect(await sales().pendingSales()).toBe(0);
    await buyer.client.orders.cancel.mutate({ orderId: placed.orderId });
    expect(await sales().pendingSales()).toBe(1);
    expect((await headsFirst.popularUncached(1, 50)).products.map((x) => x.productId)).not.toContain(p.id);
    expect(await sales().pendingSales()).toBe(0);
  });

  test("roll-ups racing each other (batches smaller than the backlog) move every pending sale exactly once", async () => {
    const products = await Promise.all(Array.from({ length: 5 }, () => t.createProduct({ price: 1_000, stock: 10 })));
    const at = t.clock.now();
    // 400 sales of 1..3 units over five products, appended directly (as 400 orders would).
    const expected = new Map(products.map((p) => [p.id, { units: 0, orders: 0 }]));
    await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        const product = products[i % products.length] as { id: number };
        const quantity = 1 + (i % 3);
        const sum = expected.get(product.id) as { units: number; orders: number };
        sum.units += quantity;
        sum.orders += 1;
        await inTransaction(t.db, (trx) => sales().recordSale(trx, at, [{ productId: product.id, quantity }]));
      }),
    );
    expect(await sales().pendingSales()).toBe(400);
    const rollers = Array.from({ length: 4 }, () =>
      createSalesService({ db: t.db, clock: t.clock, cache: t.infra.cache, catalog: t.agora.services.catalog, rollUpBatch: 7 }),
    );
    const moved = await Promise.all(rollers.map((r) => r.rollUp()));
    // A roller that found the lock taken stops; whatever is left goes with one more pass.
    const rest = await rollers[0]?.rollUp();
    expect(moved.reduce((a, b) => a + b, 0) + (rest ?? 0)).toBe(400);
    expect(await sales().pendingSales()).toBe(0);
    for (const p of products) {
      const sum = expected.get(p.id) as { units: number; orders: number };
      expect((await daily(p.id)).map((r) => [r[1], r[2]])).toEqual([[sum.units, sum.orders]]);
    }
  });

  test("the worker catches up on its own once started", async () => {
    const p = await t.createProduct({ price: 1_000, stock: 50 });
    await buyer.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    expect(await sales().pendingSales()).toBe(1);
    sales().start();
    const deadline = Date.now() + 10_000;
    while ((await sales().pendingSales()) > 0 && Date.now() < deadline) await Bun.sleep(50);
    expect(await sales().pendingSales()).toBe(0);
    expect((await daily(p.id)).map((r) => [r[1], r[2]])).toEqual([[1, 1]]);
  });
});

describe("compiledQuery", () => {
  test("compiles once and runs with each call's values; refuses an argument that is not a parameter", async () => {
    const echo = compiledQuery(
      (_db, n: number, word: string, ids: number[]) => sql<{ n: number; word: string; ids: number[] }>`
      SELECT ${n}::int4 AS n, ${word}::text AS word, ${ids}::int4[] AS ids`,
    );
    expect((await echo(t.db, 1, "one", [1])).rows).toEqual([{ n: 1, word: "one", ids: [1] }]);
    expect((await echo(t.db, 2, "two's", [2, 3])).rows).toEqual([{ n: 2, word: "two's", ids: [2, 3] }]);
    const builder = compiledQuery((db, id: number) => db.selectFrom("identity_users").select("id").where("id", "=", id));
    expect((await builder(t.db, buyer.id)).rows).toEqual([{ id: buyer.id }]);
    expect((await builder(t.db, -1)).rows).toEqual([]);
    const careless = compiledQuery((_db, n: number, _unused: number) => sql`SELECT ${n}::int4 AS n`);
    await expect(careless(t.db, 1, 2)).rejects.toThrow("not parameters");
  });
});
