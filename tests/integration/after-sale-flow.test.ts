/**
 * After the sale, through the composed server (the real wiring of compose.ts): one outbox poller
 * sends a paid order to the data platform, books it with the carrier and tells the customer; the
 * carrier's signed webhook (over HTTP into the app) moves the order; a dead event alerts operators.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MINUTE } from "../../modules/kernel/index.ts";
import { type Customer, codeOf, startTestAgora, type TestAgora } from "../support/agora.ts";
import { openMessages } from "../support/notification-log.ts";

let t: TestAgora;
let buyer: Customer;

beforeAll(async () => {
  t = await startTestAgora();
  buyer = await t.signUpCustomer("fullflow");
  await t.fund(buyer, 200_000);
});
afterAll(() => t.close());

async function drainOutbox(): Promise<void> {
  for (let r = await t.agora.outboxPoller.runOnce(); r.claimed > 0; r = await t.agora.outboxPoller.runOnce()) {}
}

async function messagesFor(template: string) {
  return openMessages(
    await t.db
      .selectFrom("notification_messages")
      .select(["recipient", "channel", "template", "body"])
      .where("template", "=", template)
      .orderBy("id")
      .execute(),
  );
}

describe("a paid order, end to end", () => {
  test("synced, booked, announced; shipped and delivered by the carrier's webhook", async () => {
    const product = await t.createProduct({ name: "전기 주전자", price: 45_000, stock: 5 });
    const placed = await buyer.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: "서울특별시 중구 세종대로 110" });

    await drainOutbox();
    const order = await buyer.client.orders.get.query({ orderId: placed.orderId });
    expect(order.status).toBe("preparing");
    expect(order.sync).toMatchObject({ synced: true, attempts: 1 });
    expect(t.dataPlatform.applied().filter((e) => e.type === "order.paid" && e.data.orderId === placed.orderId)).toHaveLength(1);
    expect(t.carrier.shipmentsFor(placed.orderId)).toHaveLength(1);
    expect((await messagesFor("order.paid")).map((m) => m.recipient)).toEqual([buyer.email]);

    const tracking = await buyer.client.shipping.track.query({ orderId: placed.orderId });
    expect(tracking.status).toBe("ready");
    const trackingNumber = tracking.trackingNumber as string;
    expect(trackingNumber.length).toBeGreaterThan(0);

    const inTransit = await t.carrier.advance(trackingNumber, "in_transit");
    expect(inTransit.status).toBe(200);
    expect((await buyer.client.orders.get.query({ orderId: placed.orderId })).status).toBe("shipped");
    // The carrier retries the same delivery: nothing changes the second time.
    expect((await t.carrier.replay(inTransit)).status).toBe(200);
    await t.carrier.advance(trackingNumber, "delivered");
    expect((await buyer.client.orders.get.query({ orderId: placed.orderId })).status).toBe("delivered");

    await drainOutbox();
    expect((await messagesFor("shipment.shipped")).map((m) => m.recipient)).toEqual([buyer.email]);
    expect((await messagesFor("shipment.delivered")).map((m) => m.recipient)).toEqual([buyer.email]);
    const timeline = (await buyer.client.shipping.track.query({ orderId: placed.orderId })).timeline.map((e) => e.status);
    expect(timeline).toEqual(["ready", "in_transit", "delivered"]);
    expect(
      t.dataPlatform
        .applied()
        .map((e) => e.type)
        .filter((type) => type.startsWith("shipment.")),
    ).toEqual(["shipment.shipped", "shipment.delivered"]);

    // A forged webhook is refused over HTTP and changes nothing.
    const forged = await t.carrier.sendWebhook(
      JSON.stringify({ eventId: "forged-1", trackingNumber, status: "in_transit", occurredAt: t.clock.now().toISOString() }),
      "t=1,v1=00",
    );
    expect(forged.status).toBe(401);
    expect((await buyer.client.shipping.track.query({ orderId: placed.orderId })).timeline).toHaveLength(3);
    expect((await t.agora.app.request("/webhooks/carrier")).status).toBe(405);

    // A delivered order can be returned: the admin refunds it.
    const admin = await t.admin();
    const before = (await buyer.client.wallet.balance.query()).balance;
    const refunded = await admin.client.orders.admin.refund.mutate({ orderId: placed.orderId, reason: "returned damaged", restock: true });
    expect(refunded).toMatchObject({ status: "refunded", refundedAmount: 45_000, restocked: true });
    expect((await buyer.client.wallet.balance.query()).balance).toBe(before + 45_000);
    expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(5);
    expect(await codeOf(admin.client.orders.admin.refund.mutate({ orderId: placed.orderId, reason: "twice" }))).toBe("INVALID_ORDER_STATE");
  });

  test("an event the data platform never takes goes dead and the operators are told", async () => {
    const admin = await t.admin();
    const product = await t.createProduct({ price: 1_000, stock: 5 });
    await drainOutbox(); // nothing earlier left pending: only this order's event can die
    const placed = await buyer.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: "부산광역시 해운대구 1" });
    t.dataPlatform.control.failAlways(true);
    const alertsBefore = (await messagesFor("operator.alert")).length;

    await drainOutbox();
    t.clock.advance(6 * MINUTE);
    await drainOutbox();
    t.clock.advance(17 * MINUTE);
    await drainOutbox();
    t.dataPlatform.control.failAlways(false);

    const order = await buyer.client.orders.get.query({ orderId: placed.orderId });
    expect(order.sync).toMatchObject({ synced: false, status: "dead", attempts: 3 });
    expect(order.status).toBe("preparing"); // the sale itself went on
    const alerts = (await messagesFor("operator.alert")).slice(alertsBefore);
    expect(alerts.map((m) => m.recipient)).toEqual([admin.email]);
    expect(alerts[0]?.body).toContain(String(placed.orderId));
  });
});
