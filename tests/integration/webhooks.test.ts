/**
 * Webhooks for integrators on real PostgreSQL and Redis, with a real HTTP receiver on loopback
 * (allowed by WEBHOOK_ALLOW_PRIVATE_TARGETS in this Agora): no fan-out row while no endpoint wants an
 * event, signed once, retried then dead with an operator alert, nothing for a paused endpoint,
 * private targets and redirects refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createLogger, createPiiCipher, developmentPiiKeys, isDomainError, MINUTE } from "../../modules/kernel/index.ts";
import type { DeliverableEvent } from "../../modules/outbox/index.ts";
import { createWebhookService, isPrivateAddress, WEBHOOK_EVENT_ID_HEADER, WEBHOOK_SIGNATURE_HEADER } from "../../modules/webhooks/index.ts";
import { type Customer, codeOf, startTestAgora, type TestAgora } from "../support/agora.ts";
import { openMessages } from "../support/notification-log.ts";

interface Received {
  path: string;
  headers: Headers;
  body: string;
}

let t: TestAgora;
let admin: Customer;
let buyer: Customer;
let receiver: ReturnType<typeof Bun.serve>;
const received: Received[] = [];

beforeAll(async () => {
  t = await startTestAgora({ config: { webhookAllowPrivateTargets: true } });
  admin = await t.admin();
  buyer = await t.signUpCustomer("webhooks");
  await t.fund(buyer, 1_000_000);
  receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      received.push({ path, headers: request.headers, body: await request.text() });
      if (path.startsWith("/fail")) return new Response("down for maintenance", { status: 503 });
      if (path.startsWith("/redirect")) return new Response(null, { status: 302, headers: { location: `${base()}/ok-after-redirect` } });
      return new Response("ok");
    },
  });
});
afterAll(async () => {
  await receiver.stop(true);
  await t.close();
});

const base = () => `http://127.0.0.1:${receiver.port}`;
const at = (path: string) => received.filter((r) => r.path === path);

async function drain(): Promise<void> {
  for (let r = await t.agora.outboxPoller.runOnce(); r.claimed > 0; r = await t.agora.outboxPoller.runOnce()) {}
}

async function endpoint(path: string, eventTypes: Array<"order.paid" | "order.cancelled"> = ["order.paid"]) {
  return admin.client.webhooks.admin.create.mutate({ url: `${base()}${path}`, eventTypes, description: path });
}

async function placeOrder(): Promise<number> {
  const product = await t.createProduct({ price: 10_000, stock: 100 });
  return (await buyer.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: "서울 중구 세종대로 110" })).orderId;
}

/** What an integrator does with the secret it was shown once. */
function verify(secret: string, body: string, header: string | null): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? "");
  if (!match?.[1] || !match[2]) return false;
  const expected = createHmac("sha256", secret).update(`${match[1]}.${body}`).digest();
  return timingSafeEqual(Buffer.from(match[2], "hex"), expected) && Math.abs(Number(match[1]) - t.clock.now().getTime() / 1000) <= 300;
}

/** The types of the fan-out rows (destination "webhooks") written for this order. */
async function fanOutRowsOf(orderId: number): Promise<string[]> {
  const rows = await t.db
    .selectFrom("outbox_events")
    .select("type")
    .where("destination", "=", "webhooks")
    .where("aggregate_id", "=", String(orderId))
    .execute();
  return rows.map((row) => row.type);
}

describe("the fan-out row is written only while an active endpoint wants the event", () => {
  test("none before any endpoint, one after it is registered, none again once it is paused or wants another type", async () => {
    const before = await placeOrder();
    expect(await fanOutRowsOf(before)).toEqual([]);

    const { endpoint: first } = await endpoint("/first");
    const { endpoint: other } = await endpoint("/other-type", ["order.cancelled"]);
    const after = await placeOrder();
    expect(await fanOutRowsOf(after)).toEqual(["order.paid"]);
    await drain();
    await drain();
    // Only the order written after the registration reaches it.
    expect(at("/first").map((call) => JSON.parse(call.body).aggregate.id)).toEqual([String(after)]);

    await admin.client.webhooks.admin.pause.mutate({ endpointId: first.id });
    const whilePaused = await placeOrder();
    expect(await fanOutRowsOf(whilePaused)).toEqual([]);
    await admin.client.webhooks.admin.pause.mutate({ endpointId: other.id });
  });
});

describe("a subscribed endpoint", () => {
  test("receives each subscribed event once, signed, with the event id; other endpoints and types get nothing", async () => {
    const { endpoint: ok, secret } = await endpoint("/ok");
    const cancelledOnly = await endpoint("/cancelled-only", ["order.cancelled"]);
    expect(secret).toMatch(/^whsec_/);
    const orderId = await placeOrder();
    await drain();
    await drain();

    const [call, ...more] = at("/ok");
    expect(more).toHaveLength(0);
    expect(at("/cancelled-only")).toHaveLength(0);
    if (!call) throw new Error("the endpoint received nothing");
    expect(verify(secret, call.body, call.headers.get(WEBHOOK_SIGNATURE_HEADER))).toBe(true);
    expect(verify("another secret", call.body, call.headers.get(WEBHOOK_SIGNATURE_HEADER))).toBe(false);
    expect(verify(secret, call.body.replace("order.paid", "order.paiD"), call.headers.get(WEBHOOK_SIGNATURE_HEADER))).toBe(false);
    const body = JSON.parse(call.body);
    expect(body).toMatchObject({
      type: "order.paid",
      aggregate: { type: "order", id: String(orderId) },
      data: { orderId, userId: buyer.id, finalAmount: 10_000 },
    });
    expect(call.headers.get(WEBHOOK_EVENT_ID_HEADER)).toBe(body.id);
    // The body's data is exactly what the data platform got for this event.
    const synced = t.dataPlatform.applied().find((e) => e.type === "order.paid" && e.data.orderId === orderId);
    expect(body.data).toEqual(synced?.data);

    const log = await admin.client.webhooks.admin.deliveries.query({ endpointId: ok.id });
    expect(log.items.map((d) => [d.eventId, d.eventType, d.status, d.attempts, d.lastStatusCode])).toEqual([[body.id, "order.paid", "delivered", 1, 200]]);
    expect((await admin.client.webhooks.admin.deliveries.query({ endpointId: cancelledOnly.endpoint.id })).items).toEqual([]);

    // The fan-out delivered again (a lost acknowledgement): no second delivery row, no second call.
    const fanOutRow = await t.db
      .selectFrom("outbox_events")
      .selectAll()
      .where("destination", "=", "webhooks")
      .where("type", "=", "order.paid")
      .where("aggregate_id", "=", String(orderId))
      .executeTakeFirstOrThrow();
    await t.agora.services.webhooks.handleEvent({
      id: fanOutRow.id,
      type: fanOutRow.type,
      destination: fanOutRow.destination,
      aggregateType: fanOutRow.aggregate_type,
      aggregateId: fanOutRow.aggregate_id,
      payload: fanOutRow.payload,
      attempts: 1,
      createdAt: fanOutRow.created_at,
    });
    await drain();
    expect(at("/ok")).toHaveLength(1);
    for (const e of [ok, cancelledOnly.endpoint]) await admin.client.webhooks.admin.pause.mutate({ endpointId: e.id });
  });

  test("a failing endpoint is retried with backoff, then dead; the log says so and the operators are alerted", async () => {
    const { endpoint: failing } = await endpoint("/fail");
    await placeOrder();
    await drain();
    expect(at("/fail")).toHaveLength(1);
    // Backoff 5 and 15 minutes, ± 10 % jitter.
    t.clock.advance(4 * MINUTE);
    await drain();
    expect(at("/fail")).toHaveLength(1);
    t.clock.advance(2 * MINUTE);
    await drain();
    expect(at("/fail")).toHaveLength(2);
    t.clock.advance(17 * MINUTE);
    await drain();
    expect(at("/fail")).toHaveLength(3);
    t.clock.advance(60 * MINUTE);
    await drain();
    expect(at("/fail")).toHaveLength(3);

    const [delivery] = (await admin.client.webhooks.admin.deliveries.query({ endpointId: failing.id })).items;
    expect(delivery).toMatchObject({ status: "dead", attempts: 3, lastStatusCode: 503 });
    expect(delivery?.lastError).toContain("HTTP 503 down for maintenance");
    const row = await t.db
      .selectFrom("outbox_events")
      .selectAll()
      .where("destination", "=", "webhook")
      .where("status", "=", "dead")
      .where("aggregate_id", "like", `${failing.id}:%`)
      .executeTakeFirstOrThrow();
    const alerts = await openMessages(await t.db.selectFrom("notification_messages").selectAll().where("source_event_id", "=", row.id).execute());
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.every((m) => m.template === "operator.alert")).toBe(true);
    expect(alerts[0]?.subject).toContain("webhook.delivery → webhook");
    await admin.client.webhooks.admin.pause.mutate({ endpointId: failing.id });
  });

  test("a paused endpoint receives nothing: no new deliveries, and one already queued is skipped", async () => {
    const { endpoint: paused } = await endpoint("/paused");
    await admin.client.webhooks.admin.pause.mutate({ endpointId: paused.id });
    await placeOrder();
    await drain();
    expect(at("/paused")).toHaveLength(0);
    expect((await admin.client.webhooks.admin.deliveries.query({ endpointId: paused.id })).items).toEqual([]);

    // Queued while active (the fan-out ran), paused before the send.
    await admin.client.webhooks.admin.resume.mutate({ endpointId: paused.id });
    await placeOrder();
    await t.agora.outboxPoller.runOnce();
    const [queued] = (await admin.client.webhooks.admin.deliveries.query({ endpointId: paused.id })).items;
    expect(queued).toMatchObject({ status: "pending", attempts: 0 });
    await admin.client.webhooks.admin.pause.mutate({ endpointId: paused.id });
    await drain();
    expect(at("/paused")).toHaveLength(0);
    expect((await admin.client.webhooks.admin.deliveries.query({ endpointId: paused.id })).items.map((d) => d.status)).toEqual(["skipped"]);
    const listed = await admin.client.webhooks.admin.list.query({ status: "paused", limit: 100 });
    expect(listed.items.map((e) => e.id)).toContain(paused.id);
  });

  test("a redirect is not followed: the delivery fails at once and the target of the redirect gets nothing", async () => {
    const { endpoint: redirecting } = await endpoint("/redirect");
    await placeOrder();
    await drain();
    expect(at("/redirect")).toHaveLength(1);
    expect(at("/ok-after-redirect")).toHaveLength(0);
    const [delivery] = (await admin.client.webhooks.admin.deliveries.query({ endpointId: redirecting.id })).items;
    expect(delivery).toMatchObject({ status: "dead", attempts: 1, lastStatusCode: 302 });
    expect(delivery?.lastError).toContain("redirects are not followed");
    await admin.client.webhooks.admin.pause.mutate({ endpointId: redirecting.id });
  });
});

describe("private targets, refused by default", () => {
  const strict = () =>
    createWebhookService({
      db: t.db,
      clock: t.clock,
      logger: createLogger("silent"),
      cipher: createPiiCipher(developmentPiiKeys),
      events: t.agora.events,
      config: { allowPrivateTargets: false, timeoutMs: 1_000 },
    });

  test("addresses: loopback, private, link-local, CGNAT, unique-local, IPv4-mapped; public ones pass", () => {
    for (const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "::1",
      "fd00::1",
      "fe80::1",
      "::ffff:10.0.0.1",
    ])
      expect({ address, private: isPrivateAddress(address) }).toEqual({ address, private: true });
    for (const address of ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
      expect({ address, private: isPrivateAddress(address) }).toEqual({ address, private: false });
  });

  test("registering a literal private address or a name that resolves to one is refused", async () => {
    const service = strict();
    for (const url of [
      "http://127.0.0.1:9/x",
      "http://10.0.0.5/hook",
      "http://[::1]/hook",
      "http://169.254.169.254/latest/meta-data",
      "http://localhost:9/x",
    ]) {
      const error = await service.create({ url, eventTypes: ["order.paid"], description: "" }, admin.id).catch((e: unknown) => e);
      expect({ url, code: isDomainError(error) ? error.domainCode : String(error) }).toEqual({ url, code: "WEBHOOK_TARGET_NOT_ALLOWED" });
    }
  });

  test("sending to a name that resolves to a private address is refused (dead at once), and nothing is sent", async () => {
    // Registered where private targets are allowed, sent by an instance where they are not.
    const { endpoint: inward } = await admin.client.webhooks.admin.create.mutate({
      url: `http://localhost:${receiver.port}/inward`,
      eventTypes: ["order.paid"],
    });
    await admin.client.webhooks.admin.pause.mutate({ endpointId: inward.id });
    await admin.client.webhooks.admin.resume.mutate({ endpointId: inward.id });
    const service = strict();
    const [delivery] = await t.db
      .insertInto("webhook_deliveries")
      .values({ endpoint_id: inward.id, event_id: crypto.randomUUID(), event_type: "order.paid", created_at: t.clock.now() })
      .returning("id")
      .execute();
    const event: DeliverableEvent = {
      id: crypto.randomUUID(),
      type: "webhook.delivery",
      destination: "webhook",
      aggregateType: "webhook_endpoint",
      aggregateId: `${inward.id}:order:1`,
      payload: {
        deliveryId: delivery?.id,
        endpointId: inward.id,
        body: { id: crypto.randomUUID(), type: "order.paid", occurredAt: t.clock.now().toISOString(), aggregate: { type: "order", id: "1" }, data: {} },
      },
      attempts: 0,
      createdAt: t.clock.now(),
    };
    const error = await service.handleDelivery(event).catch((e: unknown) => e);
    expect((error as Error).name).toBe("PermanentDeliveryError");
    expect((error as Error).message).toContain("localhost is a private address (127.0.0.1)");
    expect(at("/inward")).toHaveLength(0);
    await admin.client.webhooks.admin.pause.mutate({ endpointId: inward.id });
  });
});

describe("procedures", () => {
  test("an unknown endpoint is WEBHOOK_ENDPOINT_NOT_FOUND; lists are paged", async () => {
    expect(await codeOf(admin.client.webhooks.admin.pause.mutate({ endpointId: 999_999 }))).toBe("WEBHOOK_ENDPOINT_NOT_FOUND");
    expect(await codeOf(admin.client.webhooks.admin.deliveries.query({ endpointId: 999_999 }))).toBe("WEBHOOK_ENDPOINT_NOT_FOUND");
    const first = await admin.client.webhooks.admin.list.query({ limit: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const second = await admin.client.webhooks.admin.list.query({ limit: 2, cursor: first.nextCursor ?? undefined });
    expect(second.items.map((e) => e.id).some((id) => first.items.some((f) => f.id === id))).toBe(false);
    expect(await codeOf(buyer.client.webhooks.admin.list.query({}))).toBe("FORBIDDEN");
  });
});
