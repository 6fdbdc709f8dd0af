/**
 * Flash-sale proofs for orders: many requests at once against real PostgreSQL and Redis,
 * then exact invariants. Each customer has their own session and client.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Customer, codeOf, settleCalls as settle, startTestAgora, type TestAgora, unbalancedWallets } from "../support/agora.ts";

let t: TestAgora;
beforeAll(async () => {
  t = await startTestAgora({ poolSize: 30 });
});
afterAll(() => t.close());

async function stockOf(productId: number): Promise<number> {
  return (await t.client().catalog.stock.query({ productId })).stock;
}

/** The books of the whole database: every wallet equals the sum of its ledger, none negative. */
const assertBooksBalance = async () => expect(await unbalancedWallets(t.db)).toEqual([]);

describe("flash sale on one product", () => {
  test("100 customers order 1 unit of a product with stock 30: exactly 30 win, stock 0, money moves once per winner", async () => {
    const product = await t.createProduct({ price: 9_900, stock: 30 });
    const customers = await t.signUpCustomers(100, "rush");
    await Promise.all(customers.map((c) => t.fund(c, 20_000)));

    const { results, tally } = await settle(customers.map((c) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] })));
    expect(tally).toEqual({ ok: 30, INSUFFICIENT_STOCK: 70 });
    expect(await stockOf(product.id)).toBe(0);

    const balances = await Promise.all(customers.map((c) => c.client.wallet.balance.query().then((b) => b.balance)));
    results.forEach((r, i) => {
      expect(balances[i]).toBe(r.status === "fulfilled" ? 10_100 : 20_000);
    });

    const paid = await t.db
      .selectFrom("outbox_events")
      .select("aggregate_id")
      .where("type", "=", "order.paid")
      .where("destination", "=", "data-platform")
      .execute();
    const winnerOrderIds = results.flatMap((r) => (r.status === "fulfilled" ? [String(r.value.orderId)] : []));
    expect(
      paid
        .map((e) => e.aggregate_id)
        .filter((id) => winnerOrderIds.includes(id))
        .sort(),
    ).toEqual(winnerOrderIds.sort());
    const orderRows = await t.db.selectFrom("order_lines").select("order_id").where("product_id", "=", product.id).execute();
    expect(orderRows).toHaveLength(30);
    const sales = await t.db
      .selectFrom("inventory_movements")
      .select("quantity_change")
      .where("product_id", "=", product.id)
      .where("kind", "=", "sale")
      .execute();
    expect(sales).toHaveLength(30);
    await assertBooksBalance();
  });
});

describe("the tail sent with the COMMIT (unread stock take)", () => {
  test("a rush across the low-stock threshold to sell-out: exact stock and movements, one low-stock event, refusals exact", async () => {
    const product = await t.createProduct({ price: 1_000, stock: 15, lowStockThreshold: 5 });
    const customers = await t.signUpCustomers(40, "tail");
    await Promise.all(customers.map((c) => t.fund(c, 5_000)));

    const { results, tally } = await settle(
      customers.map((c, i) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `tail-rush-${i}` })),
    );
    expect(tally).toEqual({ ok: 15, INSUFFICIENT_STOCK: 25 });
    for (const r of results) {
      // Refused in the unread tail or at the price: either way the exact answer of the careful path.
      if (r.status === "rejected") expect(JSON.stringify((r.reason as { data?: unknown }).data)).toContain('"availableStock":0');
    }
    expect(await stockOf(product.id)).toBe(0);
    const movements = await t.db
      .selectFrom("inventory_movements")
      .select(["quantity_change", "quantity_after", "order_id"])
      .where("product_id", "=", product.id)
      .where("kind", "=", "sale")
      .execute();
    expect(movements.map((m) => m.quantity_after).sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    const winners = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.orderId] : []));
    expect(movements.map((m) => m.order_id).sort()).toEqual([...winners].sort());

    // Crossing the threshold took the careful path once: exactly one event, whichever order crossed.
    const lowStock = await t.db
      .selectFrom("outbox_events")
      .select("payload")
      .where("type", "=", "inventory.low_stock")
      .where("aggregate_id", "=", String(product.id))
      .execute();
    expect(lowStock).toHaveLength(1);
    expect(lowStock[0]?.payload).toMatchObject({ productId: product.id, quantity: 4, threshold: 5 });

    // Nothing of a refused attempt stayed: no order, no key in progress, no money taken.
    const refusedKeys = await t.db.selectFrom("idempotency_keys").select("status").where("key", "like", "tail-rush-%").execute();
    expect(refusedKeys).toHaveLength(15);
    expect(refusedKeys.every((k) => k.status === "completed")).toBe(true);
    await assertBooksBalance();
  });
});

describe("sell-out with orders in flight", () => {
  test("orders whose unread tail finds the stock gone are refused from a fresh read: exact details, nothing kept, keys free", async () => {
    // Threshold 0: no low-stock crossing, so every tail refusal is short stock (the careful run refuses from its first read).
    const product = await t.createProduct({ price: 1_000, stock: 10, lowStockThreshold: 0 });
    const customers = await t.signUpCustomers(60, "sellout");
    await Promise.all(customers.map((c) => t.fund(c, 5_000)));

    const { results, tally } = await settle(
      customers.map((c, i) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `sellout-${i}` })),
    );
    expect(tally).toEqual({ ok: 10, INSUFFICIENT_STOCK: 50 });
    for (const r of results) {
      if (r.status === "rejected")
        expect((r.reason as { data?: { details?: unknown } }).data?.details).toEqual({
          insufficientItems: [{ productId: product.id, productName: expect.any(String), requestedQuantity: 1, availableStock: 0 }],
        });
    }
    expect(await stockOf(product.id)).toBe(0);
    // A refused order left nothing: no order row, no key (it may be used again), no money taken.
    const orders = await t.db.selectFrom("order_lines").select("order_id").where("product_id", "=", product.id).execute();
    expect(orders).toHaveLength(10);
    const keys = await t.db.selectFrom("idempotency_keys").select("status").where("key", "like", "sellout-%").execute();
    expect(keys.map((k) => k.status)).toEqual(Array(10).fill("completed"));
    const balances = await Promise.all(customers.map((c) => c.client.wallet.balance.query().then((b) => b.balance)));
    expect(balances.filter((b) => b === 4_000)).toHaveLength(10);
    expect(balances.filter((b) => b === 5_000)).toHaveLength(50);
    await assertBooksBalance();

    // The same key, refused, may be used again and is refused the same way (no stale answer kept).
    const loser = results.findIndex((r) => r.status === "rejected");
    expect(
      await codeOf(
        (customers[loser] as Customer).client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `sellout-${loser}` }),
      ),
    ).toBe("INSUFFICIENT_STOCK");
  });
});

describe("a sell-out, a restock, a second sell-out (the sold-out memory in between)", () => {
  test("the restock is sold exactly, at once: the memory never refuses stock this instance gave back, never sells what is not there", async () => {
    const admin = await t.admin();
    const product = await t.createProduct({ price: 1_000, stock: 5, lowStockThreshold: 0 });
    const customers = await t.signUpCustomers(40, "restock-rush");
    await Promise.all(customers.map((c) => t.fund(c, 5_000)));
    const rush = (from: number, to: number) =>
      settle(
        customers
          .slice(from, to)
          .map((c, i) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `restock-rush-${from + i}` })),
      );

    expect((await rush(0, 20)).tally).toEqual({ ok: 5, INSUFFICIENT_STOCK: 15 });
    expect(t.agora.services.catalog.soldOutFromMemory([product.id])).not.toBeNull();
    // Restocked while remembered sold out (the clock does not move): the next crowd buys exactly the 3 units.
    await admin.client.catalog.admin.inbound.mutate({ productId: product.id, quantity: 3 });
    expect((await rush(20, 40)).tally).toEqual({ ok: 3, INSUFFICIENT_STOCK: 17 });
    expect(await stockOf(product.id)).toBe(0);
    const sold = await t.db.selectFrom("order_lines").select("order_id").where("product_id", "=", product.id).execute();
    expect(sold).toHaveLength(8);
    const balances = await Promise.all(customers.map((c) => c.client.wallet.balance.query().then((b) => b.balance)));
    expect(balances.filter((b) => b === 4_000)).toHaveLength(8);
    expect(balances.filter((b) => b === 5_000)).toHaveLength(32);
    await assertBooksBalance();
  });
});

describe("one wallet under fire", () => {
  test("parallel charges and orders: final balance = charges − payments, never negative, ledger sums to balance", async () => {
    const c = await t.signUpCustomer("busywallet");
    const product = await t.createProduct({ price: 7_000, stock: 1_000 });
    await t.fund(c, 20_000);

    const charges = Array.from({ length: 20 }, () => c.client.wallet.charge.mutate({ amount: 10_000 }));
    const orders = Array.from({ length: 40 }, () => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] }));
    // Settled together: the client splits the 60 calls into batches (MAX_BATCH_CALLS), which answer at different moments.
    const [{ tally: chargeTally }, { tally: orderTally }] = await Promise.all([settle(charges), settle(orders)]);
    expect(chargeTally).toEqual({ ok: 20 });
    const placed = orderTally.ok ?? 0;
    expect(placed + (orderTally.INSUFFICIENT_BALANCE ?? 0)).toBe(40);

    const balance = (await c.client.wallet.balance.query()).balance;
    expect(balance).toBe(20_000 + 20 * 10_000 - placed * 7_000);
    expect(balance).toBeGreaterThanOrEqual(0);
    expect(await stockOf(product.id)).toBe(1_000 - placed);
    await assertBooksBalance();
  });
});

describe("deadlock freedom", () => {
  test("orders over overlapping products given in opposite orders all succeed, with no deadlock", async () => {
    const [a, b, c] = await Promise.all([
      t.createProduct({ price: 1_000, stock: 500 }),
      t.createProduct({ price: 1_000, stock: 500 }),
      t.createProduct({ price: 1_000, stock: 500 }),
    ]);
    const customers = await t.signUpCustomers(60, "overlap");
    await Promise.all(customers.map((cu) => t.fund(cu, 10_000)));
    const shapes = [
      [a.id, b.id, c.id],
      [c.id, b.id, a.id],
      [b.id, a.id],
      [c.id, a.id],
    ];
    const { tally } = await settle(
      customers.map((cu, i) =>
        cu.client.orders.place.mutate({ items: (shapes[i % shapes.length] as number[]).map((productId) => ({ productId, quantity: 1 })) }),
      ),
    );
    expect(tally).toEqual({ ok: 60 });
    // a is in every shape, b in 45 orders, c in 45.
    expect(await stockOf(a.id)).toBe(440);
    expect(await stockOf(b.id)).toBe(455);
    expect(await stockOf(c.id)).toBe(455);
  });

  test("parallel cancellations of one order refund once", async () => {
    const c = await t.signUpCustomer("doublecancel");
    await t.fund(c, 50_000);
    const product = await t.createProduct({ price: 15_000, stock: 10 });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 2 }] });
    const { tally } = await settle(Array.from({ length: 10 }, () => c.client.orders.cancel.mutate({ orderId: placed.orderId })));
    expect(tally).toEqual({ ok: 1, INVALID_ORDER_STATE: 9 });
    expect((await c.client.wallet.balance.query()).balance).toBe(50_000);
    expect(await stockOf(product.id)).toBe(10);
    const refunds = await t.db.selectFrom("wallet_ledger").select("amount").where("user_id", "=", c.id).where("kind", "=", "refund").execute();
    expect(refunds.map((r) => r.amount)).toEqual([30_000]);
  });
});

describe("idempotent placement", () => {
  test("10 parallel placements with one key create one order and charge once", async () => {
    const c: Customer = await t.signUpCustomer("samekey");
    await t.fund(c, 100_000);
    const product = await t.createProduct({ price: 12_000, stock: 50 });
    const input = { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: "flash-sale-click-0001" };
    const { results, tally } = await settle(Array.from({ length: 10 }, () => c.client.orders.place.mutate(input)));
    expect(tally).toEqual({ ok: 10 });
    const orderIds = new Set(results.map((r) => (r.status === "fulfilled" ? r.value.orderId : 0)));
    expect(orderIds.size).toBe(1);
    expect((await c.client.orders.mine.query({})).items).toHaveLength(1);
    expect((await c.client.wallet.balance.query()).balance).toBe(88_000);
    expect(await stockOf(product.id)).toBe(49);
  });
});
