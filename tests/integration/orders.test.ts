import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import superjson from "superjson";
import { inTransaction } from "../../db/index.ts";
import { purgeKeysOlderThan } from "../../modules/idempotency/index.ts";
import { type Customer, codeOf, errorOf, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
beforeAll(async () => {
  t = await startTestAgora({ config: { orderPaymentWindowMinutes: 10, soldOutMemoryMs: 1_000 } });
});
afterAll(() => t.close());

async function stockOf(productId: number): Promise<number> {
  return (await t.client().catalog.stock.query({ productId })).stock;
}
async function balanceOf(c: Customer): Promise<number> {
  return (await c.client.wallet.balance.query()).balance;
}
async function count(table: "order_orders" | "outbox_events" | "wallet_ledger"): Promise<number> {
  const row = await t.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe("placing an order (one transaction)", () => {
  test("pays from the wallet, takes stock, writes lines, payment, ledger and an order.paid outbox row", async () => {
    const c = await t.signUpCustomer("buyer");
    await t.fund(c, 100_000);
    const a = await t.createProduct({ price: 12_000, stock: 10 });
    const b = await t.createProduct({ price: 3_500, stock: 5 });

    const placed = await c.client.orders.place.mutate({
      items: [
        { productId: a.id, quantity: 2 },
        { productId: b.id, quantity: 3 },
      ],
    });
    expect(placed).toMatchObject({ status: "paid", subtotalAmount: 34_500, discountAmount: 0, finalAmount: 34_500, remainingBalance: 65_500 });
    expect(await stockOf(a.id)).toBe(8);
    expect(await stockOf(b.id)).toBe(2);
    expect(await balanceOf(c)).toBe(65_500);

    const order = await c.client.orders.get.query({ orderId: placed.orderId });
    expect(order.lines.map((l) => [l.productId, l.quantity, l.lineAmount])).toEqual([
      [a.id, 2, 24_000],
      [b.id, 3, 10_500],
    ]);
    expect(order.payment).toMatchObject({ method: "wallet", amount: 34_500, status: "paid" });

    const events = await t.db
      .selectFrom("outbox_events")
      .select(["type", "destination", "payload"])
      .where("aggregate_id", "=", String(placed.orderId))
      .orderBy("destination")
      .execute();
    // One row per destination, each with its own retries; none for the webhooks fan-out, as no endpoint wants it.
    expect(events.map((e) => [e.type, e.destination])).toEqual([
      ["order.paid", "data-platform"],
      ["order.paid", "notifications"],
      ["order.paid", "shipping"],
    ]);
    // The same shape whichever flow paid it: exactly these fields.
    expect(Object.keys(events[0]?.payload as object).sort()).toEqual([
      "discountAmount",
      "finalAmount",
      "items",
      "orderId",
      "paidAt",
      "payments",
      "subtotalAmount",
      "userId",
    ]);
    expect(events[0]?.payload).toMatchObject({ finalAmount: 34_500, payments: [{ method: "wallet", amount: 34_500 }] });

    const ledger = await c.client.wallet.history.query({});
    expect(ledger.items[0]).toMatchObject({ kind: "payment", amount: -34_500, balanceAfter: 65_500, orderId: placed.orderId });
  });

  test("from the cart: buys every line and removes them from the cart", async () => {
    const c = await t.signUpCustomer("cartbuyer");
    await t.fund(c, 50_000);
    const p = await t.createProduct({ price: 5_000, stock: 10 });
    await c.client.cart.addItem.mutate({ productId: p.id, quantity: 2 });
    const placed = await c.client.orders.place.mutate({});
    expect(placed.finalAmount).toBe(10_000);
    expect((await c.client.cart.get.query()).items).toHaveLength(0);
    expect(await codeOf(c.client.orders.place.mutate({}))).toBe("CART_EMPTY");
  });

  test("INSUFFICIENT_STOCK names every short item and changes nothing", async () => {
    const c = await t.signUpCustomer("short");
    await t.fund(c, 500_000);
    const laptop = await t.createProduct({ name: "노트북", price: 10_000, stock: 2 });
    const ordersBefore = await count("order_orders");

    const error = await errorOf(c.client.orders.place.mutate({ items: [{ productId: laptop.id, quantity: 5 }] }));
    expect(error.data.domainCode).toBe("INSUFFICIENT_STOCK");
    expect(error.data.ref).toBe("P002");
    expect(error.data.httpStatus).toBe(400);
    expect(error.data.details).toEqual({ insufficientItems: [{ productId: laptop.id, productName: "노트북", requestedQuantity: 5, availableStock: 2 }] });
    expect(await stockOf(laptop.id)).toBe(2);
    expect(await balanceOf(c)).toBe(500_000);
    expect(await count("order_orders")).toBe(ordersBefore);
  });

  test("INSUFFICIENT_BALANCE tells the required amount, the balance and the shortfall, and changes nothing", async () => {
    const c = await t.signUpCustomer("poor");
    await t.fund(c, 30_000);
    const p = await t.createProduct({ price: 100_000, stock: 3 });
    const ledgerBefore = await count("wallet_ledger");

    const error = await errorOf(c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] }));
    expect(error.data.domainCode).toBe("INSUFFICIENT_BALANCE");
    expect(error.data.ref).toBe("PAY001");
    expect(error.data.details).toEqual({ requiredAmount: 100_000, currentBalance: 30_000, shortfall: 70_000 });
    expect(await stockOf(p.id)).toBe(3);
    expect(await balanceOf(c)).toBe(30_000);
    expect(await count("wallet_ledger")).toBe(ledgerBefore);
  });

  test("an unknown or hidden product is PRODUCT_NOT_FOUND", async () => {
    const c = await t.signUpCustomer("ghost");
    await t.fund(c, 10_000);
    const hidden = await t.createProduct({ price: 1_000, stock: 3 });
    await (await t.admin()).client.catalog.admin.setStatus.mutate({ productId: hidden.id, status: "hidden" });
    expect(await codeOf(c.client.orders.place.mutate({ items: [{ productId: hidden.id, quantity: 1 }] }))).toBe("PRODUCT_NOT_FOUND");
    expect(await codeOf(c.client.orders.place.mutate({ items: [{ productId: 9_999_999, quantity: 1 }] }))).toBe("PRODUCT_NOT_FOUND");
  });

  test("with a coupon: the discount is taken, the coupon is used, and cannot be used again", async () => {
    const admin = await t.admin();
    const c = await t.signUpCustomer("couponbuyer");
    await t.fund(c, 100_000);
    const p = await t.createProduct({ price: 40_000, stock: 10 });
    const coupon = await admin.client.coupons.admin.create.mutate({
      name: "10% off, at most 3,000",
      discountType: "percent",
      discountValue: 10,
      maxDiscountAmount: 3_000,
      minOrderAmount: 20_000,
      totalQuantity: 10,
      issueStartsAt: new Date(t.clock.now().getTime() - 1000),
      issueEndsAt: new Date(t.clock.now().getTime() + 86_400_000),
      validDays: 7,
    });
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }], userCouponId: issued.userCouponId });
    expect(placed).toMatchObject({ subtotalAmount: 40_000, discountAmount: 3_000, finalAmount: 37_000, remainingBalance: 63_000 });
    expect(await codeOf(c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }], userCouponId: issued.userCouponId }))).toBe(
      "COUPON_ALREADY_USED",
    );
    expect(await balanceOf(c)).toBe(63_000);
  });
});

describe("idempotency", () => {
  test("a retry with the same key returns the first result; a different request with it is refused", async () => {
    const c = await t.signUpCustomer("retry");
    await t.fund(c, 100_000);
    const p = await t.createProduct({ price: 10_000, stock: 10 });
    const first = await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }], idempotencyKey: "order-key-0001" });
    const again = await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }], idempotencyKey: "order-key-0001" });
    expect(again).toEqual(first);
    expect(await stockOf(p.id)).toBe(9);
    expect(await balanceOf(c)).toBe(90_000);
    expect(await codeOf(c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 2 }], idempotencyKey: "order-key-0001" }))).toBe(
      "IDEMPOTENCY_KEY_REUSED",
    );
    // Keys are scoped to the customer: another customer's same key is a new order.
    const other = await t.signUpCustomer("retry2");
    await t.fund(other, 10_000);
    const theirs = await other.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }], idempotencyKey: "order-key-0001" });
    expect(theirs.orderId).not.toBe(first.orderId);
  });

  test("a retry of an order that took the last unit replays it, though the product is now sold out", async () => {
    // Orders are priced before their transaction, so a sold-out refusal costs no transaction; with
    // a key already used, the refusal must not replace the first answer.
    const c = await t.signUpCustomer("last-unit");
    await t.fund(c, 100_000);
    const p = await t.createProduct({ price: 10_000, stock: 1 });
    const input = { items: [{ productId: p.id, quantity: 1 }], idempotencyKey: "order-key-last-unit" };
    const first = await c.client.orders.place.mutate(input);
    expect(await stockOf(p.id)).toBe(0);
    expect(await c.client.orders.place.mutate(input)).toEqual(first);
    // Without the key it is a new order, refused.
    expect(await codeOf(c.client.orders.place.mutate({ items: input.items }))).toBe("INSUFFICIENT_STOCK");
    // A used key with a different request that is refused anyway is still told the key was reused.
    expect(await codeOf(c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 2 }], idempotencyKey: input.idempotencyKey }))).toBe(
      "IDEMPOTENCY_KEY_REUSED",
    );
    expect(await balanceOf(c)).toBe(90_000);
  });
});

describe("the key claimed in the order's own insert", () => {
  test("a keyed two-step order: a retry replays the pending order, parallel retries make one, a different request is refused", async () => {
    const c = await t.signUpCustomer("create-key");
    await t.fund(c, 100_000);
    const p = await t.createProduct({ price: 10_000, stock: 10 });
    const input = { items: [{ productId: p.id, quantity: 2 }], idempotencyKey: "create-key-0001" };
    const first = await c.client.orders.create.mutate(input);
    expect(first.status).toBe("pending_payment");
    expect(await c.client.orders.create.mutate(input)).toEqual(first);
    // Several at once with a new key: the statements that waited on the first claim replay it.
    const parallel = await Promise.all(Array.from({ length: 6 }, () => c.client.orders.create.mutate({ ...input, idempotencyKey: "create-key-0002" })));
    expect(new Set(parallel.map((o) => o.orderId)).size).toBe(1);
    expect(parallel[0]?.orderId).not.toBe(first.orderId);
    expect(await stockOf(p.id)).toBe(6);
    expect(await codeOf(c.client.orders.create.mutate({ items: [{ productId: p.id, quantity: 1 }], idempotencyKey: input.idempotencyKey }))).toBe(
      "IDEMPOTENCY_KEY_REUSED",
    );
    // A refused retry wrote nothing: still two orders, one key each, completed.
    const orders = await t.db.selectFrom("order_orders").select("id").where("user_id", "=", c.id).execute();
    expect(orders).toHaveLength(2);
    const keys = await t.db
      .selectFrom("idempotency_keys")
      .select(["key", "status"])
      .where("user_id", "=", c.id)
      .where("scope", "=", "orders.create")
      .orderBy("key")
      .execute();
    expect(keys).toEqual([
      { key: "create-key-0001", status: "completed" },
      { key: "create-key-0002", status: "completed" },
    ]);
    expect(await balanceOf(c)).toBe(100_000);
  });
});

describe("a key the order's statement could not see", () => {
  test("claimed by another transaction while the statement waits: its answer replayed, another request refused, a rollback leaves the order to this one", async () => {
    const c = await t.signUpCustomer("unseen-key");
    await t.fund(c, 100_000);
    const p = await t.createProduct({ price: 1_000, stock: 10 });
    const request = { items: [{ productId: p.id, quantity: 1 }] };
    const earlier = await c.client.orders.create.mutate({ ...request, idempotencyKey: "unseen-earlier" });
    const { request_hash: requestHash } = await t.db
      .selectFrom("idempotency_keys")
      .select("request_hash")
      .where("user_id", "=", c.id)
      .where("key", "=", "unseen-earlier")
      .executeTakeFirstOrThrow();

    /**
     * Another transaction claims `key` first and holds it until the order's claim statement waits on
     * it (a lock wait: that statement's snapshot cannot show the key), then completes it with
     * `earlier`'s answer under the request hash `completeWith`, or rolls back.
     */
    async function orderBehindAClaim(key: string, end: { completeWith: string } | "rollback") {
      let claimed!: () => void;
      let release!: () => void;
      const isClaimed = new Promise<void>((resolve) => (claimed = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      const now = t.clock.now();
      const holder = t.db
        .transaction()
        .execute(async (trx) => {
          const hash = end === "rollback" ? requestHash : end.completeWith;
          await trx
            .insertInto("idempotency_keys")
            .values({ user_id: c.id, scope: "orders.create", key, request_hash: hash, status: "in_progress", response: null, created_at: now, updated_at: now })
            .execute();
          claimed();
          await released;
          if (end === "rollback") throw new Error("the other claim rolls back");
          await trx
            .updateTable("idempotency_keys")
            .set({ status: "completed", response: superjson.stringify(earlier) })
            .where("user_id", "=", c.id)
            .where("key", "=", key)
            .execute();
        })
        .catch(() => undefined);
      await isClaimed;
      const order = c.client.orders.create.mutate({ ...request, idempotencyKey: key }).then(
        (placed) => ({ placed }),
        (error: unknown) => ({ error }),
      );
      for (let waited = 0; ; waited += 20) {
        const { rows } = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%idempotency_keys%'`.execute(t.db);
        if (rows[0]?.n === 1) break;
        if (waited > 10_000) throw new Error("the order's claim never waited on the other claim");
        await Bun.sleep(20);
      }
      release();
      await holder;
      return order;
    }
    const ordersOf = async () => (await t.db.selectFrom("order_orders").select("id").where("user_id", "=", c.id).execute()).length;

    // Completed with the same request: the earlier answer, no second order.
    expect(await orderBehindAClaim("unseen-replay", { completeWith: requestHash })).toEqual({ placed: earlier });
    expect(await ordersOf()).toBe(1);
    // Completed with another request: the key is refused as reused, nothing written.
    const reused = await orderBehindAClaim("unseen-reused", { completeWith: "0".repeat(64) });
    expect(await codeOf(Promise.reject((reused as { error: unknown }).error))).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(await ordersOf()).toBe(1);
    // Rolled back: the key is free and this order takes it.
    const placed = await orderBehindAClaim("unseen-rollback", "rollback");
    expect("placed" in placed && placed.placed.status).toBe("pending_payment");
    expect(await ordersOf()).toBe(2);
    expect(await stockOf(p.id)).toBe(8);
    const keys = await t.db.selectFrom("idempotency_keys").select(["key", "status"]).where("user_id", "=", c.id).orderBy("key").execute();
    expect(keys).toEqual([
      { key: "unseen-earlier", status: "completed" },
      { key: "unseen-replay", status: "completed" },
      { key: "unseen-reused", status: "completed" },
      { key: "unseen-rollback", status: "completed" },
    ]);
  });
});

describe("idempotency keys are kept for a day", () => {
  test("after the purge the same key is a new request", async () => {
    const c = await t.signUpCustomer("purge");
    await t.fund(c, 50_000);
    const p = await t.createProduct({ price: 1_000, stock: 10 });
    const input = { items: [{ productId: p.id, quantity: 1 }], idempotencyKey: "order-key-purge-1" };
    const first = await c.client.orders.place.mutate(input);
    expect(await purgeKeysOlderThan(t.db, new Date(t.clock.now().getTime() - 24 * 3_600_000))).toBe(0);
    expect((await c.client.orders.place.mutate(input)).orderId).toBe(first.orderId);

    t.clock.advance(25 * 3_600_000);
    expect(await purgeKeysOlderThan(t.db, new Date(t.clock.now().getTime() - 24 * 3_600_000))).toBeGreaterThanOrEqual(1);
    expect((await c.client.orders.place.mutate(input)).orderId).not.toBe(first.orderId);
  });
});

describe("two-step orders (seed 003)", () => {
  test("create reserves stock and coupon, pay settles; paying twice is INVALID_ORDER_STATE", async () => {
    const c = await t.signUpCustomer("twostep");
    await t.fund(c, 50_000);
    const p = await t.createProduct({ price: 20_000, stock: 5 });
    const pending = await c.client.orders.create.mutate({ items: [{ productId: p.id, quantity: 2 }] });
    expect(pending.status).toBe("pending_payment");
    expect(pending.paymentDueAt.getTime()).toBe(t.clock.now().getTime() + 10 * 60_000);
    expect(await stockOf(p.id)).toBe(3);
    expect(await balanceOf(c)).toBe(50_000);
    // Nothing is announced before the money moves.
    expect(await t.db.selectFrom("outbox_events").select("id").where("aggregate_id", "=", String(pending.orderId)).execute()).toHaveLength(0);

    const paid = await c.client.orders.pay.mutate({ orderId: pending.orderId });
    expect(paid).toMatchObject({ orderId: pending.orderId, status: "paid", finalAmount: 40_000, remainingBalance: 10_000 });
    expect(await codeOf(c.client.orders.pay.mutate({ orderId: pending.orderId }))).toBe("INVALID_ORDER_STATE");
    const paidEvents = await t.db
      .selectFrom("outbox_events")
      .select("type")
      .where("aggregate_id", "=", String(pending.orderId))
      .where("destination", "=", "data-platform")
      .execute();
    expect(paidEvents.map((e) => e.type)).toEqual(["order.paid"]);
  });

  test("an order not paid in time: pay answers ORDER_PAYMENT_EXPIRED, the sweeper releases stock and restores the coupon", async () => {
    const admin = await t.admin();
    const c = await t.signUpCustomer("late");
    await t.fund(c, 50_000);
    const p = await t.createProduct({ price: 10_000, stock: 4 });
    const coupon = await admin.client.coupons.admin.create.mutate({
      name: "1,000 off",
      discountType: "fixed",
      discountValue: 1_000,
      totalQuantity: 5,
      issueStartsAt: new Date(t.clock.now().getTime() - 1000),
      issueEndsAt: new Date(t.clock.now().getTime() + 86_400_000),
      validDays: 30,
    });
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const pending = await c.client.orders.create.mutate({ items: [{ productId: p.id, quantity: 3 }], userCouponId: issued.userCouponId });
    expect(pending.finalAmount).toBe(29_000);
    expect(await stockOf(p.id)).toBe(1);

    t.clock.advance(11 * 60_000);
    expect(await codeOf(c.client.orders.pay.mutate({ orderId: pending.orderId }))).toBe("ORDER_PAYMENT_EXPIRED");
    expect(await balanceOf(c)).toBe(50_000);

    expect(await t.agora.services.orders.sweepExpired()).toBeGreaterThanOrEqual(1);
    expect(await stockOf(p.id)).toBe(4);
    expect((await c.client.orders.get.query({ orderId: pending.orderId })).status).toBe("expired");
    const history = await c.client.coupons.history.query({ userCouponId: issued.userCouponId });
    expect(history.entries.map((e) => e.action)).toEqual(["issued", "used", "restored"]);
    expect((await c.client.coupons.mine.query({ status: "available" })).map((x) => x.userCouponId)).toContain(issued.userCouponId);
    // A second sweep finds nothing more to do for this order.
    const movementsBefore = await t.db.selectFrom("inventory_movements").select("id").where("product_id", "=", p.id).execute();
    await t.agora.services.orders.sweepExpired();
    const movementsAfter = await t.db.selectFrom("inventory_movements").select("id").where("product_id", "=", p.id).execute();
    expect(movementsAfter.length).toBe(movementsBefore.length);
  });
});

describe("cancellation", () => {
  test("restores stock, balance, coupon and the sales aggregate; a second cancel is INVALID_ORDER_STATE", async () => {
    const admin = await t.admin();
    const c = await t.signUpCustomer("canceller");
    await t.fund(c, 100_000);
    const p = await t.createProduct({ price: 25_000, stock: 6 });
    const coupon = await admin.client.coupons.admin.create.mutate({
      name: "5,000 off",
      discountType: "fixed",
      discountValue: 5_000,
      totalQuantity: 5,
      issueStartsAt: new Date(t.clock.now().getTime() - 1000),
      issueEndsAt: new Date(t.clock.now().getTime() + 86_400_000),
      validDays: 30,
    });
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 2 }], userCouponId: issued.userCouponId });
    expect(placed.finalAmount).toBe(45_000);
    const soldBefore = await t.agora.services.sales.popularUncached(1, 50);
    expect(soldBefore.products.find((x) => x.productId === p.id)?.soldQuantity).toBe(2);

    const cancelled = await c.client.orders.cancel.mutate({ orderId: placed.orderId, reason: "changed my mind" });
    expect(cancelled).toMatchObject({ status: "cancelled", refundedAmount: 45_000, couponRestored: true });
    expect(await stockOf(p.id)).toBe(6);
    expect(await balanceOf(c)).toBe(100_000);
    expect((await c.client.coupons.mine.query({ status: "available" })).map((x) => x.userCouponId)).toContain(issued.userCouponId);
    const soldAfter = await t.agora.services.sales.popularUncached(1, 50);
    expect(soldAfter.products.find((x) => x.productId === p.id)).toBeUndefined();
    const detail = await c.client.orders.get.query({ orderId: placed.orderId });
    expect(detail).toMatchObject({ status: "cancelled", cancelReason: "changed my mind" });
    expect(detail.payment?.status).toBe("refunded");

    expect(await codeOf(c.client.orders.cancel.mutate({ orderId: placed.orderId }))).toBe("INVALID_ORDER_STATE");
    expect(await balanceOf(c)).toBe(100_000);
    const events = await t.db
      .selectFrom("outbox_events")
      .select("type")
      .where("aggregate_id", "=", String(placed.orderId))
      .where("destination", "=", "data-platform")
      .orderBy("id")
      .execute();
    expect(events.map((e) => e.type)).toEqual(["order.paid", "order.cancelled"]);
  });
});

describe("privacy: a customer reaches only their own orders", () => {
  test("another customer's order is NOT_FOUND to read, pay or cancel, and nothing changes", async () => {
    const owner = await t.signUpCustomer("owner");
    const other = await t.signUpCustomer("other");
    await t.fund(owner, 20_000);
    const p = await t.createProduct({ price: 10_000, stock: 5 });
    const placed = await owner.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    const pending = await owner.client.orders.create.mutate({ items: [{ productId: p.id, quantity: 1 }] });

    expect(await codeOf(other.client.orders.get.query({ orderId: placed.orderId }))).toBe("ORDER_NOT_FOUND");
    expect(await codeOf(other.client.orders.cancel.mutate({ orderId: placed.orderId }))).toBe("ORDER_NOT_FOUND");
    expect(await codeOf(other.client.orders.pay.mutate({ orderId: pending.orderId }))).toBe("ORDER_NOT_FOUND");
    expect((await other.client.orders.mine.query({})).items).toHaveLength(0);
    expect((await owner.client.orders.get.query({ orderId: placed.orderId })).status).toBe("paid");
    expect(await stockOf(p.id)).toBe(3);
    expect(await codeOf(other.client.orders.admin.list.query({}))).toBe("FORBIDDEN");
    // The customer route acts as a customer even for an admin: operators cancel through orders.admin.cancel.
    const admin = await t.admin();
    expect(await codeOf(admin.client.orders.cancel.mutate({ orderId: placed.orderId }))).toBe("ORDER_NOT_FOUND");
    expect(await codeOf(t.client().orders.mine.query({}))).toBe("UNAUTHENTICATED");
  });

  test("admin lists orders by status and customer, and cancels with a reason", async () => {
    const admin = await t.admin();
    const c = await t.signUpCustomer("adminlisted");
    await t.fund(c, 30_000);
    const p = await t.createProduct({ price: 10_000, stock: 5 });
    const a = await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    const b = await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    const mine = await admin.client.orders.admin.list.query({ userId: c.id });
    expect(mine.items.map((o) => o.orderId)).toEqual([b.orderId, a.orderId]);
    const page1 = await admin.client.orders.admin.list.query({ userId: c.id, limit: 1 });
    const page2 = await admin.client.orders.admin.list.query({ userId: c.id, limit: 1, cursor: page1.nextCursor ?? undefined });
    expect([page1.items[0]?.orderId, page2.items[0]?.orderId]).toEqual([b.orderId, a.orderId]);
    expect(await codeOf(admin.client.orders.admin.cancel.mutate({ orderId: a.orderId } as never))).toBe("VALIDATION_FAILED");
    const cancelled = await admin.client.orders.admin.cancel.mutate({ orderId: a.orderId, reason: "fraud check" });
    expect(cancelled.refundedAmount).toBe(10_000);
    const paidOnly = await admin.client.orders.admin.list.query({ userId: c.id, status: "paid" });
    expect(paidOnly.items.map((o) => o.orderId)).toEqual([b.orderId]);
  });
});

describe("a product read sold out is refused from memory for a moment (SOLD_OUT_MEMORY_MS)", () => {
  const MEMORY_MS = 1_000;
  async function stockInDatabase(productId: number, quantity: number): Promise<void> {
    // As another instance (or an operator's SQL) would: this instance's catalog does not see it.
    await t.db.updateTable("inventory_stock").set({ quantity }).where("product_id", "=", productId).execute();
  }

  test("a change made elsewhere is seen once the memory lapses, not before; nothing is ever sold from memory", async () => {
    const [first, second] = await Promise.all([t.signUpCustomer("memory-first"), t.signUpCustomer("memory-second")]);
    await Promise.all([t.fund(first, 50_000), t.fund(second, 50_000)]);
    const p = await t.createProduct({ price: 10_000, stock: 0 });
    const order = (c: Customer) => c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    const refusal = await errorOf(order(first));
    expect(refusal.data.domainCode).toBe("INSUFFICIENT_STOCK");
    expect(refusal.data.details).toEqual({ insufficientItems: [{ productId: p.id, productName: p.name, requestedQuantity: 1, availableStock: 0 }] });
    await stockInDatabase(p.id, 1);
    // Remembered sold out: the same answer, details included, without reading the product.
    expect(await errorOf(order(second))).toMatchObject({ data: { domainCode: "INSUFFICIENT_STOCK", details: refusal.data.details } });
    t.clock.advance(MEMORY_MS);
    expect((await order(second)).status).toBe("paid");
    expect(await stockOf(p.id)).toBe(0);
    // Sold again: refused by the read before the transaction; nothing was ever taken on the memory's word.
    expect(await codeOf(order(first))).toBe("INSUFFICIENT_STOCK");
    expect(await balanceOf(first)).toBe(50_000);
    expect(await balanceOf(second)).toBe(40_000);
  });

  test("a restock, a cancelled order's stock or a status change through this instance is seen at once", async () => {
    const c = await t.signUpCustomer("memory-restock");
    await t.fund(c, 50_000);
    const admin = await t.admin();
    const p = await t.createProduct({ price: 10_000, stock: 0 });
    const order = () => c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    expect(await codeOf(order())).toBe("INSUFFICIENT_STOCK");
    await admin.client.catalog.admin.inbound.mutate({ productId: p.id, quantity: 1 });
    const paid = await order();
    expect(paid.status).toBe("paid");

    expect(await codeOf(order())).toBe("INSUFFICIENT_STOCK");
    await c.client.orders.cancel.mutate({ orderId: paid.orderId });
    expect((await order()).status).toBe("paid");

    expect(await codeOf(order())).toBe("INSUFFICIENT_STOCK");
    await admin.client.catalog.admin.setStatus.mutate({ productId: p.id, status: "hidden" });
    expect(await codeOf(order())).toBe("PRODUCT_NOT_FOUND");
  });

  test("stock given back by a transaction is forgotten at its commit, even when a read during it remembered the old stock", async () => {
    const catalog = t.agora.services.catalog;
    const p = await t.createProduct({ price: 10_000, stock: 0 });
    await catalog.productsForSale(t.db, [p.id]);
    expect(catalog.soldOutFromMemory([p.id])).not.toBeNull();
    await inTransaction(t.db, async (trx) => {
      await catalog.releaseStock(trx, [{ productId: p.id, quantity: 1 }], { orderId: null, reason: "a cancelled order" });
      // Outside the transaction the committed stock is still 0, and this read remembers it.
      expect((await catalog.productsForSale(t.db, [p.id])).get(p.id)?.stock).toBe(0);
      expect(catalog.soldOutFromMemory([p.id])).not.toBeNull();
    });
    expect(catalog.soldOutFromMemory([p.id])).toBeNull();
    // Read again after the commit: one in stock, nothing to remember.
    expect((await catalog.productsForSale(t.db, [p.id])).get(p.id)?.stock).toBe(1);
    expect(catalog.soldOutFromMemory([p.id])).toBeNull();
  });

  test("an order priced in stock whose product is read sold out before its transaction opens none: the careful run refuses it", async () => {
    const catalog = t.agora.services.catalog;
    const c = await t.signUpCustomer("memory-meanwhile");
    await t.fund(c, 50_000);
    const p = await t.createProduct({ price: 10_000, stock: 1 });
    const lastOrderId = async () => (await sql<{ n: string }>`SELECT last_value AS n FROM order_orders_id_seq`.execute(t.db)).rows[0]?.n;
    const read = catalog.productsForSale;
    // Between this order's price and its transaction, the last unit goes elsewhere and the crowd reads it sold out.
    catalog.productsForSale = async (executor, productIds) => {
      const products = await read(executor, productIds);
      if (!executor.isTransaction && products.get(p.id)?.stock === 1) {
        await stockInDatabase(p.id, 0);
        await read(t.db, [p.id]);
      }
      return products;
    };
    try {
      const before = await lastOrderId();
      const refusal = await errorOf(c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }], idempotencyKey: "memory-meanwhile-1" }));
      expect(refusal.data.domainCode).toBe("INSUFFICIENT_STOCK");
      // No order row was ever inserted, not even one rolled back: its id would have left the sequence.
      expect(await lastOrderId()).toBe(before);
      expect(await balanceOf(c)).toBe(50_000);
    } finally {
      catalog.productsForSale = read;
    }
  });

  test("a keyed retry of an order that was placed replays it while the product is remembered sold out", async () => {
    const [buyer, crowd] = await Promise.all([t.signUpCustomer("memory-keyed"), t.signUpCustomer("memory-crowd")]);
    await Promise.all([t.fund(buyer, 50_000), t.fund(crowd, 50_000)]);
    const p = await t.createProduct({ price: 10_000, stock: 1 });
    const input = { items: [{ productId: p.id, quantity: 1 }], idempotencyKey: "memory-keyed-last-unit" };
    const placed = await buyer.client.orders.place.mutate(input);
    expect(await codeOf(crowd.client.orders.place.mutate({ items: input.items, idempotencyKey: "memory-crowd-1" }))).toBe("INSUFFICIENT_STOCK");
    expect(t.agora.services.catalog.soldOutFromMemory([p.id])).not.toBeNull();
    expect(await buyer.client.orders.place.mutate(input)).toEqual(placed);
    expect(await balanceOf(buyer)).toBe(40_000);
  });
});
