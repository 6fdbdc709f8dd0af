/**
 * Popular products: the daily sales aggregate ranked over a window of days, through the API.
 * Orders are placed over four days by moving the clock; the memory infra lets the same clock drive
 * the cache's five minutes. A second Agora on Redis checks the cache key and its TTL there.
 *
 * The timeline (each line is one order, UTC days; "today" is 2026-11-24):
 *   11-21  A×5 | B×1
 *   11-22  A×1 + C×4 (one order, two lines)
 *   11-23  B×2 | B×1 + C×1
 *   11-24  D×2 | B×1
 * Totals (sold, orders): A 6/2, B 5/4, C 5/2, D 2/1.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { AgoraClient } from "../../apps/client/index.ts";
import { type Customer, errorOf, startTestAgora, type TestAgora } from "../support/agora.ts";

setDefaultTimeout(20_000);

const MINUTE = 60_000;
type Product = { id: number; name: string; price: number };
type PopularInput = Parameters<AgoraClient["sales"]["popular"]["query"]>[0];

let t: TestAgora;
let admin: Customer;
let buyer: Customer;
let other: Customer;
let A: Product;
let B: Product;
let C: Product;
let D: Product;
let E: Product;
const orderIds: Record<string, number> = {};

async function order(c: Customer, key: string, items: Array<[Product, number]>) {
  const placed = await c.client.orders.place.mutate({ items: items.map(([p, quantity]) => ({ productId: p.id, quantity })) });
  orderIds[key] = placed.orderId;
}

const popular = (input?: PopularInput) => t.client().sales.popular.query(input);
/** [productId, soldQuantity, orderCount] in rank order, checking ranks run 1..n. */
function ranking(answer: Awaited<ReturnType<typeof popular>>) {
  expect(answer.products.map((p) => p.rank)).toEqual(answer.products.map((_, i) => i + 1));
  return answer.products.map((p) => [p.productId, p.soldQuantity, p.orderCount]);
}

async function badRequest(call: Promise<unknown>) {
  const error = await errorOf(call);
  expect(error.data).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400, domainCode: "VALIDATION_FAILED" });
}

beforeAll(async () => {
  t = await startTestAgora({ infra: "memory", config: { sessionTtlHours: 24 * 365 } });
  admin = await t.admin();
  [buyer, other] = (await t.signUpCustomers(2, "buyer")) as [Customer, Customer];
  await t.fund(buyer, 500_000);
  await t.fund(other, 500_000);
  A = await t.createProduct({ name: "Apple", price: 1_000, stock: 100 });
  B = await t.createProduct({ name: "Banana", price: 2_000, stock: 100 });
  C = await t.createProduct({ name: "Cherry", price: 3_000, stock: 100 });
  D = await t.createProduct({ name: "Durian", price: 4_000, stock: 100 });

  t.clock.set("2026-11-21T09:00:00Z");
  await order(buyer, "a5", [[A, 5]]);
  await order(other, "b1", [[B, 1]]);
  t.clock.set("2026-11-22T23:59:59.999Z"); // the last instant of the 22nd still counts for the 22nd
  await order(buyer, "a1c4", [
    [A, 1],
    [C, 4],
  ]);
  t.clock.set("2026-11-23T00:00:00Z");
  await order(buyer, "b2", [[B, 2]]);
  await order(other, "b1c1", [
    [B, 1],
    [C, 1],
  ]);
  t.clock.set("2026-11-24T08:00:00Z");
  await order(buyer, "d2", [[D, 2]]);
  await order(other, "b1today", [[B, 1]]);
  t.clock.set("2026-11-24T12:00:00Z");
});
afterAll(() => t.close());

describe("ranking and window", () => {
  test("ranks by units sold, ties broken by order count; orderCount counts orders, not units", async () => {
    const answer = await popular({ days: 4, limit: 10 });
    expect(answer.period).toEqual({ days: 4, startDate: "2026-11-21", endDate: "2026-11-24" });
    expect(answer.products).toEqual([
      { rank: 1, productId: A.id, name: "Apple", price: 1_000, soldQuantity: 6, orderCount: 2 },
      { rank: 2, productId: B.id, name: "Banana", price: 2_000, soldQuantity: 5, orderCount: 4 },
      { rank: 3, productId: C.id, name: "Cherry", price: 3_000, soldQuantity: 5, orderCount: 2 },
      { rank: 4, productId: D.id, name: "Durian", price: 4_000, soldQuantity: 2, orderCount: 1 },
    ]);
  });

  test("days: 1 is today only", async () => {
    const answer = await popular({ days: 1, limit: 10 });
    expect(answer.period).toEqual({ days: 1, startDate: "2026-11-24", endDate: "2026-11-24" });
    expect(ranking(answer)).toEqual([
      [D.id, 2, 1],
      [B.id, 1, 1],
    ]);
  });

  test("orders older than the window are left out", async () => {
    const two = await popular({ days: 2, limit: 10 });
    expect(two.period).toEqual({ days: 2, startDate: "2026-11-23", endDate: "2026-11-24" });
    expect(ranking(two)).toEqual([
      [B.id, 4, 3],
      [D.id, 2, 1],
      [C.id, 1, 1],
    ]);
    const three = await popular({ days: 3, limit: 10 });
    expect(three.period).toEqual({ days: 3, startDate: "2026-11-22", endDate: "2026-11-24" });
    expect(ranking(three)).toEqual([
      [C.id, 5, 2],
      [B.id, 4, 3],
      [D.id, 2, 1],
      [A.id, 1, 1],
    ]);
    const thirty = await popular({ days: 30, limit: 10 });
    expect(thirty.period).toEqual({ days: 30, startDate: "2026-10-26", endDate: "2026-11-24" });
    expect(ranking(thirty)).toEqual(ranking(await popular({ days: 4, limit: 10 })));
  });

  test("limit keeps the top ones", async () => {
    expect(ranking(await popular({ days: 4, limit: 2 }))).toEqual([
      [A.id, 6, 2],
      [B.id, 5, 4],
    ]);
    expect(ranking(await popular({ days: 4, limit: 1 }))).toEqual([[A.id, 6, 2]]);
  });

  test("defaults: the last 3 days, top 5", async () => {
    const answer = await popular();
    expect(answer.period).toEqual({ days: 3, startDate: "2026-11-22", endDate: "2026-11-24" });
    expect(ranking(answer)).toEqual([
      [C.id, 5, 2],
      [B.id, 4, 3],
      [D.id, 2, 1],
      [A.id, 1, 1],
    ]);
  });

  test("the window follows the clock: tomorrow, the 21st drops out", async () => {
    t.clock.set("2026-11-25T00:00:00Z");
    // A (days, limit) of its own: the clock goes back afterwards, and this answer stays cached till 00:05 on the 25th.
    const answer = await popular({ days: 4, limit: 7 });
    expect(answer.period).toEqual({ days: 4, startDate: "2026-11-22", endDate: "2026-11-25" });
    expect(ranking(answer)).toEqual([
      [C.id, 5, 2],
      [B.id, 4, 3],
      [D.id, 2, 1],
      [A.id, 1, 1],
    ]);
    t.clock.set("2026-11-24T12:00:00Z");
  });

  test("hidden and deleted products are skipped, and the ranks close up", async () => {
    t.clock.advance(10 * MINUTE); // past anything cached above
    await admin.client.catalog.admin.setStatus.mutate({ productId: B.id, status: "hidden" });
    expect(ranking(await popular({ days: 4, limit: 10 }))).toEqual([
      [A.id, 6, 2],
      [C.id, 5, 2],
      [D.id, 2, 1],
    ]);
    expect(ranking(await popular({ days: 4, limit: 2 }))).toEqual([
      [A.id, 6, 2],
      [C.id, 5, 2],
    ]);
    expect(ranking(await t.agora.services.sales.popularUncached(4, 10))).toEqual([
      [A.id, 6, 2],
      [C.id, 5, 2],
      [D.id, 2, 1],
    ]);
    await admin.client.catalog.admin.setStatus.mutate({ productId: B.id, status: "active" });
    await admin.client.catalog.admin.delete.mutate({ productId: D.id });
    expect(ranking(await t.agora.services.sales.popularUncached(1, 10))).toEqual([[B.id, 1, 1]]);
  });
});

describe("cache (memory infra: the manual clock drives the TTL)", () => {
  test("an answer is kept for five minutes: a new order shows only once they have passed", async () => {
    t.clock.advance(10 * MINUTE);
    E = await t.createProduct({ name: "Elderberry", price: 500, stock: 100 });
    const before = await popular({ days: 1, limit: 5 });
    expect(ranking(before)).toEqual([[B.id, 1, 1]]);

    await order(buyer, "e7", [[E, 7]]);
    expect(ranking(await t.agora.services.sales.popularUncached(1, 5))).toEqual([
      [E.id, 7, 1],
      [B.id, 1, 1],
    ]);
    expect(await popular({ days: 1, limit: 5 })).toEqual(before);
    t.clock.advance(5 * MINUTE - 1);
    expect(await popular({ days: 1, limit: 5 })).toEqual(before);
    // Another (days, limit) is cached on its own, and so is computed fresh.
    expect(ranking(await popular({ days: 1, limit: 6 }))).toEqual([
      [E.id, 7, 1],
      [B.id, 1, 1],
    ]);
    t.clock.advance(1);
    // This process serves a list it read from the cache for one more second without asking the cache again.
    expect(await popular({ days: 1, limit: 5 })).toEqual(before);
    t.clock.advance(1_000);
    expect(ranking(await popular({ days: 1, limit: 5 }))).toEqual([
      [E.id, 7, 1],
      [B.id, 1, 1],
    ]);
  });
});

describe("cancellation", () => {
  test("cancelling takes the order back out of the day it was paid on", async () => {
    // Cancelled today, paid on the 22nd: the 22nd's row goes down, today's is untouched.
    const cancelled = await buyer.client.orders.cancel.mutate({ orderId: orderIds.a1c4 as number });
    expect(cancelled.status).toBe("cancelled");
    // sales_daily is rolled up after commit; reading the table itself, catch it up first.
    await t.agora.services.sales.rollUp();
    const rows = await t.db
      .selectFrom("sales_daily")
      .select(["day", "product_id", "sold_quantity", "order_count"])
      .where("product_id", "in", [A.id, C.id])
      .orderBy("day")
      .orderBy("product_id")
      .execute();
    expect(rows.map((r) => [r.day, r.product_id, r.sold_quantity, r.order_count])).toEqual([
      ["2026-11-21", A.id, 5, 1],
      ["2026-11-22", A.id, 0, 0],
      ["2026-11-22", C.id, 0, 0],
      ["2026-11-23", C.id, 1, 1],
    ]);
    const sales = t.agora.services.sales;
    // (D was deleted above; E sold 7 today in the cache test.)
    expect(ranking(await sales.popularUncached(3, 10))).toEqual([
      [E.id, 7, 1],
      [B.id, 4, 3],
      [C.id, 1, 1],
    ]);
    expect(ranking(await sales.popularUncached(4, 10))).toEqual([
      [E.id, 7, 1],
      [B.id, 5, 4],
      [A.id, 5, 1],
      [C.id, 1, 1],
    ]);

    // A product whose only sale is cancelled leaves the ranking.
    const today = await other.client.orders.cancel.mutate({ orderId: orderIds.b1today as number });
    expect(today.status).toBe("cancelled");
    expect(ranking(await sales.popularUncached(1, 10))).toEqual([[E.id, 7, 1]]);
    expect(ranking(await sales.popularUncached(4, 10))).toEqual([
      [E.id, 7, 1],
      [A.id, 5, 1],
      [B.id, 4, 3],
      [C.id, 1, 1],
    ]);
    await t.agora.services.sales.rollUp();
    const b = await t.db.selectFrom("sales_daily").select(["day", "sold_quantity", "order_count"]).where("product_id", "=", B.id).orderBy("day").execute();
    expect(b.map((r) => [r.day, r.sold_quantity, r.order_count])).toEqual([
      ["2026-11-21", 1, 1],
      ["2026-11-23", 3, 2],
      ["2026-11-24", 0, 0],
    ]);
  });
});

describe("input bounds", () => {
  test("days 1..30 and limit 1..50; anything else is BAD_REQUEST", async () => {
    await badRequest(popular({ days: 0, limit: 5 }));
    await badRequest(popular({ days: 31, limit: 5 }));
    await badRequest(popular({ days: 3, limit: 0 }));
    await badRequest(popular({ days: 3, limit: 51 }));
    await badRequest(popular({ days: 1.5, limit: 5 }));
    await badRequest(popular({ days: 3, limit: 5, category: "x" } as never));
    expect((await popular({ days: 30, limit: 50 })).period.days).toBe(30);
    expect((await popular({ days: 1, limit: 1 })).period.days).toBe(1);
  });
});

describe("cache on Redis", () => {
  let r: TestAgora;
  beforeAll(async () => {
    r = await startTestAgora({ infra: "redis" });
  });
  afterAll(() => r.close());

  test("the answer is stored under the Agora's prefix with a TTL of at most 300 s, and served from there", async () => {
    const c = await r.signUpCustomer("redis-buyer");
    await r.fund(c, 50_000);
    const p = await r.createProduct({ name: "Fig", price: 1_000, stock: 50 });
    await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 3 }] });

    const redis = r.redis?.client;
    if (!redis) throw new Error("this test needs Redis");
    const key = `${r.redis?.prefix}cache:popular:3days:5`;
    expect(await redis.exists(key)).toBe(0);
    const first = await r.client().sales.popular.query({ days: 3, limit: 5 });
    expect(first.products.map((x) => [x.productId, x.soldQuantity, x.orderCount])).toEqual([[p.id, 3, 1]]);

    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(290_000);
    expect(ttl).toBeLessThanOrEqual(300_000);

    // A new order does not show while the key lives; deleting the key shows it.
    await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 2 }] });
    expect(await r.client().sales.popular.query({ days: 3, limit: 5 })).toEqual(first);
    // Read from the cache, the answer is one shared frozen value (decoded and serialized once).
    const sales = r.agora.services.sales;
    const shared = await sales.popular(3, 5);
    expect(await sales.popular(3, 5)).toBe(shared);
    expect(Object.isFrozen(shared.products)).toBe(true);
    await redis.del(key);
    r.clock.advance(1_000); // past the second this process serves a list it read without asking the cache
    const fresh = await r.client().sales.popular.query({ days: 3, limit: 5 });
    expect(fresh.products.map((x) => [x.productId, x.soldQuantity, x.orderCount])).toEqual([[p.id, 5, 2]]);
    expect(await redis.pttl(key)).toBeGreaterThan(290_000);
  });
});

describe("hidden products at the top", () => {
  test("more hidden top sellers than the lookahead still leaves `limit` visible products", async () => {
    t.clock.advance(40 * 24 * 60 * MINUTE); // a fresh window: nothing above sold in it
    const hidden: Product[] = [];
    for (let i = 0; i < 12; i++) hidden.push(await t.createProduct({ name: `Hidden ${i}`, price: 1_000, stock: 100 }));
    const first = await t.createProduct({ name: "Visible 1", price: 1_000, stock: 100 });
    const second = await t.createProduct({ name: "Visible 2", price: 1_000, stock: 100 });
    for (const p of hidden) await order(buyer, `hidden-${p.id}`, [[p, 5]]);
    await order(buyer, "visible-1", [[first, 2]]);
    await order(buyer, "visible-2", [[second, 1]]);
    for (const p of hidden) await admin.client.catalog.admin.setStatus.mutate({ productId: p.id, status: "hidden" });

    const answer = await t.agora.services.sales.popularUncached(1, 2);
    expect(answer.products.map((p) => [p.productId, p.soldQuantity])).toEqual([
      [first.id, 2],
      [second.id, 1],
    ]);
  });
});
