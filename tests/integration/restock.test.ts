/**
 * Restock sign-ups and back-in-stock notifications through the outbox: a customer asks to hear
 * about an out-of-stock product; when stock comes back from zero, every open sign-up gets exactly
 * one `inventory.back_in_stock` outbox row (written in the same transaction) and is closed.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "kysely";
import { type Customer, codeOf, errorOf, startTestAgora, type TestAgora } from "../support/agora.ts";

setDefaultTimeout(20_000);

let t: TestAgora;
let admin: Customer;
beforeAll(async () => {
  t = await startTestAgora();
  admin = await t.admin();
});
afterAll(() => t.close());

/** back_in_stock outbox rows for a product, found by type and payload. */
async function notices(productId: number) {
  const rows = await t.db
    .selectFrom("outbox_events")
    .select(["aggregate_type", "aggregate_id", "payload", "status", "created_at"])
    .where("type", "=", "inventory.back_in_stock")
    .where(sql<string>`payload->>'productId'`, "=", String(productId))
    .orderBy(sql`(payload->>'signupId')::int8`)
    .execute();
  return rows.map((r) => ({ ...r, payload: r.payload as { productId: number; userId: number; channel: string; signupId: number } }));
}

function signups(productId: number) {
  return t.db
    .selectFrom("inventory_restock_subscriptions")
    .select(["id", "user_id", "channel", "notified_at"])
    .where("product_id", "=", productId)
    .orderBy("id")
    .execute();
}

async function counts() {
  const [subs, outbox] = await Promise.all(
    (["inventory_restock_subscriptions", "outbox_events"] as const).map(async (table) => {
      const row = await t.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }),
  );
  return { subs, outbox };
}

const inbound = (productId: number, quantity: number) => admin.client.catalog.admin.inbound.mutate({ productId, quantity, reason: "restock" });
const soldOut = () => t.createProduct({ name: "Sold-out sneakers", price: 120_000, stock: 0 });

describe("signing up", () => {
  test("a customer signs up for an out-of-stock product (email by default, or sms)", async () => {
    const product = await soldOut();
    const [a, b] = (await t.signUpCustomers(2, "waiter")) as [Customer, Customer];
    const first = await a.client.catalog.signUpForRestock.mutate({ productId: product.id });
    expect(first).toEqual({ signupId: expect.any(Number), productId: product.id, channel: "email" });
    const second = await b.client.catalog.signUpForRestock.mutate({ productId: product.id, channel: "sms" });
    expect(second).toEqual({ signupId: expect.any(Number), productId: product.id, channel: "sms" });
    expect(await signups(product.id)).toEqual([
      { id: first.signupId, user_id: a.id, channel: "email", notified_at: null },
      { id: second.signupId, user_id: b.id, channel: "sms", notified_at: null },
    ]);
  });

  test("PRODUCT_IN_STOCK when the product is in stock; nothing written", async () => {
    const product = await t.createProduct({ stock: 3 });
    const c = await t.signUpCustomer("early");
    const before = await counts();
    const error = await errorOf(c.client.catalog.signUpForRestock.mutate({ productId: product.id }));
    expect(error.data).toMatchObject({ code: "CONFLICT", httpStatus: 409, domainCode: "PRODUCT_IN_STOCK", details: { productId: product.id, stock: 3 } });
    expect(await counts()).toEqual(before);
  });

  test("ALREADY_SUBSCRIBED the second time (on any channel); nothing written", async () => {
    const product = await soldOut();
    const c = await t.signUpCustomer("eager");
    await c.client.catalog.signUpForRestock.mutate({ productId: product.id });
    const before = await counts();
    for (const channel of ["email", "sms"] as const) {
      const error = await errorOf(c.client.catalog.signUpForRestock.mutate({ productId: product.id, channel }));
      expect(error.data).toMatchObject({ code: "CONFLICT", domainCode: "ALREADY_SUBSCRIBED", details: { productId: product.id } });
    }
    expect(await counts()).toEqual(before);
    expect(await signups(product.id)).toHaveLength(1);
  });

  test("hidden or unknown products are PRODUCT_NOT_FOUND; a visitor must log in; a bad channel is BAD_REQUEST", async () => {
    const hidden = await soldOut();
    await admin.client.catalog.admin.setStatus.mutate({ productId: hidden.id, status: "hidden" });
    const c = await t.signUpCustomer("curious");
    const before = await counts();
    expect(await codeOf(c.client.catalog.signUpForRestock.mutate({ productId: hidden.id }))).toBe("PRODUCT_NOT_FOUND");
    expect(await codeOf(c.client.catalog.signUpForRestock.mutate({ productId: 987_654 }))).toBe("PRODUCT_NOT_FOUND");
    const visible = await soldOut();
    expect(await codeOf(t.client().catalog.signUpForRestock.mutate({ productId: visible.id }))).toBe("UNAUTHENTICATED");
    const bad = await errorOf(c.client.catalog.signUpForRestock.mutate({ productId: visible.id, channel: "pigeon" as never }));
    expect(bad.data).toMatchObject({ code: "BAD_REQUEST", domainCode: "VALIDATION_FAILED" });
    expect(await counts()).toEqual(before);
  });
});

describe("back in stock", () => {
  test("inbound from 0 writes one back_in_stock outbox row per open sign-up and closes them; a second inbound writes none", async () => {
    const product = await soldOut();
    const untouched = await soldOut();
    const customers = (await t.signUpCustomers(3, "notify")) as [Customer, Customer, Customer];
    const ids: number[] = [];
    for (const [i, c] of customers.entries())
      ids.push((await c.client.catalog.signUpForRestock.mutate({ productId: product.id, channel: i === 1 ? "sms" : "email" })).signupId);
    const bystander = await customers[0].client.catalog.signUpForRestock.mutate({ productId: untouched.id });
    expect(await notices(product.id)).toEqual([]);

    t.clock.advance(60_000);
    const level = await inbound(product.id, 5);
    expect(level).toMatchObject({ productId: product.id, stock: 5, inStock: true });

    const rows = await notices(product.id);
    expect(rows.map((r) => ({ aggregate: [r.aggregate_type, r.aggregate_id], payload: r.payload, status: r.status, createdAt: r.created_at }))).toEqual(
      customers.map((c, i) => ({
        aggregate: ["restock_signup", String(ids[i])],
        payload: { productId: product.id, userId: c.id, channel: i === 1 ? "sms" : "email", signupId: ids[i] as number },
        status: "pending",
        createdAt: t.clock.now(),
      })),
    );
    expect((await signups(product.id)).map((s) => [s.id, s.notified_at])).toEqual(ids.map((id) => [id, t.clock.now()]));
    // Another product's sign-up stays open, and nothing was written for it.
    expect(await signups(untouched.id)).toEqual([{ id: bystander.signupId, user_id: customers[0].id, channel: "email", notified_at: null }]);
    expect(await notices(untouched.id)).toEqual([]);

    // 5 → 8 is not "back from zero": no new rows.
    const before = await counts();
    await inbound(product.id, 3);
    expect(await notices(product.id)).toHaveLength(3);
    expect(await counts()).toEqual(before);
  });

  test("inbound from 0 with no sign-ups writes nothing", async () => {
    const product = await soldOut();
    const before = await counts();
    await inbound(product.id, 2);
    expect(await counts()).toEqual(before);
  });

  test("once out of stock again, sign-ups are accepted again and only the new ones are notified next time", async () => {
    const product = await soldOut();
    const [a, b] = (await t.signUpCustomers(2, "again")) as [Customer, Customer];
    await a.client.catalog.signUpForRestock.mutate({ productId: product.id });
    await inbound(product.id, 2);
    expect(await notices(product.id)).toHaveLength(1);

    // In stock: a (already notified) and b are refused.
    expect(await codeOf(a.client.catalog.signUpForRestock.mutate({ productId: product.id }))).toBe("PRODUCT_IN_STOCK");
    expect(await codeOf(b.client.catalog.signUpForRestock.mutate({ productId: product.id }))).toBe("PRODUCT_IN_STOCK");

    // Sold out again (a customer buys the last two units).
    await t.fund(b, 300_000);
    const placed = await b.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 2 }] });
    expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(0);
    const again = await a.client.catalog.signUpForRestock.mutate({ productId: product.id });
    expect(again.productId).toBe(product.id);
    expect(await codeOf(a.client.catalog.signUpForRestock.mutate({ productId: product.id }))).toBe("ALREADY_SUBSCRIBED");
    expect((await signups(product.id)).map((s) => [s.user_id, s.notified_at === null])).toEqual([
      [a.id, false],
      [a.id, true],
    ]);

    // Stock back from zero through a cancellation (stock released) notifies the new sign-up only.
    await b.client.orders.cancel.mutate({ orderId: placed.orderId });
    const rows = await notices(product.id);
    expect(rows).toHaveLength(2);
    expect(rows[1]?.payload).toEqual({ productId: product.id, userId: a.id, channel: "email", signupId: again.signupId });
    expect((await signups(product.id)).every((s) => s.notified_at !== null)).toBe(true);
  });

  test("parallel inbounds from 0: each sign-up is notified exactly once", async () => {
    const product = await soldOut();
    const customers = await t.signUpCustomers(10, "parallel");
    for (const c of customers) await c.client.catalog.signUpForRestock.mutate({ productId: product.id });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => inbound(product.id, 1)));
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
    expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(8);
    const rows = await notices(product.id);
    expect(rows.map((r) => r.payload.userId).sort((x, y) => x - y)).toEqual(customers.map((c) => c.id).sort((x, y) => x - y));
  });

  test("a refused stock change writes no notification and keeps the sign-ups open", async () => {
    const product = await soldOut();
    const c = await t.signUpCustomer("patient");
    await c.client.catalog.signUpForRestock.mutate({ productId: product.id });
    const before = await counts();
    expect(await codeOf(admin.client.catalog.admin.outbound.mutate({ productId: product.id, quantity: 1 }))).toBe("INVALID_STOCK_CHANGE");
    expect(await counts()).toEqual(before);
    expect((await signups(product.id)).map((s) => s.notified_at)).toEqual([null]);
  });
});
