/**
 * Production's default (OUTBOX_FAN_OUT): a paid order writes its event once, and the Agora's own
 * poller writes and delivers its rows per destination. Orders placed at once (batched) and on their
 * own, delivered to the data platform, the carrier and the notifications exactly once each.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let admin: Customer;

beforeAll(async () => {
  t = await startTestAgora({ config: { outboxFanOut: true, webhookAllowPrivateTargets: true } });
  admin = await t.admin();
});
afterAll(() => t.close());

/** The Agora's poller until a claim finds nothing. */
async function drain(): Promise<number> {
  let rounds = 0;
  for (let r = await t.agora.outboxPoller.runOnce(); r.claimed > 0; r = await t.agora.outboxPoller.runOnce()) rounds++;
  return rounds;
}

async function rowsOf(orderIds: number[]) {
  return t.db
    .selectFrom("outbox_events")
    .select(["aggregate_id", "type", "destination", "status"])
    .where("aggregate_type", "=", "order")
    .where(
      "aggregate_id",
      "in",
      orderIds.map((id) => String(id)),
    )
    .execute();
}

async function placeMany(count: number): Promise<number[]> {
  const product = await t.createProduct({ price: 7_000, stock: 1_000 });
  const customers = await t.signUpCustomers(count, "fanned");
  for (const c of customers) await t.fund(c, 50_000);
  const placed = await Promise.all(
    customers.map((c) => c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: "서울 중구 세종대로 110" })),
  );
  return placed.map((p) => p.orderId);
}

describe("an order's events written once, fanned out by the poller", () => {
  test("12 orders at once: one row each while placed; after the poller, one sent row per destination, each system reached once", async () => {
    t.dataPlatform.control.reset();
    const appliedBefore = t.dataPlatform.stats().applied;
    const orderIds = await placeMany(12);

    const written = await rowsOf(orderIds);
    expect(written).toHaveLength(12);
    expect(new Set(written.map((r) => `${r.type}/${r.destination}/${r.status}`))).toEqual(new Set(["order.paid/fan-out/pending"]));
    // Not fanned out yet, the order's sync with the data platform reads pending, not unknown.
    const beforeFanOut = await admin.client.orders.admin.get.query({ orderId: orderIds[0] as number });
    expect(beforeFanOut.sync).toMatchObject({ synced: false, status: "pending", attempts: 0, lastError: null });

    await drain();
    const afterDrain = await admin.client.orders.admin.get.query({ orderId: orderIds[0] as number });
    expect(afterDrain.sync).toMatchObject({ synced: true, status: "sent", attempts: 1 });
    const rows = await rowsOf(orderIds);
    for (const orderId of orderIds) {
      const mine = rows.filter((r) => r.aggregate_id === String(orderId) && r.type === "order.paid");
      // No webhooks row: no endpoint wants order.paid (judged when the event is fanned out).
      expect(mine.map((r) => [r.destination, r.status]).sort()).toEqual([
        ["data-platform", "sent"],
        ["fan-out", "sent"],
        ["notifications", "sent"],
        ["shipping", "sent"],
      ]);
    }
    expect(t.dataPlatform.stats().applied - appliedBefore).toBe(12);
    const shipments = await t.db.selectFrom("shipping_shipments").select(["order_id", "status"]).where("order_id", "in", orderIds).execute();
    expect(shipments.map((s) => s.status)).toEqual(orderIds.map(() => "ready"));
    expect(await t.db.selectFrom("outbox_events").select("id").where("status", "<>", "sent").execute()).toHaveLength(0);
  });

  test("an endpoint registered after the order but before its event is fanned out receives it (the condition is judged at fan-out)", async () => {
    const [orderId] = await placeMany(1);
    await admin.client.webhooks.admin.create.mutate({ url: "http://127.0.0.1:9/hook", eventTypes: ["order.paid"], description: "late" });
    await t.agora.outboxPoller.runOnce();
    const rows = await rowsOf([orderId as number]);
    expect(rows.map((r) => r.destination).sort()).toContain("webhooks");
  });
});
