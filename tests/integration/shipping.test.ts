/**
 * Shipping against real PostgreSQL: booking on order.paid through the outbox (driven by hand with
 * runOnce and a manual clock), the fake carrier over real HTTP, signed webhooks routed in-process
 * into the webhook route, cancellation, and the customer and admin procedures.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import type { Selectable } from "kysely";
import { type FakeCarrier, signCarrierWebhook, startFakeCarrier } from "../../apps/fakes/carrier.ts";
import type { OutboxEventsTable } from "../../db/index.ts";
import { createCallerFactory, createLogger, domainErrorOf, HOUR, isDomainError, MINUTE } from "../../modules/kernel/index.ts";
import { createOutboxPoller, type DeliverableEvent } from "../../modules/outbox/index.ts";
import {
  type Carrier,
  createCarrierWebhookRoute,
  createShippingRouter,
  createShippingService,
  HttpCarrier,
  type ShippingService,
} from "../../modules/shipping/index.ts";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";

const SECRET = "whsec_shipping_test_5f1c0a";
const ADDRESS = "12 Harbour Road, Haeundae-gu, Busan 48094";
const logger = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");

let t: TestAgora;
let carrier: FakeCarrier;
let http: HttpCarrier;
let service: ShippingService;
let route: (request: Request) => Promise<Response>;
let product: { id: number; name: string; price: number };

function build(port: Carrier): ShippingService {
  return createShippingService({
    db: t.db,
    clock: t.clock,
    logger,
    orders: t.agora.services.orders,
    carrier: port,
    webhook: { secret: SECRET, toleranceSeconds: 300 },
    events: t.agora.events,
  });
}

beforeAll(async () => {
  t = await startTestAgora();
  // Webhooks go straight into the route, in-process; the carrier API itself is real HTTP.
  carrier = startFakeCarrier({ webhookSecret: SECRET, now: () => t.clock.now(), webhookFetch: (request) => route(request) });
  http = new HttpCarrier({ baseUrl: carrier.url, timeoutMs: 1_000 });
  service = build(http);
  route = createCarrierWebhookRoute(service, { logger });
  product = await t.createProduct({ name: "Kettle", price: 25_000, stock: 1_000 });
});
afterAll(async () => {
  await carrier?.stop();
  await t?.close();
});
beforeEach(() => carrier.control.reset());
// Every test leaves the shipping queue empty, so the next one's counts are its own.
afterEach(async () => {
  const left = await t.db.selectFrom("outbox_events").select("id").where("destination", "=", "shipping").where("status", "=", "pending").execute();
  expect(left).toHaveLength(0);
});

/** random 0.5 → no jitter: retries come exactly 5 and 15 minutes later. */
const poller = (svc: ShippingService = service) =>
  createOutboxPoller({ db: t.db, clock: t.clock, logger, handlers: { shipping: svc.handleOutboxEvent }, random: () => 0.5 });

async function paidOrder(options: { address?: string | null; customer?: Customer } = {}): Promise<{ c: Customer; orderId: number }> {
  const c = options.customer ?? (await t.signUpCustomer("shipper"));
  await t.fund(c, 100_000);
  const address = options.address === undefined ? ADDRESS : options.address;
  const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 2 }], ...(address ? { shippingAddress: address } : {}) });
  return { c, orderId: placed.orderId };
}

const shipmentOf = (orderId: number) => t.db.selectFrom("shipping_shipments").selectAll().where("order_id", "=", orderId).executeTakeFirst();
async function shipped(orderId: number) {
  const row = await shipmentOf(orderId);
  if (!row) throw new Error(`no shipment for order ${orderId}`);
  return row;
}
const timelineOf = (shipmentId: number) =>
  t.db
    .selectFrom("shipping_tracking_events")
    .select(["status", "description", "carrier_event_id", "occurred_at"])
    .where("shipment_id", "=", shipmentId)
    .orderBy("occurred_at")
    .orderBy("id")
    .execute();
async function orderStatus(orderId: number): Promise<string> {
  return (await t.db.selectFrom("order_orders").select("status").where("id", "=", orderId).executeTakeFirstOrThrow()).status;
}
const shippingRow = (orderId: number, type: "order.paid" | "order.cancelled") =>
  t.db
    .selectFrom("outbox_events")
    .selectAll()
    .where("aggregate_type", "=", "order")
    .where("aggregate_id", "=", String(orderId))
    .where("type", "=", type)
    .where("destination", "=", "shipping")
    .executeTakeFirstOrThrow();
const shipmentEvents = (shipmentId: number) =>
  t.db
    .selectFrom("outbox_events")
    .select(["type", "destination", "payload"])
    .where("aggregate_type", "=", "shipment")
    .where("aggregate_id", "=", String(shipmentId))
    // The integrators' fan-out (one more row per event) is tested in webhooks.test.ts.
    .where("destination", "<>", "webhooks")
    .orderBy("type")
    .orderBy("destination")
    .execute();
async function countAll(table: "outbox_events" | "shipping_tracking_events"): Promise<number> {
  const row = await t.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

function deliverable(row: Selectable<OutboxEventsTable>): DeliverableEvent {
  return {
    id: row.id,
    type: row.type,
    destination: row.destination,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    payload: row.payload as Record<string, unknown>,
    attempts: row.attempts,
    createdAt: row.created_at,
  };
}

/** A paid order whose shipment is booked (ready). */
async function readyShipment(options: { customer?: Customer } = {}) {
  const { c, orderId } = await paidOrder(options);
  expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
  const shipment = await shipped(orderId);
  return { c, orderId, shipment, trackingNumber: shipment.tracking_number as string };
}

/** A webhook body signed now (or at `at` seconds) with the right secret, sent through the fake. */
function signedWebhook(body: Record<string, unknown> | string, options: { secret?: string; at?: number } = {}) {
  const rawBody = typeof body === "string" ? body : JSON.stringify(body);
  const at = options.at ?? Math.floor(t.clock.now().getTime() / 1000);
  return carrier.sendWebhook(rawBody, signCarrierWebhook(options.secret ?? SECRET, rawBody, at));
}

async function domainCode(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    const domain = domainErrorOf(error);
    if (domain) return domain.domainCode;
    const code = (error as { code?: string }).code;
    return code ?? String(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** The shipping router called as a customer, an admin or nobody, with a real session from identity. */
async function as(who: Customer | null) {
  const session = who ? await t.agora.services.identity.resolveSession(who.token) : null;
  return createCallerFactory(createShippingRouter(service))({ requestId: "test", ip: null, session, log: logger, metrics: null });
}

describe("booking a paid order (outbox → carrier)", () => {
  test("one shipment, ready, with the carrier's tracking number; the order is preparing", async () => {
    const { c, orderId } = await paidOrder();
    const row = await shippingRow(orderId, "order.paid");
    expect(await shipmentOf(orderId)).toBeUndefined();

    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });

    const parcels = carrier.shipmentsFor(orderId);
    expect(parcels).toHaveLength(1);
    const parcel = parcels[0];
    // The outbox event id is the idempotency key: a redelivered event books nothing new.
    expect(parcel).toMatchObject({
      idempotencyKey: row.id,
      orderId,
      address: ADDRESS,
      status: "booked",
      items: [{ productId: product.id, productName: "Kettle", quantity: 2 }],
    });
    const shipment = await shipped(orderId);
    expect(shipment).toMatchObject({
      status: "ready",
      carrier: "fake-carrier",
      tracking_number: parcel?.trackingNumber,
      user_id: c.id,
      delivered_at: null,
    });
    // The row keeps the address sealed (personal data at rest); the carrier got it in the clear, above.
    expect(shipment.address?.startsWith("pii1:")).toBe(true);
    expect(await orderStatus(orderId)).toBe("preparing");
    expect(await timelineOf(shipment.id)).toEqual([
      {
        status: "ready",
        description: `Booked with fake-carrier, tracking number ${parcel?.trackingNumber}`,
        carrier_event_id: null,
        occurred_at: t.clock.now(),
      },
    ]);
    expect(await shippingRow(orderId, "order.paid")).toMatchObject({ status: "sent", attempts: 1, last_error: null });
    expect(carrier.stats()).toMatchObject({ createRequests: 1, created: 1, replayed: 0, failed: 0 });
  });

  test("a lost answer: the carrier booked but answered 503; the retry gets the same booking, not a second parcel", async () => {
    carrier.control.failNext(1, { afterApplying: true });
    const { orderId } = await paidOrder();
    const started = t.clock.now();

    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    const afterFirst = await shippingRow(orderId, "order.paid");
    expect(afterFirst).toMatchObject({ status: "pending", attempts: 1, next_attempt_at: new Date(started.getTime() + 5 * MINUTE) });
    expect(afterFirst.last_error).toContain("HTTP 503");
    expect(await shipped(orderId)).toMatchObject({ status: "requested", tracking_number: null, carrier: null });
    expect(await orderStatus(orderId)).toBe("paid");
    expect(carrier.shipmentsFor(orderId)).toHaveLength(1);

    // Not due yet.
    expect(await poller().runOnce()).toEqual({ claimed: 0, sent: 0, retried: 0, dead: 0 });
    t.clock.advance(5 * MINUTE);
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });

    const parcels = carrier.shipmentsFor(orderId);
    expect(parcels).toHaveLength(1);
    const shipment = await shipped(orderId);
    expect(shipment).toMatchObject({ status: "ready", tracking_number: parcels[0]?.trackingNumber });
    expect(await orderStatus(orderId)).toBe("preparing");
    expect(carrier.stats()).toMatchObject({ createRequests: 2, created: 1, replayed: 1, failed: 1 });
    expect(await shippingRow(orderId, "order.paid")).toMatchObject({ status: "sent", attempts: 2 });

    // Delivered once more (e.g. a lease ran out): nothing is booked or recorded again.
    await service.handleOutboxEvent(deliverable(await shippingRow(orderId, "order.paid")));
    expect(carrier.stats().createRequests).toBe(2);
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["ready"]);
  });

  test("the same event handled twice at the same time: one parcel, one ready entry", async () => {
    const { orderId } = await paidOrder();
    const event = deliverable(await shippingRow(orderId, "order.paid"));
    carrier.control.latency(50);
    await Promise.all([service.handleOutboxEvent(event), service.handleOutboxEvent(event)]);

    expect(carrier.shipmentsFor(orderId)).toHaveLength(1);
    expect(carrier.stats().created).toBe(1);
    const shipment = await shipped(orderId);
    expect(shipment.status).toBe("ready");
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["ready"]);
    expect(await orderStatus(orderId)).toBe("preparing");
    // The outbox row itself is still pending: the poller now finds the work done.
    const createsBefore = carrier.stats().createRequests;
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(carrier.stats().createRequests).toBe(createsBefore);
  });

  test("carrier down: the event is retried after 5 and 15 minutes and succeeds on the third attempt", async () => {
    carrier.control.failAlways(true);
    const { orderId } = await paidOrder();
    const t0 = t.clock.now().getTime();

    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    expect(await shippingRow(orderId, "order.paid")).toMatchObject({ status: "pending", attempts: 1, next_attempt_at: new Date(t0 + 5 * MINUTE) });

    t.clock.advance(5 * MINUTE - 1);
    expect((await poller().runOnce()).claimed).toBe(0);
    t.clock.advance(1);
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    const second = await shippingRow(orderId, "order.paid");
    expect(second).toMatchObject({ status: "pending", attempts: 2, next_attempt_at: new Date(t0 + 20 * MINUTE) });
    expect(second.last_error).toContain("HTTP 503");
    expect(await shipped(orderId)).toMatchObject({ status: "requested", tracking_number: null });

    carrier.control.failAlways(false);
    t.clock.advance(15 * MINUTE);
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(await shippingRow(orderId, "order.paid")).toMatchObject({ status: "sent", attempts: 3, last_error: null });
    expect(await shipped(orderId)).toMatchObject({ status: "ready", tracking_number: carrier.shipmentsFor(orderId)[0]?.trackingNumber });
    expect(carrier.stats()).toMatchObject({ createRequests: 3, created: 1, failed: 2 });
  });

  test("an order without an address is dead at once (nothing to book) and leaves the shipment requested", async () => {
    const { orderId } = await paidOrder({ address: null });
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 0, retried: 0, dead: 1 });
    const row = await shippingRow(orderId, "order.paid");
    expect(row.status).toBe("dead");
    expect(row.last_error).toContain("has no shipping address");
    expect(await shipped(orderId)).toMatchObject({ status: "requested", address: null });
    expect(carrier.stats().createRequests).toBe(0);
  });
});

describe("carrier webhooks", () => {
  test("in_transit → order shipped, one shipment.shipped per destination; out_for_delivery changes no status; delivered → order delivered", async () => {
    const { c, orderId, shipment, trackingNumber } = await readyShipment();
    t.clock.advance(2 * HOUR);
    const transitAt = t.clock.now();

    const transit = await carrier.advance(trackingNumber, "in_transit");
    expect({ status: transit.status, body: transit.body }).toEqual({ status: 200, body: { status: "applied" } });
    expect(await orderStatus(orderId)).toBe("shipped");
    expect(await shipped(orderId)).toMatchObject({ status: "in_transit", delivered_at: null });
    expect(await timelineOf(shipment.id)).toEqual([
      expect.objectContaining({ status: "ready", carrier_event_id: null }),
      { status: "in_transit", description: "Picked up by the carrier", carrier_event_id: transit.eventId, occurred_at: transitAt },
    ]);
    const payload = { orderId, userId: c.id, trackingNumber, carrier: "fake-carrier", occurredAt: transitAt.toISOString() };
    expect(await shipmentEvents(shipment.id)).toEqual([
      { type: "shipment.shipped", destination: "data-platform", payload },
      { type: "shipment.shipped", destination: "notifications", payload },
    ]);

    t.clock.advance(HOUR);
    const out = await carrier.advance(trackingNumber, "out_for_delivery");
    expect(out.body).toEqual({ status: "applied" });
    expect(await orderStatus(orderId)).toBe("shipped");
    expect((await shipped(orderId)).status).toBe("in_transit");
    expect(await shipmentEvents(shipment.id)).toHaveLength(2);
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["ready", "in_transit", "out_for_delivery"]);

    t.clock.advance(HOUR);
    const deliveredAt = t.clock.now();
    const delivered = await carrier.advance(trackingNumber, "delivered");
    expect(delivered.body).toEqual({ status: "applied" });
    expect(await orderStatus(orderId)).toBe("delivered");
    expect(await shipped(orderId)).toMatchObject({ status: "delivered", delivered_at: deliveredAt });
    const deliveredPayload = { ...payload, occurredAt: deliveredAt.toISOString() };
    expect(await shipmentEvents(shipment.id)).toEqual([
      { type: "shipment.delivered", destination: "data-platform", payload: deliveredPayload },
      { type: "shipment.delivered", destination: "notifications", payload: deliveredPayload },
      { type: "shipment.shipped", destination: "data-platform", payload },
      { type: "shipment.shipped", destination: "notifications", payload },
    ]);
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["ready", "in_transit", "out_for_delivery", "delivered"]);

    // A late in_transit after delivery goes on the timeline only.
    t.clock.advance(MINUTE);
    const late = await signedWebhook({ eventId: `${trackingNumber}-late`, trackingNumber, status: "in_transit", occurredAt: transitAt.toISOString() });
    expect(late.body).toEqual({ status: "applied" });
    expect(await orderStatus(orderId)).toBe("delivered");
    expect((await shipped(orderId)).status).toBe("delivered");
    expect(await shipmentEvents(shipment.id)).toHaveLength(4);
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["ready", "in_transit", "in_transit", "out_for_delivery", "delivered"]);
  });

  test("delivered without an in_transit first: the order goes through shipped to delivered, and both events are sent", async () => {
    const { orderId, shipment, trackingNumber } = await readyShipment();
    const delivered = await carrier.advance(trackingNumber, "delivered");
    expect(delivered.body).toEqual({ status: "applied" });
    expect(await orderStatus(orderId)).toBe("delivered");
    expect((await shipmentEvents(shipment.id)).map((e) => `${e.type}→${e.destination}`)).toEqual([
      "shipment.delivered→data-platform",
      "shipment.delivered→notifications",
      "shipment.shipped→data-platform",
      "shipment.shipped→notifications",
    ]);
  });

  test("a bad signature (wrong secret, tampered body, stale or future timestamp, missing or malformed header) is refused and changes nothing", async () => {
    const { orderId, shipment, trackingNumber } = await readyShipment();
    const now = Math.floor(t.clock.now().getTime() / 1000);
    const body = JSON.stringify({ eventId: `${trackingNumber}-forged`, trackingNumber, status: "in_transit", occurredAt: t.clock.now().toISOString() });
    const before = {
      shipment: await shipped(orderId),
      events: await countAll("shipping_tracking_events"),
      outbox: await countAll("outbox_events"),
      order: await orderStatus(orderId),
    };

    const refused = [
      await carrier.sendWebhook(body, signCarrierWebhook("not-the-secret", body, now)),
      await carrier.sendWebhook(body.replace('"in_transit"', '"delivered"'), signCarrierWebhook(SECRET, body, now)),
      await carrier.sendWebhook(body, signCarrierWebhook(SECRET, body, now - 301)),
      await carrier.sendWebhook(body, signCarrierWebhook(SECRET, body, now + 301)),
      await carrier.sendWebhook(body, null),
      await carrier.sendWebhook(body, "v1=deadbeef"),
      await carrier.sendWebhook(body, `t=${now},v1=${"ab".repeat(31)}`),
    ];
    for (const answer of refused) {
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 401,
        body: { error: { code: "INVALID_SIGNATURE", message: "The signature is not valid" } },
      });
    }

    // The service says why; every one is INVALID_SIGNATURE.
    const reasons = [];
    for (const [raw, header] of [
      [body, signCarrierWebhook("not-the-secret", body, now)],
      [body, signCarrierWebhook(SECRET, body, now - 301)],
      [body, null],
      [body, "v1=deadbeef"],
    ] as const) {
      try {
        await service.handleCarrierWebhook(raw, header);
        reasons.push("accepted");
      } catch (error) {
        reasons.push(isDomainError(error, "INVALID_SIGNATURE") ? error.details.reason : String(error));
      }
    }
    expect(reasons).toEqual(["mismatch", "expired", "missing", "malformed"]);

    expect(await shipped(orderId)).toEqual(before.shipment);
    expect(await countAll("shipping_tracking_events")).toBe(before.events);
    expect(await countAll("outbox_events")).toBe(before.outbox);
    expect(await orderStatus(orderId)).toBe(before.order);
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["ready"]);

    // Exactly at the tolerance it is still accepted.
    const edge = await carrier.sendWebhook(body, signCarrierWebhook(SECRET, body, now - 300));
    expect(edge.body).toEqual({ status: "applied" });
    expect(await orderStatus(orderId)).toBe("shipped");
  });

  test("a replayed webhook (same eventId) changes nothing the second time, even re-signed with another body", async () => {
    const { orderId, shipment, trackingNumber } = await readyShipment();
    const first = await carrier.advance(trackingNumber, "in_transit");
    expect(first.body).toEqual({ status: "applied" });
    const events = await countAll("shipping_tracking_events");
    const outbox = await countAll("outbox_events");

    const replayed = await carrier.replay(first);
    expect({ status: replayed.status, body: replayed.body }).toEqual({ status: 200, body: { status: "duplicate" } });
    const sameIdOtherBody = await signedWebhook({ eventId: first.eventId, trackingNumber, status: "delivered", occurredAt: t.clock.now().toISOString() });
    expect(sameIdOtherBody.body).toEqual({ status: "duplicate" });

    expect(await countAll("shipping_tracking_events")).toBe(events);
    expect(await countAll("outbox_events")).toBe(outbox);
    expect(await orderStatus(orderId)).toBe("shipped");
    expect((await shipped(orderId)).status).toBe("in_transit");
    expect((await shipmentEvents(shipment.id)).map((e) => e.type)).toEqual(["shipment.shipped", "shipment.shipped"]);
  });

  test("six copies of one webhook at the same time: one applied, five duplicates, one entry and one set of events", async () => {
    const { orderId, shipment, trackingNumber } = await readyShipment();
    const rawBody = JSON.stringify({ eventId: `${trackingNumber}-burst`, trackingNumber, status: "delivered", occurredAt: t.clock.now().toISOString() });
    const signature = signCarrierWebhook(SECRET, rawBody, Math.floor(t.clock.now().getTime() / 1000));
    const answers = await Promise.all(Array.from({ length: 6 }, () => carrier.sendWebhook(rawBody, signature)));
    const tally = answers.map((a) => (a.body as { status: string }).status).sort();
    expect(tally).toEqual(["applied", "duplicate", "duplicate", "duplicate", "duplicate", "duplicate"]);
    expect(await orderStatus(orderId)).toBe("delivered");
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["ready", "delivered"]);
    expect(await shipmentEvents(shipment.id)).toHaveLength(4);
  });

  test("a signed but malformed body is 400, an unknown tracking number 404, an oversized body 413, a GET 405; none changes anything", async () => {
    const { orderId, trackingNumber } = await readyShipment();
    const events = await countAll("shipping_tracking_events");
    const outbox = await countAll("outbox_events");
    const notJson = await signedWebhook("{not json");
    expect({ status: notJson.status, code: (notJson.body as { error: { code: string } }).error.code }).toEqual({ status: 400, code: "VALIDATION_FAILED" });

    const missing = await signedWebhook({ trackingNumber, status: "in_transit", occurredAt: t.clock.now().toISOString() });
    expect(missing.status).toBe(400);
    expect(Object.keys((missing.body as { error: { fieldErrors: Record<string, string[]> } }).error.fieldErrors)).toEqual(["eventId"]);
    const badStatus = await signedWebhook({ eventId: "e-1", trackingNumber, status: "lost", occurredAt: t.clock.now().toISOString() });
    expect(Object.keys((badStatus.body as { error: { fieldErrors: Record<string, string[]> } }).error.fieldErrors)).toEqual(["status"]);

    const unknown = await signedWebhook({
      eventId: "e-unknown",
      trackingNumber: "NO-SUCH-NUMBER",
      status: "in_transit",
      occurredAt: t.clock.now().toISOString(),
    });
    expect({ status: unknown.status, body: unknown.body }).toEqual({
      status: 404,
      body: { error: { code: "SHIPMENT_NOT_FOUND", message: "No such shipment" } },
    });

    const huge = await signedWebhook({
      eventId: "e-huge",
      trackingNumber,
      status: "in_transit",
      occurredAt: t.clock.now().toISOString(),
      description: "x".repeat(70_000),
    });
    expect(huge.status).toBe(413);
    expect((await route(new Request("http://agora.test/webhooks/carrier"))).status).toBe(405);

    expect(await countAll("shipping_tracking_events")).toBe(events);
    expect(await countAll("outbox_events")).toBe(outbox);
    expect(await orderStatus(orderId)).toBe("preparing");
    expect((await shipped(orderId)).status).toBe("ready");
  });
});

describe("cancellation", () => {
  test("cancelling a booked order cancels the parcel at the carrier and the shipment", async () => {
    const { c, orderId, shipment, trackingNumber } = await readyShipment();
    await c.client.orders.cancel.mutate({ orderId });
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });

    expect(carrier.shipment(trackingNumber)?.status).toBe("cancelled");
    expect(carrier.stats()).toMatchObject({ cancelRequests: 1, cancelled: 1, cancelRefused: 0 });
    expect(await shipped(orderId)).toMatchObject({ status: "cancelled", tracking_number: trackingNumber });
    expect((await timelineOf(shipment.id)).map((e) => [e.status, e.description])).toEqual([
      ["ready", `Booked with fake-carrier, tracking number ${trackingNumber}`],
      ["cancelled", "Shipment cancelled: the order was cancelled"],
    ]);
    // Redelivered: nothing more.
    await service.handleOutboxEvent(deliverable(await shippingRow(orderId, "order.cancelled")));
    expect(carrier.stats().cancelRequests).toBe(1);
    expect(await timelineOf(shipment.id)).toHaveLength(2);
  });

  test("cancelled before the paid event was handled: nothing is booked", async () => {
    const { c, orderId } = await paidOrder();
    await c.client.orders.cancel.mutate({ orderId });
    // One order's events go out in order: paid (finds the order cancelled, books nothing), then cancelled.
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(await shipmentOf(orderId)).toBeUndefined();
    expect(carrier.shipmentsFor(orderId)).toHaveLength(0);
    expect(carrier.stats().createRequests).toBe(0);
  });

  test("cancelled while the carrier was booking: the fresh booking is cancelled, the event is not retried", async () => {
    const { c, orderId } = await paidOrder();
    // The customer cancels exactly between the carrier's answer and our transaction.
    const racing: Carrier = {
      async createShipment(request) {
        const booking = await http.createShipment(request);
        await c.client.orders.cancel.mutate({ orderId: request.orderId });
        return booking;
      },
      cancelShipment: (request) => http.cancelShipment(request),
    };
    expect(await poller(build(racing)).runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });

    const [parcel] = carrier.shipmentsFor(orderId);
    expect(parcel?.status).toBe("cancelled");
    expect(await orderStatus(orderId)).toBe("cancelled");
    const shipment = await shipped(orderId);
    expect(shipment).toMatchObject({ status: "cancelled", carrier: "fake-carrier", tracking_number: parcel?.trackingNumber });
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["cancelled"]);
    expect(await shippingRow(orderId, "order.paid")).toMatchObject({ status: "sent", attempts: 1 });

    // The order.cancelled that followed finds it done.
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(carrier.stats()).toMatchObject({ created: 1, cancelRequests: 1, cancelled: 1 });
  });

  test("a lost booking answer, then a cancel: the retry recovers the booking by its key and cancels it", async () => {
    carrier.control.failNext(1, { afterApplying: true });
    const { c, orderId } = await paidOrder();
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    expect(carrier.shipmentsFor(orderId)).toHaveLength(1);
    await c.client.orders.cancel.mutate({ orderId });
    t.clock.advance(5 * MINUTE);
    // The retried paid event first (it recovers the booking and cancels it), then the cancelled event.
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });

    const parcels = carrier.shipmentsFor(orderId);
    expect(parcels.map((p) => p.status)).toEqual(["cancelled"]);
    const shipment = await shipped(orderId);
    expect(shipment).toMatchObject({ status: "cancelled", tracking_number: parcels[0]?.trackingNumber });
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["cancelled"]);
    expect(carrier.stats()).toMatchObject({ created: 1, cancelled: 1 });
  });

  test("too late: the parcel already left; the refusal is recorded, the event is dead, and the late webhook moves only the shipment", async () => {
    const { c, orderId, shipment, trackingNumber } = await readyShipment();
    const unseen = await carrier.advance(trackingNumber, "in_transit", { notify: false });
    await c.client.orders.cancel.mutate({ orderId });

    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 0, retried: 0, dead: 1 });
    const row = await shippingRow(orderId, "order.cancelled");
    expect(row.status).toBe("dead");
    expect(row.last_error).toContain("already in transit");
    expect(carrier.stats()).toMatchObject({ cancelRequests: 1, cancelRefused: 1, cancelled: 0 });
    expect((await shipped(orderId)).status).toBe("ready");
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["ready", "cancel_refused"]);

    const late = await carrier.replay(unseen);
    expect(late.body).toEqual({ status: "applied" });
    expect((await shipped(orderId)).status).toBe("in_transit");
    expect(await orderStatus(orderId)).toBe("cancelled");
    expect(await shipmentEvents(shipment.id)).toHaveLength(0);
  });
});

describe("address changed while the carrier was booking", () => {
  const NEW_ADDRESS = "77 Teheran-ro, Gangnam-gu, Seoul 06133";

  /**
   * The carrier port over the fake, where the customer changes the address between the carrier's
   * first answer and our transaction; with `failNextCall` the carrier then fails the next request
   * (the stale parcel's cancel, whenever it is made).
   */
  function changingAddressOnce(c: Customer, to: string, options: { failNextCall?: boolean } = {}): Carrier {
    let changed = false;
    return {
      async createShipment(request) {
        const booking = await http.createShipment(request);
        if (!changed) {
          changed = true;
          await c.client.orders.changeAddress.mutate({ orderId: request.orderId, shippingAddress: to });
          if (options.failNextCall) carrier.control.failNext(1);
        }
        return booking;
      },
      cancelShipment: (request) => http.cancelShipment(request),
    };
  }
  const staleRow = (shipmentId: number) =>
    t.db
      .selectFrom("outbox_events")
      .selectAll()
      .where("aggregate_type", "=", "shipment")
      .where("aggregate_id", "=", String(shipmentId))
      .where("type", "=", "shipment.booking_stale")
      .where("destination", "=", "shipping")
      .executeTakeFirstOrThrow();
  const live = (orderId: number) => carrier.shipmentsFor(orderId).filter((p) => p.status !== "cancelled");

  test("the stale parcel is recorded with its cancel before the carrier is asked; then one live parcel, to the new address", async () => {
    const { c, orderId } = await paidOrder();
    const svc = build(changingAddressOnce(c, NEW_ADDRESS));

    // Booked to the old address, found stale under the order lock: recorded, and order.paid is retried.
    expect(await poller(svc).runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    const [stale] = carrier.shipmentsFor(orderId);
    expect(stale).toMatchObject({ address: ADDRESS, status: "booked" });
    const shipment = await shipped(orderId);
    expect(shipment).toMatchObject({ status: "requested", tracking_number: null });
    expect(await orderStatus(orderId)).toBe("paid");
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["booking_stale"]);
    expect(await staleRow(shipment.id)).toMatchObject({
      status: "pending",
      payload: { orderId, shipmentId: shipment.id, carrier: "fake-carrier", trackingNumber: stale?.trackingNumber },
    });

    // The stale parcel's own event cancels it; order.paid is not due yet.
    expect(await poller(svc).runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(carrier.shipment(stale?.trackingNumber ?? "")?.status).toBe("cancelled");

    t.clock.advance(5 * MINUTE);
    expect(await poller(svc).runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(live(orderId)).toHaveLength(1);
    const [parcel] = live(orderId);
    expect(parcel).toMatchObject({ address: NEW_ADDRESS, status: "booked" });
    expect(await shipped(orderId)).toMatchObject({ status: "ready", tracking_number: parcel?.trackingNumber });
    expect(await orderStatus(orderId)).toBe("preparing");
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["booking_stale", "booking_stale_cancelled", "ready"]);
    expect(carrier.stats()).toMatchObject({ created: 2, cancelled: 1 });

    // Delivered again (a lease ran out): no second parcel for the same address.
    await svc.handleOutboxEvent(deliverable(await shippingRow(orderId, "order.paid")));
    expect(carrier.shipmentsFor(orderId)).toHaveLength(2);
    expect(live(orderId)).toHaveLength(1);
  });

  test("the carrier fails the stale cancel once: the outbox retries it, the stale parcel ends cancelled, one live parcel remains", async () => {
    const { c, orderId } = await paidOrder();
    const svc = build(changingAddressOnce(c, NEW_ADDRESS, { failNextCall: true }));
    expect(await poller(svc).runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    const [stale] = carrier.shipmentsFor(orderId);
    const shipment = await shipped(orderId);

    expect(await poller(svc).runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    expect(stale?.status).toBe("booked");
    expect(carrier.stats()).toMatchObject({ cancelRequests: 1, failed: 1 });
    const afterFailure = await staleRow(shipment.id);
    expect(afterFailure).toMatchObject({ status: "pending", attempts: 1 });
    expect(afterFailure.last_error).toContain("HTTP 503");

    // Both come due: the stale cancel's retry and order.paid's.
    t.clock.advance(5 * MINUTE);
    expect(await poller(svc).runOnce()).toEqual({ claimed: 2, sent: 2, retried: 0, dead: 0 });
    expect(carrier.shipment(stale?.trackingNumber ?? "")?.status).toBe("cancelled");
    expect(live(orderId)).toHaveLength(1);
    const [parcel] = live(orderId);
    expect(parcel?.address).toBe(NEW_ADDRESS);
    expect(await shipped(orderId)).toMatchObject({ status: "ready", tracking_number: parcel?.trackingNumber });
    expect(await staleRow(shipment.id)).toMatchObject({ status: "sent", attempts: 2 });
    expect((await timelineOf(shipment.id)).map((e) => e.status).sort()).toEqual(["booking_stale", "booking_stale_cancelled", "ready"]);
  });

  test("the carrier booked but its answer was lost, then the address changed: the retry gets that parcel back by its key and cancels it", async () => {
    carrier.control.failNext(1, { afterApplying: true });
    const { c, orderId } = await paidOrder();
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    const [lost] = carrier.shipmentsFor(orderId);
    expect(lost).toMatchObject({ address: ADDRESS, status: "booked" });
    // Written before the carrier was asked, so the retry knows a parcel may exist for the old address.
    expect((await shipped(orderId)).booking_address?.startsWith("pii1:")).toBe(true);
    await c.client.orders.changeAddress.mutate({ orderId, shippingAddress: NEW_ADDRESS });

    t.clock.advance(5 * MINUTE);
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(carrier.shipment(lost?.trackingNumber ?? "")?.status).toBe("cancelled");
    expect(live(orderId)).toHaveLength(1);
    const [parcel] = live(orderId);
    expect(parcel?.address).toBe(NEW_ADDRESS);
    const shipment = await shipped(orderId);
    expect(shipment).toMatchObject({ status: "ready", tracking_number: parcel?.trackingNumber, booking_address: null });
    expect((await timelineOf(shipment.id)).map((e) => e.status)).toEqual(["booking_stale", "ready", "booking_stale_cancelled"]);
    expect(carrier.stats()).toMatchObject({ created: 2, replayed: 1, cancelled: 1 });
  });

  test("the address changed back to the first one: the retry books a new parcel, not the cancelled one again", async () => {
    const { c, orderId } = await paidOrder();
    const svc = build(changingAddressOnce(c, NEW_ADDRESS));
    expect(await poller(svc).runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    const [stale] = carrier.shipmentsFor(orderId);
    await c.client.orders.changeAddress.mutate({ orderId, shippingAddress: ADDRESS });
    expect(await poller(svc).runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });

    t.clock.advance(5 * MINUTE);
    expect(await poller(svc).runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    const [parcel] = live(orderId);
    expect(live(orderId)).toHaveLength(1);
    expect(parcel).toMatchObject({ address: ADDRESS, status: "booked" });
    expect(parcel?.trackingNumber).not.toBe(stale?.trackingNumber);
    expect(await shipped(orderId)).toMatchObject({ status: "ready", tracking_number: parcel?.trackingNumber });
  });
});

describe("procedures", () => {
  test("track: the owner sees the shipment and its timeline; anyone else gets SHIPMENT_NOT_FOUND, like a missing one", async () => {
    const { c, orderId, trackingNumber } = await readyShipment();
    const bookedAt = t.clock.now();
    t.clock.advance(HOUR);
    await carrier.advance(trackingNumber, "in_transit");

    expect(await (await as(c)).track({ orderId })).toEqual({
      orderId,
      status: "in_transit",
      carrier: "fake-carrier",
      trackingNumber,
      address: ADDRESS,
      timeline: [
        { status: "ready", description: `Booked with fake-carrier, tracking number ${trackingNumber}`, occurredAt: bookedAt },
        { status: "in_transit", description: "Picked up by the carrier", occurredAt: new Date(bookedAt.getTime() + HOUR) },
      ],
    });

    const other = await t.signUpCustomer("nosy");
    expect(await domainCode((await as(other)).track({ orderId }))).toBe("SHIPMENT_NOT_FOUND");
    expect(await domainCode((await as(c)).track({ orderId: 9_999_999 }))).toBe("SHIPMENT_NOT_FOUND");
    expect(await domainCode((await as(null)).track({ orderId }))).toBe("UNAUTHENTICATED");
    expect(await domainCode((await as(c)).admin.list({}))).toBe("FORBIDDEN");
    expect(await domainCode((await as(c)).admin.setTrackingNumber({ orderId, carrier: "x", trackingNumber: "ABCD-1" }))).toBe("FORBIDDEN");
  });

  test("admin sets a tracking number: recorded on the timeline; webhooks follow the new number", async () => {
    const admin = await as(await t.admin());
    const { c, orderId, shipment, trackingNumber } = await readyShipment();
    const newNumber = `CJ-${orderId}-0001`;

    const detail = await admin.admin.setTrackingNumber({ orderId, carrier: "CJ Logistics", trackingNumber: newNumber });
    expect(detail).toMatchObject({ shipmentId: shipment.id, orderId, userId: c.id, status: "ready", carrier: "CJ Logistics", trackingNumber: newNumber });
    expect(detail.timeline.map((e) => [e.status, e.description, e.carrierEventId])).toEqual([
      ["ready", `Booked with fake-carrier, tracking number ${trackingNumber}`, null],
      ["ready", `Tracking number set by operator: CJ Logistics ${newNumber}`, null],
    ]);
    // The same number again records nothing.
    expect((await admin.admin.setTrackingNumber({ orderId, carrier: "CJ Logistics", trackingNumber: newNumber })).timeline).toHaveLength(2);
    expect(await admin.admin.get({ orderId })).toEqual(detail);

    const old = await signedWebhook({ eventId: `${newNumber}-a`, trackingNumber, status: "in_transit", occurredAt: t.clock.now().toISOString() });
    expect(old.status).toBe(404);
    const followed = await signedWebhook({
      eventId: `${newNumber}-b`,
      trackingNumber: newNumber,
      status: "in_transit",
      occurredAt: t.clock.now().toISOString(),
    });
    expect(followed.body).toEqual({ status: "applied" });
    expect(await orderStatus(orderId)).toBe("shipped");

    // Another shipment's number, a cancelled shipment, an order without one, a bad number.
    const second = await readyShipment();
    expect(await domainCode(admin.admin.setTrackingNumber({ orderId: second.orderId, carrier: "CJ Logistics", trackingNumber: newNumber }))).toBe(
      "TRACKING_NUMBER_TAKEN",
    );
    expect((await shipped(second.orderId)).tracking_number).toBe(second.trackingNumber);
    await second.c.client.orders.cancel.mutate({ orderId: second.orderId });
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(await domainCode(admin.admin.setTrackingNumber({ orderId: second.orderId, carrier: "CJ Logistics", trackingNumber: "CJ-OTHER-1" }))).toBe(
      "SHIPMENT_INVALID_STATE",
    );
    expect(await domainCode(admin.admin.setTrackingNumber({ orderId: 9_999_999, carrier: "CJ Logistics", trackingNumber: "CJ-OTHER-2" }))).toBe(
      "SHIPMENT_NOT_FOUND",
    );
    expect(await domainCode(admin.admin.setTrackingNumber({ orderId, carrier: "CJ Logistics", trackingNumber: "has spaces!" }))).toBe("BAD_REQUEST");
  });

  test("admin books by hand while the carrier is down: the shipment becomes ready, the order preparing, and the retry books nothing", async () => {
    const admin = await as(await t.admin());
    carrier.control.failAlways(true);
    const { orderId } = await paidOrder();
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    expect(await orderStatus(orderId)).toBe("paid");

    const detail = await admin.admin.setTrackingNumber({ orderId, carrier: "Hanjin", trackingNumber: `HJ-${orderId}` });
    expect(detail).toMatchObject({ status: "ready", carrier: "Hanjin", trackingNumber: `HJ-${orderId}` });
    expect(await orderStatus(orderId)).toBe("preparing");

    carrier.control.failAlways(false);
    t.clock.advance(5 * MINUTE);
    expect(await poller().runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(carrier.shipmentsFor(orderId)).toHaveLength(0);
    expect((await shipped(orderId)).tracking_number).toBe(`HJ-${orderId}`);
  });

  test("admin list: newest first, filtered by status, paged with a cursor", async () => {
    const admin = await as(await t.admin());
    await readyShipment();
    await readyShipment();
    await readyShipment();
    const expected = (await t.db.selectFrom("shipping_shipments").select("id").where("status", "=", "ready").orderBy("id", "desc").execute()).map((r) => r.id);
    expect(expected.length).toBeGreaterThanOrEqual(3);

    const seen: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await admin.admin.list({ status: "ready", limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.every((s) => s.status === "ready")).toBe(true);
      seen.push(...page.items.map((s) => s.shipmentId));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 2));
    const all = await admin.admin.list({ limit: 100 });
    expect(all.items).toHaveLength(
      Number(
        (
          await t.db
            .selectFrom("shipping_shipments")
            .select((eb) => eb.fn.countAll<number>().as("n"))
            .executeTakeFirstOrThrow()
        ).n,
      ),
    );
  });
});
