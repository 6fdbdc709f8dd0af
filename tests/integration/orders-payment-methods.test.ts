/**
 * Several payment methods: the wallet, the card (authorized before the order's transaction, captured
 * after it) and a split of both; money goes back to where it came from, written as a refund record.
 * A card payment is durable like a wallet charge: a process that dies between the gateway's answer and
 * the order's commit (or before the capture, or before the refund) leaves a record recovery settles.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { inTransaction } from "../../db/index.ts";
import { createLogger } from "../../modules/kernel/index.ts";
import { createOrdersService, type OrderCard } from "../../modules/orders/index.ts";
import { type CardGateway, createCardPaymentsService, HttpCardGateway } from "../../modules/payments/index.ts";
import { checkInvariants, failedChecks } from "../../scripts/bench/invariants.ts";
import { type Customer, codeOf, errorOf, startTestAgora, type TestAgora } from "../support/agora.ts";

/** The card lease of the test Agora (config.walletChargeLeaseMs). */
let leaseMs: number;
let t: TestAgora;
beforeAll(async () => {
  t = await startTestAgora();
  leaseMs = t.agora.services.cardPayments.config.leaseMs;
});
afterAll(() => t.close());

const card = { method: "card" } as const;
const balanceOf = async (c: Customer) => (await c.client.wallet.balance.query()).balance;
const stockOf = async (productId: number) => (await t.client().catalog.stock.query({ productId })).stock;
const authorizationsOf = (userId: number) => t.gateway.control.authorizations().filter((a) => a.userId === userId);
const cardRowsOf = (userId: number) =>
  t.db.selectFrom("payment_card_payments").select(["status", "amount", "order_id"]).where("user_id", "=", userId).orderBy("id").execute();
const ordersOf = (userId: number) => t.db.selectFrom("order_orders").select(["id", "status"]).where("user_id", "=", userId).execute();

async function deliver(orderId: number): Promise<void> {
  for (const to of ["shipped", "delivered"] as const) await inTransaction(t.db, (trx) => t.agora.services.orders.advanceForShipping(trx, orderId, to));
}

/** A second process on the same database and gateway, whose card adapter is `cardPort`. */
function processWith(cardPort: OrderCard) {
  const { catalog, cart, coupons, wallet, sales } = t.agora.services;
  return createOrdersService({
    db: t.db,
    clock: t.clock,
    logger: createLogger("silent"),
    catalog,
    cart,
    coupons,
    wallet,
    sales,
    events: t.agora.events,
    card: cardPort,
  });
}

describe("paying by card", () => {
  test("place by card: authorized, taken by the order, captured; the wallet is not touched", async () => {
    const c = await t.signUpCustomer("card");
    await t.fund(c, 10_000);
    const product = await t.createProduct({ price: 25_000, stock: 5 });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 2 }], payment: card });
    expect(placed).toMatchObject({ status: "paid", finalAmount: 50_000, remainingBalance: 10_000, payments: [{ method: "card", amount: 50_000 }] });
    expect(await balanceOf(c)).toBe(10_000);
    expect(await stockOf(product.id)).toBe(3);
    expect(authorizationsOf(c.id)).toEqual([expect.objectContaining({ amount: 50_000, status: "captured" })]);
    expect(await cardRowsOf(c.id)).toEqual([{ status: "captured", amount: 50_000, order_id: placed.orderId }]);
    const detail = await c.client.orders.get.query({ orderId: placed.orderId });
    expect(detail.payment).toMatchObject({ method: "card", amount: 50_000, status: "paid" });
    expect(detail.payments).toEqual([expect.objectContaining({ method: "card", amount: 50_000, status: "paid" })]);
    expect(detail.refunds).toEqual([]);
  });

  test("calls without a payment method still pay by wallet", async () => {
    const c = await t.signUpCustomer("compat");
    await t.fund(c, 20_000);
    const product = await t.createProduct({ price: 7_000 });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] });
    expect(placed).toMatchObject({ remainingBalance: 13_000, payments: [{ method: "wallet", amount: 7_000 }] });
    expect(authorizationsOf(c.id)).toEqual([]);
  });

  test("a declined card changes nothing: no order, stock, coupon and wallet untouched", async () => {
    const c = await t.signUpCustomer("declined");
    const admin = await t.admin();
    await t.fund(c, 30_000);
    const product = await t.createProduct({ price: 40_000, stock: 3 });
    const now = t.clock.now().getTime();
    const coupon = await admin.client.coupons.admin.create.mutate({
      name: "5k off",
      discountType: "fixed",
      discountValue: 5_000,
      totalQuantity: 10,
      issueStartsAt: new Date(now - 60_000),
      issueEndsAt: new Date(now + 86_400_000),
      validDays: 7,
    });
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });

    t.gateway.control.declineNext(2);
    for (const payment of [card, { method: "split", walletAmount: 20_000 } as const]) {
      const error = await errorOf(
        c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: issued.userCouponId, payment }),
      );
      expect(error.data).toMatchObject({ domainCode: "PAYMENT_DECLINED", details: { gatewayCode: "CARD_DECLINED" } });
    }
    expect(await ordersOf(c.id)).toEqual([]);
    expect(await stockOf(product.id)).toBe(3);
    expect(await balanceOf(c)).toBe(30_000);
    expect((await c.client.coupons.mine.query({ status: "available" })).map((m) => m.userCouponId)).toEqual([issued.userCouponId]);
    expect((await cardRowsOf(c.id)).map((r) => r.status)).toEqual(["declined", "declined"]);

    // The same order goes through once the card is accepted.
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: issued.userCouponId, payment: card });
    expect(placed).toMatchObject({ finalAmount: 35_000, payments: [{ method: "card", amount: 35_000 }] });
  });

  test("an order that fails after the authorization (wallet part short, stock gone) voids it", async () => {
    const c = await t.signUpCustomer("void");
    await t.fund(c, 5_000);
    const product = await t.createProduct({ price: 30_000, stock: 1 });
    expect(
      await codeOf(c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], payment: { method: "split", walletAmount: 6_000 } })),
    ).toBe("INSUFFICIENT_BALANCE");
    expect(authorizationsOf(c.id)).toEqual([expect.objectContaining({ amount: 24_000, status: "voided" })]);
    expect(await cardRowsOf(c.id)).toEqual([{ status: "voided", amount: 24_000, order_id: null }]);
    expect(await ordersOf(c.id)).toEqual([]);
    expect(await balanceOf(c)).toBe(5_000);
    expect(await stockOf(product.id)).toBe(1);
  });

  test("a wallet part above the total is PAYMENT_SPLIT_INVALID, before any card is touched", async () => {
    const c = await t.signUpCustomer("split-invalid");
    const product = await t.createProduct({ price: 10_000 });
    const error = await errorOf(
      c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], payment: { method: "split", walletAmount: 10_001 } }),
    );
    expect(error.data).toMatchObject({ domainCode: "PAYMENT_SPLIT_INVALID", httpStatus: 400, details: { walletAmount: 10_001, finalAmount: 10_000 } });
    expect(authorizationsOf(c.id)).toEqual([]);
  });

  test("two steps: create, then pay by card", async () => {
    const c = await t.signUpCustomer("two-step");
    const product = await t.createProduct({ price: 12_000 });
    const pending = await c.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 1 }] });
    const paid = await c.client.orders.pay.mutate({ orderId: pending.orderId, payment: card });
    expect(paid).toMatchObject({ status: "paid", payments: [{ method: "card", amount: 12_000 }] });
    expect(await cardRowsOf(c.id)).toEqual([{ status: "captured", amount: 12_000, order_id: pending.orderId }]);
    // A second pay is refused before any card is authorized again.
    expect(await codeOf(c.client.orders.pay.mutate({ orderId: pending.orderId, payment: card }))).toBe("INVALID_ORDER_STATE");
    expect(authorizationsOf(c.id)).toHaveLength(1);
  });
});

describe("refunds go back to where the money came from", () => {
  test("a split payment refunds to both sources, on cancellation, with a refund record", async () => {
    const c = await t.signUpCustomer("split-cancel");
    await t.fund(c, 30_000);
    const product = await t.createProduct({ price: 50_000, stock: 2 });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], payment: { method: "split", walletAmount: 20_000 } });
    expect(placed).toMatchObject({
      remainingBalance: 10_000,
      payments: [
        { method: "card", amount: 30_000 },
        { method: "wallet", amount: 20_000 },
      ],
    });
    const refundedBefore = t.gateway.stats().cardRefundedAmount;

    const cancelled = await c.client.orders.cancel.mutate({ orderId: placed.orderId, reason: "changed my mind" });
    expect(cancelled).toMatchObject({ refundedAmount: 50_000, refunded: { wallet: 20_000, card: 30_000 } });
    expect(await balanceOf(c)).toBe(30_000);
    expect(t.gateway.stats().cardRefundedAmount - refundedBefore).toBe(30_000);
    expect(authorizationsOf(c.id)).toEqual([expect.objectContaining({ amount: 30_000, status: "refunded" })]);
    expect(await cardRowsOf(c.id)).toEqual([{ status: "reversed", amount: 30_000, order_id: placed.orderId }]);

    const detail = await c.client.orders.get.query({ orderId: placed.orderId });
    expect(detail).toMatchObject({ status: "cancelled", cancelReason: "changed my mind", refundedAt: null, refundReason: null });
    expect(detail.payment).toMatchObject({ method: "split", amount: 50_000, status: "refunded" });
    expect(detail.payments.map((p) => [p.method, p.amount, p.status])).toEqual([
      ["card", 30_000, "refunded"],
      ["wallet", 20_000, "refunded"],
    ]);
    expect(detail.refunds).toEqual([
      expect.objectContaining({ kind: "cancellation", walletAmount: 20_000, cardAmount: 30_000, reason: "changed my mind", actorId: c.id }),
    ]);
  });

  test("a return is a refund, not a cancellation: its own fields and record, both sources paid back", async () => {
    const c = await t.signUpCustomer("split-return");
    const admin = await t.admin();
    await t.fund(c, 10_000);
    const product = await t.createProduct({ price: 18_000, stock: 4 });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], payment: { method: "split", walletAmount: 8_000 } });
    await deliver(placed.orderId);
    const refunded = await admin.client.orders.admin.refund.mutate({ orderId: placed.orderId, reason: "arrived broken", restock: true });
    expect(refunded).toMatchObject({ status: "refunded", refundedAmount: 18_000, refunded: { wallet: 8_000, card: 10_000 } });
    expect(await balanceOf(c)).toBe(10_000);
    expect(authorizationsOf(c.id)).toEqual([expect.objectContaining({ amount: 10_000, status: "refunded" })]);

    const detail = await admin.client.orders.admin.get.query({ orderId: placed.orderId });
    expect(detail).toMatchObject({ status: "refunded", cancelledAt: null, cancelReason: null, refundReason: "arrived broken" });
    expect(detail.refundedAt).toBeInstanceOf(Date);
    expect(detail.refunds).toEqual([expect.objectContaining({ kind: "return", walletAmount: 8_000, cardAmount: 10_000, actorId: admin.id })]);
  });

  test("cancelling an unpaid order writes no refund record", async () => {
    const c = await t.signUpCustomer("unpaid-cancel");
    const product = await t.createProduct({ price: 5_000 });
    const pending = await c.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 1 }] });
    expect(await c.client.orders.cancel.mutate({ orderId: pending.orderId })).toMatchObject({ refundedAmount: 0, refunded: { wallet: 0, card: 0 } });
    expect((await c.client.orders.get.query({ orderId: pending.orderId })).refunds).toEqual([]);
  });
});

describe("a card payment survives a crash", () => {
  /** A card gateway whose authorization reaches the real gateway, and whose caller never hears the answer. */
  function dyingOnAuthorize(http: CardGateway): CardGateway {
    return {
      authorize(request) {
        void http.authorize(request).catch(() => {});
        return new Promise(() => {});
      },
      capture: (r) => http.capture(r),
      voidAuthorization: (r) => http.voidAuthorization(r),
      refund: (r) => http.refund(r),
      lookup: (key) => http.lookup(key),
    };
  }
  const http = () => new HttpCardGateway({ baseUrl: t.gateway.url, timeoutMs: 1_000 });

  test("dies between the authorization and the order: recovery voids the hold; nothing else changed", async () => {
    const c = await t.signUpCustomer("crash-authorize");
    await t.fund(c, 10_000);
    const product = await t.createProduct({ price: 21_000, stock: 2 });
    const dying = createCardPaymentsService({ db: t.db, clock: t.clock, gateway: dyingOnAuthorize(http()), config: { leaseMs } });
    void processWith(dying).place(c.id, { items: [{ productId: product.id, quantity: 1 }], payment: card });
    for (let i = 0; i < 200 && authorizationsOf(c.id).length === 0; i++) await Bun.sleep(5);
    expect(authorizationsOf(c.id)).toEqual([expect.objectContaining({ amount: 21_000, status: "authorized" })]);
    expect(await cardRowsOf(c.id)).toEqual([{ status: "authorizing", amount: 21_000, order_id: null }]);

    const recovery = t.agora.services.cardPayments;
    // Within the lease the request may still be alive: recovery leaves it alone.
    expect((await recovery.recover()).taken).toBe(0);
    t.clock.advance(leaseMs + 1);
    expect(await recovery.recover()).toMatchObject({ taken: 1, voided: 1, failed: 0 });
    expect(authorizationsOf(c.id)).toEqual([expect.objectContaining({ status: "voided" })]);
    expect(await cardRowsOf(c.id)).toEqual([{ status: "voided", amount: 21_000, order_id: null }]);
    expect(await ordersOf(c.id)).toEqual([]);
    expect(await stockOf(product.id)).toBe(2);
    expect(await balanceOf(c)).toBe(10_000);
  });

  test("dies after the order committed, before the capture: recovery captures it", async () => {
    const c = await t.signUpCustomer("crash-capture");
    const product = await t.createProduct({ price: 9_000 });
    t.gateway.control.failCapturesNext(1);
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], payment: card });
    expect(await cardRowsOf(c.id)).toEqual([{ status: "capturing", amount: 9_000, order_id: placed.orderId }]);
    t.clock.advance(leaseMs + 1);
    expect(await t.agora.services.cardPayments.recover()).toMatchObject({ taken: 1, captured: 1 });
    expect(authorizationsOf(c.id)).toEqual([expect.objectContaining({ status: "captured" })]);
    expect(await cardRowsOf(c.id)).toEqual([{ status: "captured", amount: 9_000, order_id: placed.orderId }]);
  });

  test("dies after the cancellation committed, before the refund: recovery refunds the card", async () => {
    const c = await t.signUpCustomer("crash-refund");
    const product = await t.createProduct({ price: 14_000 });
    const cardPayments = t.agora.services.cardPayments;
    // This process never gets to give the card's money back after its commit.
    const dying = processWith({ ...cardPayments, settleReversal: () => Promise.resolve() });
    const placed = await dying.place(c.id, { items: [{ productId: product.id, quantity: 1 }], payment: card });
    await dying.cancel({ userId: c.id, role: "customer" }, placed.orderId, undefined);
    expect(await cardRowsOf(c.id)).toEqual([{ status: "reversing", amount: 14_000, order_id: placed.orderId }]);
    t.clock.advance(leaseMs + 1);
    expect(await cardPayments.recover()).toMatchObject({ taken: 1, reversed: 1 });
    expect(authorizationsOf(c.id)).toEqual([expect.objectContaining({ status: "refunded" })]);
  });

  test("cancelled before its capture landed: the hold is voided instead of refunded", async () => {
    const c = await t.signUpCustomer("cancel-uncaptured");
    const product = await t.createProduct({ price: 6_000 });
    t.gateway.control.failCapturesNext(1);
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], payment: card });
    await c.client.orders.cancel.mutate({ orderId: placed.orderId });
    expect(authorizationsOf(c.id)).toEqual([expect.objectContaining({ status: "voided" })]);
    expect(await cardRowsOf(c.id)).toEqual([{ status: "reversed", amount: 6_000, order_id: placed.orderId }]);
  });
});

test("the books hold: wallet = ledger, card payments held = captured − refunded, nothing left unsettled", async () => {
  t.clock.advance(leaseMs + 1);
  await t.agora.services.cardPayments.recover();
  expect(await t.agora.services.cardPayments.unsettled()).toEqual({ authorizing: 0, authorized: 0, voiding: 0, capturing: 0, reversing: 0 });
  const stats = t.gateway.stats();
  const results = await checkInvariants(t.db, {
    gatewayCapturedAmount: stats.capturedAmount,
    gatewayCardNetAmount: stats.cardCapturedAmount - stats.cardRefundedAmount,
  });
  expect(failedChecks(results)).toEqual([]);
  expect(results.map((r) => r.name)).toContain("money: card payments held = captured − refunded by the gateway");
});
