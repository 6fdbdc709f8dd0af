/**
 * Event contracts: every event a producer writes to the outbox parses with the schema its
 * producer exports, and a payload that breaks its contract fails in the producer (nothing is
 * written, the change it would announce rolls back), not in a consumer at run time.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { dataPlatformSubscription, subscriptions } from "../../apps/server/compose.ts";
import { inTransaction } from "../../db/index.ts";
import { inventoryBackInStock, inventoryLowStock } from "../../modules/catalog/index.ts";
import { notificationsSubscription } from "../../modules/notifications/index.ts";
import { orderCancelled, orderPaid, orderRefunded } from "../../modules/orders/index.ts";
import { createEventPublisher, type EventContract, subscribe } from "../../modules/outbox/index.ts";
import { shipmentDelivered, shipmentShipped, shippingSubscription } from "../../modules/shipping/index.ts";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let buyer: Customer;

const contracts: EventContract[] = [orderPaid, orderCancelled, orderRefunded, shipmentShipped, shipmentDelivered, inventoryLowStock, inventoryBackInStock];

beforeAll(async () => {
  t = await startTestAgora();
  buyer = await t.signUpCustomer("contracts");
  await t.fund(buyer, 1_000_000);
});
afterAll(() => t.close());

async function drain(): Promise<void> {
  for (let r = await t.agora.outboxPoller.runOnce(); r.claimed > 0; r = await t.agora.outboxPoller.runOnce()) {}
}

describe("every producer's payload parses with its own contract", () => {
  test("orders, shipping and catalog, driven through the API: each row of each destination fits its schema", async () => {
    const admin = await t.admin();
    const product = await t.createProduct({ price: 12_000, stock: 3, lowStockThreshold: 2 });
    // order.paid (and inventory.low_stock: 3 → 1 crosses the threshold of 2)
    const delivered = await buyer.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 2 }], shippingAddress: "서울 중구 세종대로 110" });
    // order.cancelled
    const cancelled = await buyer.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: "서울 중구 세종대로 110" });
    await drain();
    await buyer.client.orders.cancel.mutate({ orderId: cancelled.orderId });
    // shipment.shipped, shipment.delivered, then order.refunded
    await drain();
    const { trackingNumber } = await buyer.client.shipping.track.query({ orderId: delivered.orderId });
    await t.carrier.advance(trackingNumber as string, "in_transit");
    await t.carrier.advance(trackingNumber as string, "delivered");
    await admin.client.orders.admin.refund.mutate({ orderId: delivered.orderId, reason: "반품", restock: false });
    // inventory.back_in_stock: sold out, a sign-up, then stock back
    await admin.client.catalog.admin.outbound.mutate({ productId: product.id, quantity: 1, reason: "파손" });
    await buyer.client.catalog.signUpForRestock.mutate({ productId: product.id, channel: "sms" });
    await admin.client.catalog.admin.inbound.mutate({ productId: product.id, quantity: 5, reason: "입고" });
    await drain();

    const rows = await t.db.selectFrom("outbox_events").select(["id", "type", "aggregate_type", "destination", "payload", "status"]).execute();
    for (const contract of contracts) {
      const written = rows.filter((row) => row.type === contract.type);
      expect({ type: contract.type, written: written.length > 0 }).toEqual({ type: contract.type, written: true });
      for (const row of written) {
        expect(row.aggregate_type).toBe(contract.aggregateType);
        const parsed = contract.schema.safeParse(row.payload);
        expect({ type: row.type, error: parsed.success ? null : parsed.error.message }).toEqual({ type: row.type, error: null });
        // Parsing changes nothing: what consumers read is what the producer wrote.
        expect(parsed.data).toEqual(row.payload);
      }
    }
    // Every row went out: no consumer refused a payload.
    expect(rows.filter((row) => row.status !== "sent").map((row) => [row.type, row.destination, row.status])).toEqual([]);
  });
});

describe("a payload that breaks its contract fails at the producer", () => {
  test("a contract refuses a wrong payload when the event is made", () => {
    const bad = { orderId: 1, userId: 2, refundedAmount: -5, couponRestored: false, reason: "x", cancelledAt: "yesterday" };
    expect(() => orderCancelled.event(1, bad)).toThrow(/order\.cancelled: the payload breaks its contract/);
    // A field the contract does not know is refused too (strict): a typo fails the producer's test.
    const extra = { orderId: 1, userId: 2, trackingNumber: null, carrier: null, occurredAt: new Date().toISOString(), trackingNo: "1" };
    expect(() => shipmentShipped.event(1, extra)).toThrow(/Unrecognized key/);
  });

  test("a producer whose payload breaks its contract rolls back the change it announced and writes no row", async () => {
    const product = await t.createProduct({ stock: 10, lowStockThreshold: 0 });
    const before = await t.db
      .selectFrom("outbox_events")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    const publish = createEventPublisher(subscriptions);
    const attempt = inTransaction(t.db, async (trx) => {
      await trx.updateTable("inventory_stock").set({ quantity: 0 }).where("product_id", "=", product.id).execute();
      // As a producer with a bug would call it (the compiler stops this in typed code; a cast does not).
      await publish.publish(trx, t.clock.now(), [inventoryLowStock.event(product.id, { productId: product.id, quantity: -1 } as never)]);
    });
    await expect(attempt).rejects.toThrow(/inventory\.low_stock: the payload breaks its contract/);
    const after = await t.db
      .selectFrom("outbox_events")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
    const stock = await t.db.selectFrom("inventory_stock").select("quantity").where("product_id", "=", product.id).executeTakeFirstOrThrow();
    expect(stock.quantity).toBe(10);
  });
});

describe("routing comes from the consumers' subscriptions", () => {
  test("the destinations of each event come from the subscriptions (the same as the outbox routed before contracts, plus webhooks)", () => {
    const routes = Object.fromEntries(createEventPublisher(subscriptions).routes);
    expect(routes).toEqual({
      // As before contracts, plus the webhooks fan-out and its per-endpoint deliveries.
      "order.paid": ["data-platform", "shipping", "notifications", "webhooks"],
      "order.cancelled": ["data-platform", "shipping", "notifications", "webhooks"],
      "order.refunded": ["data-platform", "notifications", "webhooks"],
      "shipment.shipped": ["data-platform", "notifications", "webhooks"],
      "shipment.delivered": ["data-platform", "notifications", "webhooks"],
      // Shipping's own: a parcel booked to an address the order left, to cancel at the carrier.
      "shipment.booking_stale": ["shipping"],
      "inventory.low_stock": ["notifications"],
      "inventory.back_in_stock": ["notifications"],
      "webhook.delivery": ["webhook"],
    });
    expect([dataPlatformSubscription, shippingSubscription, notificationsSubscription].map((s) => s.destination)).toEqual([
      "data-platform",
      "shipping",
      "notifications",
    ]);
  });

  test("a destination with a condition gets a row only where it holds, judged in the producer's statement; publish returns the ids written", async () => {
    const publisher = createEventPublisher([
      subscribe("test-always", [inventoryLowStock, inventoryBackInStock]),
      // A condition on the event's type, as a subscribing module's repository builds it.
      subscribe("test-back-in-stock-only", [inventoryLowStock, inventoryBackInStock], {
        writtenWhen: (eventType) => sql<boolean>`${eventType} = 'inventory.back_in_stock'`,
      }),
    ]);
    const low = inventoryLowStock.event(900_001, { productId: 900_001, quantity: 1, threshold: 5 });
    const back = inventoryBackInStock.event(900_002, { productId: 900_001, userId: buyer.id, channel: "email", signupId: 900_002 });
    const ids = await inTransaction(t.db, (trx) => publisher.publish(trx, t.clock.now(), [low, back]));
    const rows = await t.db.selectFrom("outbox_events").select(["type", "destination"]).where("id", "in", ids).orderBy("id").execute();
    expect(rows.map((row) => [row.type, row.destination])).toEqual([
      ["inventory.low_stock", "test-always"],
      ["inventory.back_in_stock", "test-always"],
      ["inventory.back_in_stock", "test-back-in-stock-only"],
    ]);
    expect(ids).toHaveLength(3);
    await t.db.deleteFrom("outbox_events").where("id", "in", ids).execute();
  });

  test("a destination subscribed twice to one event is refused when the publisher is built", () => {
    expect(() => createEventPublisher([shippingSubscription, shippingSubscription])).toThrow("shipping subscribes to order.paid twice");
  });
});
