/**
 * Orders placed at once, several per transaction (modules/orders/batch.ts): the same answers and
 * the same books as one order per transaction, with exact counts under concurrency, and every
 * order a batch cannot finish sent back to its own path (exact refusals, replays, events).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import pg from "pg";
import { settleCalls as settle, startTestAgora, type TestAgora, unbalancedWallets } from "../support/agora.ts";

/**
 * While set, a COMMIT reaches PostgreSQL and commits, and its answer is lost on the way back (as when
 * the connection drops at that moment). Installed before the pool opens: each pooled client binds
 * its `query` once (db/client.ts).
 */
let loseCommitAnswers: (() => Error) | null = null;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const sent = (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
  const lost = loseCommitAnswers;
  if (!lost || args[0] !== "commit") return sent;
  return Promise.resolve(sent).then(() => {
    throw lost();
  });
} as typeof originalQuery;

/** The driver's errors for a connection lost on the way: pg's own message, socket and stream errors with Node codes. */
const lostConnection = {
  "pg's 'Connection terminated'": () => new Error("Connection terminated unexpectedly"),
  "a socket reset (ECONNRESET)": () => Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", errno: -104, syscall: "read" }),
  // Neither a connection error the server knows (isConnectionError) nor PostgreSQL's answer.
  "a stream error with a Node code": () => Object.assign(new Error("Cannot call write after a stream was destroyed"), { code: "ERR_STREAM_DESTROYED" }),
};

let t: TestAgora;
beforeAll(async () => {
  // A small pool and one batch at a time: orders placed together queue and share transactions.
  t = await startTestAgora({ poolSize: 12, config: { orderBatchSize: 16, orderBatchConcurrency: 1 } });
});
afterAll(async () => {
  await t.close();
  pg.Client.prototype.query = originalQuery;
});

const stats = () => {
  const s = t.agora.services.orders.batchStats();
  if (!s) throw new Error("batches are off");
  return s;
};

/** The books of the whole database: every wallet equals the sum of its ledger, none negative. */
const assertBooksBalance = async () => expect(await unbalancedWallets(t.db)).toEqual([]);

/** The orders the customers have, whatever path placed them. */
async function ordersOf(customers: Array<{ id: number }>) {
  return t.db
    .selectFrom("order_orders")
    .select("user_id")
    .where(
      "user_id",
      "in",
      customers.map((c) => c.id),
    )
    .execute();
}

/** The product's low-stock events, as written for notifications. */
async function lowStockEventsOf(productId: number) {
  return t.db
    .selectFrom("outbox_events")
    .select("payload")
    .where("type", "=", "inventory.low_stock")
    .where("aggregate_id", "=", String(productId))
    .where("destination", "=", "notifications")
    .execute();
}

async function saleMovements(productId: number) {
  return t.db
    .selectFrom("inventory_movements")
    .select(["quantity_change", "quantity_after", "order_id"])
    .where("product_id", "=", productId)
    .where("kind", "=", "sale")
    .orderBy("id")
    .execute();
}

describe("orders placed at once share transactions", () => {
  test("40 customers at once on two products: every order paid once, in batches; stock, movements, ledger and events exact", async () => {
    const [a, b] = [await t.createProduct({ price: 1_500, stock: 100 }), await t.createProduct({ price: 2_500, stock: 100 })];
    const customers = await t.signUpCustomers(40, "batch");
    await Promise.all(customers.map((c) => t.fund(c, 10_000)));
    const before = stats();

    const { results, tally } = await settle(
      customers.map((c, i) =>
        c.client.orders.place.mutate({
          items:
            i % 2 === 0
              ? [{ productId: (a as { id: number }).id, quantity: 2 }]
              : [
                  { productId: (b as { id: number }).id, quantity: 1 },
                  { productId: (a as { id: number }).id, quantity: 1 },
                ],
        }),
      ),
    );
    expect(tally).toEqual({ ok: 40 });
    const after = stats();
    expect(after.placed - before.placed).toBe(40);
    expect(after.largest).toBeGreaterThan(1);
    expect(after.committed - before.committed).toBeLessThan(40);

    // 20 orders × 2 of a, 20 orders × 1 of a and 1 of b.
    expect((await t.client().catalog.stock.query({ productId: (a as { id: number }).id })).stock).toBe(40);
    expect((await t.client().catalog.stock.query({ productId: (b as { id: number }).id })).stock).toBe(80);

    // One movement per order line, written in order: each one's quantity after is the one before it less its change.
    const movesA = await saleMovements((a as { id: number }).id);
    expect(movesA).toHaveLength(40);
    let expected = 100;
    for (const move of movesA) {
      expected += move.quantity_change;
      expect(move.quantity_after).toBe(expected);
    }
    expect(expected).toBe(40);
    const orderIds = results.map((r) => (r.status === "fulfilled" ? r.value.orderId : 0));
    expect(new Set(movesA.map((m) => Number(m.order_id)))).toEqual(new Set(orderIds));

    // Each answer's balance is the customer's balance; each wallet paid once.
    for (const [i, c] of customers.entries()) {
      const r = results[i];
      if (r?.status !== "fulfilled") throw new Error("unreachable");
      const balance = (await c.client.wallet.balance.query()).balance;
      expect(r.value.remainingBalance).toBe(balance);
      expect(balance).toBe(i % 2 === 0 ? 7_000 : 6_000);
      expect(r.value.status).toBe("paid");
      expect(r.value.finalAmount).toBe(i % 2 === 0 ? 3_000 : 4_000);
    }
    const lines = await t.db.selectFrom("order_lines").select(["order_id"]).where("order_id", "in", orderIds).execute();
    expect(lines).toHaveLength(60);
    const payments = await t.db.selectFrom("order_payments").select(["order_id", "amount", "method"]).where("order_id", "in", orderIds).execute();
    expect(payments).toHaveLength(40);
    expect(payments.every((p) => p.method === "wallet")).toBe(true);
    const paidEvents = await t.db
      .selectFrom("outbox_events")
      .select("aggregate_id")
      .where("type", "=", "order.paid")
      .where("destination", "=", "data-platform")
      .where(
        "aggregate_id",
        "in",
        orderIds.map((id) => String(id)),
      )
      .execute();
    expect(paidEvents).toHaveLength(40);
    const pendingSales = await sql<{ units: number }>`
      select coalesce(sum(sold_quantity), 0)::int as units from sales_pending where product_id = ${(a as { id: number }).id}`.execute(t.db);
    const rolledUp = await sql<{ units: number }>`
      select coalesce(sum(sold_quantity), 0)::int as units from sales_daily where product_id = ${(a as { id: number }).id}`.execute(t.db);
    expect((pendingSales.rows[0]?.units ?? 0) + (rolledUp.rows[0]?.units ?? 0)).toBe(60);
    await assertBooksBalance();
  });

  test("customers who cannot pay are refused exactly and changed nothing; the rest of their batches are placed", async () => {
    const product = await t.createProduct({ price: 4_000, stock: 100 });
    const customers = await t.signUpCustomers(24, "short");
    // Every third customer has 3,000 won: short by 1,000.
    await Promise.all(customers.map((c, i) => t.fund(c, i % 3 === 0 ? 3_000 : 10_000)));
    const before = stats();
    const { codes, tally } = await settle(customers.map((c) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] })));
    expect(tally).toEqual({ ok: 16, INSUFFICIENT_BALANCE: 8 });
    codes.forEach((code, i) => {
      expect(code).toBe(i % 3 === 0 ? "INSUFFICIENT_BALANCE" : "ok");
    });
    expect(stats().ranAlone - before.ranAlone).toBeGreaterThanOrEqual(8);
    expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(84);
    const balances = await Promise.all(customers.map((c) => c.client.wallet.balance.query().then((b) => b.balance)));
    balances.forEach((balance, i) => {
      expect(balance).toBe(i % 3 === 0 ? 3_000 : 6_000);
    });
    expect(await ordersOf(customers)).toHaveLength(16);
    await assertBooksBalance();
  });

  test("a rush that sells out in a batch: exactly the stock is sold, the rest refused with INSUFFICIENT_STOCK, one low-stock event", async () => {
    const product = await t.createProduct({ price: 1_000, stock: 12, lowStockThreshold: 4 });
    const customers = await t.signUpCustomers(30, "sellout");
    await Promise.all(customers.map((c) => t.fund(c, 5_000)));
    const { tally } = await settle(customers.map((c) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] })));
    expect(tally).toEqual({ ok: 12, INSUFFICIENT_STOCK: 18 });
    expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(0);
    const moves = await saleMovements(product.id);
    expect(moves.map((m) => m.quantity_after)).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    const lowStock = await lowStockEventsOf(product.id);
    expect(lowStock).toHaveLength(1);
    expect(lowStock[0]?.payload).toMatchObject({ productId: product.id, quantity: 3, threshold: 4 });
    await assertBooksBalance();
  });

  test("a batch that would cross the low-stock threshold goes back to its orders' own path, which announces the crossing once", async () => {
    // Enough stock for all: only the threshold (15) sends orders back.
    const product = await t.createProduct({ price: 1_000, stock: 20, lowStockThreshold: 15 });
    const customers = await t.signUpCustomers(8, "threshold");
    await Promise.all(customers.map((c) => t.fund(c, 5_000)));
    const before = stats();
    const { tally } = await settle(customers.map((c) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] })));
    expect(tally).toEqual({ ok: 8 });
    expect(stats().refusals).toBeGreaterThan(before.refusals);
    expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(12);
    expect((await saleMovements(product.id)).map((m) => m.quantity_after)).toEqual([19, 18, 17, 16, 15, 14, 13, 12]);
    const lowStock = await lowStockEventsOf(product.id);
    expect(lowStock).toHaveLength(1);
    expect(lowStock[0]?.payload).toMatchObject({ productId: product.id, quantity: 14, threshold: 15 });
  });

  test("a customer whose wallet another transaction holds goes alone; the rest of the batch is placed without waiting", async () => {
    const product = await t.createProduct({ price: 1_000, stock: 100 });
    const [held, ...others] = await t.signUpCustomers(9, "held-wallet");
    if (!held) throw new Error("unreachable");
    await Promise.all([held, ...others].map((c) => t.fund(c, 5_000)));
    const holder = new pg.Client({ connectionString: t.database.url });
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM wallet_accounts WHERE user_id = $1 FOR UPDATE", [held.id]);
    let heldOrder: Promise<unknown>;
    let placed: Array<{ status: string }>;
    try {
      heldOrder = held.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] });
      await Bun.sleep(50);
      placed = await Promise.all(others.map((c) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] })));
    } finally {
      await holder.query("ROLLBACK");
      await holder.end();
    }
    expect(placed.map((p) => p.status)).toEqual(Array(8).fill("paid"));
    expect(await heldOrder).toMatchObject({ status: "paid", remainingBalance: 4_000 });
    expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(91);
    await assertBooksBalance();
  });

  test("keyed orders: each key keeps its own answer; retries, at once or later, replay it and place nothing more", async () => {
    const product = await t.createProduct({ price: 1_000, stock: 100 });
    const customers = await t.signUpCustomers(12, "keyed");
    await Promise.all(customers.map((c) => t.fund(c, 5_000)));
    const place = (i: number) =>
      (customers[i] as (typeof customers)[number]).client.orders.place.mutate({
        items: [{ productId: product.id, quantity: 1 }],
        idempotencyKey: `batch-key-${i}-${product.id}`,
      });
    // Every customer sends the same request twice at once.
    const firstRound = await Promise.all(customers.flatMap((_, i) => [place(i), place(i)]));
    for (let i = 0; i < customers.length; i++) expect(firstRound[2 * i]).toEqual(firstRound[2 * i + 1] as (typeof firstRound)[number]);
    const retried = await Promise.all(customers.map((_, i) => place(i)));
    retried.forEach((answer, i) => {
      expect(answer).toEqual(firstRound[2 * i] as (typeof firstRound)[number]);
    });
    expect(new Set(retried.map((a) => a.orderId)).size).toBe(12);
    expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(88);
    const balances = await Promise.all(customers.map((c) => c.client.wallet.balance.query().then((b) => b.balance)));
    expect(balances.every((b) => b === 4_000)).toBe(true);
    await assertBooksBalance();
  });

  test("a batched order's key names its order, and a retry after the order was cancelled and the wallet moved rebuilds the first answer exactly", async () => {
    const product = await t.createProduct({ price: 1_500, stock: 100 });
    const customers = await t.signUpCustomers(10, "rebuilt");
    await Promise.all(customers.map((c) => t.fund(c, 6_000)));
    const before = stats();
    const place = (i: number) =>
      (customers[i] as (typeof customers)[number]).client.orders.place.mutate({
        items: [{ productId: product.id, quantity: 2 }],
        idempotencyKey: `rebuilt-${i}-${product.id}`,
      });
    const first = await Promise.all(customers.map((_, i) => place(i)));
    expect(stats().placed - before.placed).toBeGreaterThan(1);
    // Written once, completed, naming the order: no answer stored to update.
    const keys = await t.db
      .selectFrom("idempotency_keys")
      .select(["user_id", "status", "response"])
      .where(
        "user_id",
        "in",
        customers.map((c) => c.id),
      )
      .where("scope", "=", "orders.place")
      .execute();
    const byUser = new Map(keys.map((k) => [Number(k.user_id), k]));
    const batched = first.filter((answer, i) => {
      const key = byUser.get((customers[i] as (typeof customers)[number]).id);
      expect(key?.status).toBe("completed");
      return Bun.deepEquals(key?.response, { reference: { kind: "order", id: answer.orderId } });
    });
    expect(batched.length).toBe(stats().placed - before.placed);
    // Each order cancelled (money back) and the wallet charged again: neither changes the replay.
    for (const [i, answer] of first.entries()) {
      const client = (customers[i] as (typeof customers)[number]).client;
      await client.orders.cancel.mutate({ orderId: answer.orderId, reason: "changed my mind" });
      await t.fund(customers[i] as (typeof customers)[number], 1_000);
    }
    const retried = await Promise.all(customers.map((_, i) => place(i)));
    expect(retried).toEqual(first);
    expect(first.every((answer) => answer.remainingBalance === 3_000 && answer.status === "paid")).toBe(true);
    expect(await ordersOf(customers)).toHaveLength(10);
    await assertBooksBalance();
  });

  test.each(Object.entries(lostConnection))(
    "a COMMIT whose answer is lost (%s) is each order's answer: orders that may be placed are never placed again",
    async (_, lose) => {
      const product = await t.createProduct({ price: 1_000, stock: 50 });
      const customers = await t.signUpCustomers(6, "lost-commit");
      await Promise.all(customers.map((c) => t.fund(c, 5_000)));
      const before = stats();
      let outcomes: Awaited<ReturnType<typeof settle>>;
      loseCommitAnswers = lose;
      try {
        outcomes = await settle(customers.map((c) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] })));
      } finally {
        loseCommitAnswers = null;
      }
      expect(outcomes.tally.ok ?? 0).toBe(0);
      expect(stats().failed - before.failed).toBeGreaterThan(0);
      // Each customer's order was committed once, and paid once: nothing ran twice.
      expect(await ordersOf(customers)).toHaveLength(6);
      const balances = await Promise.all(customers.map((c) => c.client.wallet.balance.query().then((b) => b.balance)));
      expect(balances).toEqual([4_000, 4_000, 4_000, 4_000, 4_000, 4_000]);
      expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(44);
      await assertBooksBalance();
    },
  );

  test("orders placed together read their products and default addresses together: each order has its own price, name and address", async () => {
    const products = await Promise.all(Array.from({ length: 10 }, (_, i) => t.createProduct({ price: 1_000 + 100 * i, stock: 50, name: `Shared read ${i}` })));
    const customers = await t.signUpCustomers(30, "shared-reads");
    await Promise.all(customers.map((c) => t.fund(c, 10_000)));
    // Two of every three customers have a default address of their own; the third has none.
    await Promise.all(
      customers.map((c, i) =>
        i % 3 === 2 ? null : c.client.addresses.add.mutate({ label: "home", recipient: `Recipient ${c.id}`, address: `${c.id} Shared Street` }),
      ),
    );
    const placed = await Promise.all(
      customers.map((c, i) => c.client.orders.place.mutate({ items: [{ productId: (products[i % 10] as { id: number }).id, quantity: 1 }] })),
    );
    for (const [i, c] of customers.entries()) {
      const order = await c.client.orders.get.query({ orderId: (placed[i] as { orderId: number }).orderId });
      expect(order.finalAmount).toBe(1_000 + 100 * (i % 10));
      expect(order.lines.map((l) => l.productName)).toEqual([`Shared read ${i % 10}`]);
      expect(order.shippingAddress).toBe(i % 3 === 2 ? null : `Recipient ${c.id}\n${c.id} Shared Street`);
    }
  });

  test("orders a batch does not take (a coupon, a card, the cart) are placed on their own path as before", async () => {
    const product = await t.createProduct({ price: 2_000, stock: 10 });
    const customer = await t.signUpCustomer("cart");
    await t.fund(customer, 10_000);
    await customer.client.cart.addItem.mutate({ productId: product.id, quantity: 2 });
    const before = stats();
    const placed = await customer.client.orders.place.mutate({});
    expect(placed.finalAmount).toBe(4_000);
    const after = stats();
    expect(after.committed).toBe(before.committed);
    expect(after.placed).toBe(before.placed);
    expect((await customer.client.cart.get.query()).items).toEqual([]);
  });
});

describe("with ORDER_BATCH_SIZE 1", () => {
  test("there is no batcher, and orders are placed one per transaction as before", async () => {
    const single = await startTestAgora({ sharedRedis: t.redis ?? undefined, config: { orderBatchSize: 1 } });
    try {
      expect(single.agora.services.orders.batchStats()).toBeNull();
      const product = await single.createProduct({ price: 1_000, stock: 5 });
      const customers = await single.signUpCustomers(8, "single");
      await Promise.all(customers.map((c) => single.fund(c, 2_000)));
      const results = await Promise.allSettled(customers.map((c) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] })));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(5);
      expect((await single.client().catalog.stock.query({ productId: product.id })).stock).toBe(0);
    } finally {
      await single.close();
    }
  });
});
