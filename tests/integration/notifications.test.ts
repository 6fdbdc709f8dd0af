/**
 * Notifications against real PostgreSQL, fed by real flows (orders, restock sign-ups, stock
 * drops) through an outbox poller driven by hand, with the recording sender: the recorded rows
 * are the deliveries. Shipments and refunds have no producer yet (shipping is not built), so
 * those events are handed to the handler directly.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createTransport } from "nodemailer";
import type { z } from "zod";
import { inventoryLowStock } from "../../modules/catalog/index.ts";
import { createCallerFactory, createLogger, createPiiCipher, developmentPiiKeys, MINUTE, type Session } from "../../modules/kernel/index.ts";
import {
  ChannelSender,
  createNotificationService,
  createNotificationsRouter,
  deadEventAlert,
  type NotificationService,
  type OutgoingMessage,
  RecordingSender,
  SmtpSender,
} from "../../modules/notifications/index.ts";
import { orderPaid, orderRefunded } from "../../modules/orders/index.ts";
import { createOutboxPoller, type DeliverableEvent, type EventContract, type OutboxPoller, PermanentDeliveryError } from "../../modules/outbox/index.ts";
import { shipmentDelivered, shipmentShipped } from "../../modules/shipping/index.ts";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";
import { openMessages } from "../support/notification-log.ts";

/** The recording sender, counting what it was given; `failNext` makes the next sends throw. */
class CountingSender extends RecordingSender {
  calls = 0;
  failNext = 0;
  /** Recipients whose next send fails. */
  readonly failOnceFor = new Set<string>();
  readonly delivered: OutgoingMessage[] = [];
  override async send(message: OutgoingMessage): Promise<void> {
    this.calls++;
    if (this.failNext > 0 || this.failOnceFor.delete(message.to)) {
      this.failNext = Math.max(0, this.failNext - 1);
      throw new Error("provider unavailable");
    }
    await super.send(message);
    this.delivered.push(message);
  }
}

const silent = createLogger("silent");
const cipher = createPiiCipher(developmentPiiKeys);
const OPERATORS = ["ops-a@agora.test", "ops-b@agora.test"];

let t: TestAgora;
let sender: CountingSender;
let notifications: NotificationService;
let poller: OutboxPoller;

beforeAll(async () => {
  t = await startTestAgora();
  sender = new CountingSender();
  notifications = createNotificationService({
    db: t.db,
    clock: t.clock,
    logger: silent,
    identity: t.agora.services.identity,
    catalog: t.agora.services.catalog,
    sender,
    cipher,
    // Written with a duplicate and odd case on purpose: two operators.
    operators: { emails: [...OPERATORS, " OPS-A@agora.test "] },
  });
  poller = createOutboxPoller({
    db: t.db,
    clock: t.clock,
    logger: silent,
    handlers: { notifications: notifications.handleOutboxEvent },
    onDead: (event, error) => notifications.alertOperators(deadEventAlert(event, error)),
    config: { jitterRatio: 0, backoffMs: [5 * MINUTE], maxAttempts: 3 },
  });
});
afterAll(() => t.close());

async function messagesWhere(filter: { userId?: number; sourceEventIds?: string[]; template?: string }) {
  let q = t.db.selectFrom("notification_messages").selectAll().orderBy("id");
  if (filter.userId !== undefined) q = q.where("user_id", "=", filter.userId);
  if (filter.sourceEventIds) q = filter.sourceEventIds.length ? q.where("source_event_id", "in", filter.sourceEventIds) : q.where("id", "<", 0);
  if (filter.template) q = q.where("template", "=", filter.template);
  return openMessages(await q.execute());
}

/** The outbox rows for notifications of an aggregate, oldest first. */
/** Notification rows of one type about a product or an order (found by payload, whatever their aggregate). */
async function notificationEvents(subjectId: number, type: string) {
  return t.db
    .selectFrom("outbox_events")
    .selectAll()
    .where("destination", "=", "notifications")
    .where((eb) => eb.or([eb(sql<string>`payload->>'productId'`, "=", String(subjectId)), eb(sql<string>`payload->>'orderId'`, "=", String(subjectId))]))
    .where("type", "=", type)
    .orderBy("id")
    .execute();
}

/** An event as the poller hands it over, for flows that have no producer yet. */
/** An event as the outbox would deliver it, made through its producer's contract (so it fits). */
function event<Contract extends EventContract>(contract: Contract, payload: z.input<Contract["schema"]>, id: string = crypto.randomUUID()): DeliverableEvent {
  const made = contract.event(0, payload);
  return { id, destination: "notifications", ...made, attempts: 0, createdAt: t.clock.now() };
}

async function buyer(label: string, funds = 1_000_000): Promise<Customer> {
  const c = await t.signUpCustomer(label);
  await t.fund(c, funds);
  return c;
}

async function withPhone(label: string, phone: string): Promise<Customer> {
  const c = await t.signUpCustomer(label);
  await c.client.identity.updateProfile.mutate({ phone });
  return c;
}

describe("customers hear about their orders", () => {
  test("order paid: one email to the customer, with the lines and the amounts in won", async () => {
    const c = await buyer("paid");
    const keyboard = await t.createProduct({ name: "무선 키보드", price: 12_000, stock: 10 });
    const pad = await t.createProduct({ name: "마우스 패드", price: 3_500, stock: 10 });
    const placed = await c.client.orders.place.mutate({
      items: [
        { productId: keyboard.id, quantity: 2 },
        { productId: pad.id, quantity: 3 },
      ],
    });
    expect(await messagesWhere({ userId: c.id })).toHaveLength(0); // nothing before the poller runs

    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    const [outboxRow] = await notificationEvents(placed.orderId, "order.paid");
    const messages = await messagesWhere({ userId: c.id });
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      channel: "email",
      recipient: c.email,
      template: "order.paid",
      status: "sent",
      source_event_id: outboxRow?.id,
      subject: `[Agora] 주문 완료 · 주문번호 ${placed.orderId}`,
      body: [
        "paid 1님, 주문이 완료되었습니다.",
        "",
        `주문번호: ${placed.orderId}`,
        "- 무선 키보드 × 2: 24,000원",
        "- 마우스 패드 × 3: 10,500원",
        "",
        "상품 금액: 34,500원",
        "결제 금액: 34,500원 (지갑 결제)",
      ].join("\n"),
    });
    expect(messages[0]?.created_at.getTime()).toBe(t.clock.now().getTime());
    expect(outboxRow?.status).toBe("sent");
  });

  test("cancelled: an email with the refund; a customer with a phone still gets receipts by email only", async () => {
    const c = await buyer("cancel");
    await c.client.identity.updateProfile.mutate({ phone: "010-2222-3333" });
    const p = await t.createProduct({ name: "텀블러", price: 23_400, stock: 5 });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    await c.client.orders.cancel.mutate({ orderId: placed.orderId, reason: "단순 변심" });
    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    const messages = await messagesWhere({ userId: c.id });
    expect(messages.map((m) => [m.template, m.channel, m.recipient])).toEqual([
      ["order.paid", "email", c.email],
      ["order.cancelled", "email", c.email],
    ]);
    expect(messages[1]?.subject).toBe(`[Agora] 주문 취소 · 주문번호 ${placed.orderId}`);
    expect(messages[1]?.body.split("\n").slice(2)).toEqual([
      `주문번호: ${placed.orderId}`,
      "취소 사유: 단순 변심",
      "환불 금액: 23,400원 (지갑으로 환불되었습니다)",
    ]);
  });

  test("shipped and delivered: email, plus SMS to the phone on file; without a phone, email only", async () => {
    const mobile = await withPhone("mobile", "010-1234-5678");
    const noPhone = await t.signUpCustomer("nophone");
    const shipped = { orderId: 501, trackingNumber: "6543-2109-8765", carrier: "CJ대한통운", occurredAt: t.clock.now().toISOString() };
    await notifications.handleOutboxEvent(event(shipmentShipped, { ...shipped, userId: mobile.id }));
    await notifications.handleOutboxEvent(event(shipmentDelivered, { ...shipped, userId: mobile.id }));
    await notifications.handleOutboxEvent(event(shipmentShipped, { ...shipped, orderId: 502, userId: noPhone.id }));

    const toMobile = await messagesWhere({ userId: mobile.id });
    expect(toMobile.map((m) => [m.template, m.channel, m.recipient])).toEqual([
      ["shipment.shipped", "email", mobile.email],
      ["shipment.shipped", "sms", "010-1234-5678"],
      ["shipment.delivered", "email", mobile.email],
      ["shipment.delivered", "sms", "010-1234-5678"],
    ]);
    expect(toMobile[1]?.body).toBe("[Agora] 주문 501 상품이 발송되었습니다. CJ대한통운 6543-2109-8765");
    expect(toMobile[0]?.body).toContain("운송장 번호: 6543-2109-8765");
    expect((await messagesWhere({ userId: noPhone.id })).map((m) => [m.template, m.channel])).toEqual([["shipment.shipped", "email"]]);
  });

  test("refunded (admin refund of a delivered order): an email with the amount", async () => {
    const c = await t.signUpCustomer("refund");
    await notifications.handleOutboxEvent(
      event(orderRefunded, { orderId: 777, userId: c.id, refundedAmount: 1_250_000, restocked: true, reason: "파손", refundedAt: t.clock.now().toISOString() }),
    );
    const [message] = await messagesWhere({ userId: c.id });
    expect(message).toMatchObject({ template: "order.refunded", channel: "email", recipient: c.email, subject: "[Agora] 환불 완료 · 주문번호 777" });
    expect(message?.body).toContain("환불 금액: 1,250,000원 (지갑으로 환불되었습니다)");
  });
});

describe("stock", () => {
  test("back in stock: each signed-up customer on the channel they chose; SMS without a phone falls back to email", async () => {
    const p = await t.createProduct({ name: "한정판 머그", price: 9_900, stock: 1 });
    const first = await buyer("first");
    await first.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    const bySms = await withPhone("bysms", "010-9876-5432");
    const smsNoPhone = await t.signUpCustomer("smsnophone");
    const byEmail = await t.signUpCustomer("byemail");
    await bySms.client.catalog.signUpForRestock.mutate({ productId: p.id, channel: "sms" });
    await smsNoPhone.client.catalog.signUpForRestock.mutate({ productId: p.id, channel: "sms" });
    await byEmail.client.catalog.signUpForRestock.mutate({ productId: p.id, channel: "email" });

    await (await t.admin()).client.catalog.admin.inbound.mutate({ productId: p.id, quantity: 5 });
    expect(await poller.runOnce()).toEqual({ claimed: 4, sent: 4, retried: 0, dead: 0 }); // the order and three sign-ups

    const events = await notificationEvents(p.id, "inventory.back_in_stock");
    expect(events).toHaveLength(3);
    const messages = await messagesWhere({ sourceEventIds: events.map((e) => e.id) });
    const byUser = new Map(messages.map((m) => [m.user_id, [m.channel, m.recipient, m.body]]));
    expect(messages).toHaveLength(3);
    expect(byUser.get(bySms.id)).toEqual(["sms", "010-9876-5432", `[Agora] 재입고 알림: 한정판 머그 (상품번호 ${p.id}) 지금 구매하실 수 있습니다.`]);
    expect(byUser.get(smsNoPhone.id)?.slice(0, 2)).toEqual(["email", smsNoPhone.email]);
    expect(byUser.get(byEmail.id)?.slice(0, 2)).toEqual(["email", byEmail.email]);
    expect(byUser.get(byEmail.id)?.[2]).toContain(`상품: 한정판 머그 (상품번호 ${p.id})`);
  });

  test("low stock: every configured operator once per crossing of the threshold, not per sale", async () => {
    const p = await t.createProduct({ name: "캠핑 의자", price: 1_000, stock: 10, lowStockThreshold: 5 });
    const c = await buyer("lowstock");
    const lowStockMessages = async () => messagesWhere({ sourceEventIds: (await notificationEvents(p.id, "inventory.low_stock")).map((e) => e.id) });

    await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 6 }] }); // 10 → 4: crosses
    expect(await poller.runOnce()).toEqual({ claimed: 2, sent: 2, retried: 0, dead: 0 });
    const first = await lowStockMessages();
    expect(first.map((m) => [m.channel, m.recipient, m.user_id])).toEqual([
      ["email", "ops-a@agora.test", null],
      ["email", "ops-b@agora.test", null],
    ]);
    expect(first[0]?.subject).toBe("[Agora 운영] 재고 부족 · 캠핑 의자 (남은 재고 4개)");
    expect(first[0]?.body.split("\n").slice(-2)).toEqual(["현재 재고: 4개", "알림 기준: 5개"]);

    await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] }); // 4 → 3: already below
    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 }); // the order only
    expect(await lowStockMessages()).toHaveLength(2);

    await (await t.admin()).client.catalog.admin.inbound.mutate({ productId: p.id, quantity: 10 }); // 3 → 13
    await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 11 }] }); // 13 → 2: crosses again
    expect(await poller.runOnce()).toEqual({ claimed: 2, sent: 2, retried: 0, dead: 0 });
    const all = await lowStockMessages();
    expect(all).toHaveLength(4);
    expect(all.map((m) => m.recipient)).toEqual([...OPERATORS, ...OPERATORS]);
    expect(all[3]?.body).toContain("현재 재고: 2개");
  });

  test("with no operator emails configured, every active admin is an operator", async () => {
    const adminA = await t.admin();
    const identity = t.agora.services.identity;
    const adminB = await identity.ensureAdmin({ email: "second-admin@agora.test", password: "admin-password-2", name: "Second" });
    const retired = await identity.ensureAdmin({ email: "retired-admin@agora.test", password: "admin-password-3", name: "Retired" });
    await identity.deactivate(retired.id, adminA.id);
    const fallbackSender = new CountingSender();
    const fallback = createNotificationService({
      db: t.db,
      clock: t.clock,
      logger: silent,
      identity,
      catalog: t.agora.services.catalog,
      sender: fallbackSender,
      cipher,
      operators: { emails: [] },
    });

    const p = await t.createProduct({ name: "보조 배터리", price: 1_000, stock: 3 });
    const lowStock = event(inventoryLowStock, { productId: p.id, quantity: 2, threshold: 5 });
    await fallback.handleOutboxEvent(lowStock);
    await fallback.alertOperators({ subject: "점검", body: "테스트 알림" });

    const recipients = (await messagesWhere({ sourceEventIds: [lowStock.id] })).map((m) => [m.recipient, m.user_id]);
    expect(recipients).toEqual([
      [adminA.email, adminA.id],
      ["second-admin@agora.test", adminB.id],
    ]);
    expect(fallbackSender.delivered.map((m) => [m.template, m.to])).toEqual([
      ["inventory.low_stock", adminA.email],
      ["inventory.low_stock", "second-admin@agora.test"],
      ["operator.alert", adminA.email],
      ["operator.alert", "second-admin@agora.test"],
    ]);
  });
});

describe("exactly once per (event, channel, recipient, template)", () => {
  test("the same event delivered twice, one after the other or at the same time, sends one message", async () => {
    const c = await buyer("twice");
    const p = await t.createProduct({ price: 5_000, stock: 10 });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    const [row] = await notificationEvents(placed.orderId, "order.paid");
    if (!row) throw new Error("no order.paid row for notifications");
    const asDelivered = event(orderPaid, orderPaid.schema.parse(row.payload), row.id);
    const callsBefore = sender.calls;

    await notifications.handleOutboxEvent(asDelivered);
    await notifications.handleOutboxEvent(asDelivered);
    expect(sender.calls - callsBefore).toBe(1);
    // The poller then delivers the row itself: nothing more is sent.
    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    expect(sender.calls - callsBefore).toBe(1);
    expect(await messagesWhere({ sourceEventIds: [row.id] })).toHaveLength(1);

    const shipped = event(shipmentShipped, {
      orderId: placed.orderId,
      userId: c.id,
      trackingNumber: "1",
      carrier: "우체국",
      occurredAt: t.clock.now().toISOString(),
    });
    await Promise.all([notifications.handleOutboxEvent(shipped), notifications.handleOutboxEvent(shipped), notifications.handleOutboxEvent(shipped)]);
    expect(sender.calls - callsBefore).toBe(2);
    expect(await messagesWhere({ sourceEventIds: [shipped.id] })).toHaveLength(1);
  });

  test("a send that fails once: the event is retried after the backoff and exactly one message ends up sent", async () => {
    const c = await buyer("flaky");
    const p = await t.createProduct({ price: 7_000, stock: 10 });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 2 }] });
    const callsBefore = sender.calls;
    sender.failNext = 1;

    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 0, retried: 1, dead: 0 });
    const [pending] = await notificationEvents(placed.orderId, "order.paid");
    expect(pending).toMatchObject({ status: "pending", attempts: 1, last_error: "notifications: 1 of 1 messages failed: provider unavailable" });
    expect((await messagesWhere({ userId: c.id })).map((m) => m.status)).toEqual(["failed"]);

    t.clock.advance(5 * MINUTE - 1);
    expect((await poller.runOnce()).claimed).toBe(0);
    t.clock.advance(1);
    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });
    const messages = await messagesWhere({ userId: c.id });
    expect(messages.map((m) => [m.status, m.recipient, m.template])).toEqual([["sent", c.email, "order.paid"]]);
    expect(messages[0]?.body).toContain("결제 금액: 14,000원");
    expect(messages[0]?.created_at.getTime()).toBe(t.clock.now().getTime()); // when it really left
    expect(sender.calls - callsBefore).toBe(2);
    expect(sender.delivered.filter((m) => m.to === c.email)).toHaveLength(1);
    expect((await poller.runOnce()).claimed).toBe(0);
  });

  test("one of two operators fails: the retry sends only to that one", async () => {
    const p = await t.createProduct({ name: "손전등", price: 1_000, stock: 10, lowStockThreshold: 5 });
    const c = await buyer("partial");
    await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 8 }] });
    const deliveredBefore = sender.delivered.length;
    sender.failOnceFor.add("ops-b@agora.test");
    expect(await poller.runOnce()).toEqual({ claimed: 2, sent: 1, retried: 1, dead: 0 }); // the order's email went out
    const lowStockEvents = await notificationEvents(p.id, "inventory.low_stock");
    expect((await messagesWhere({ sourceEventIds: lowStockEvents.map((e) => e.id) })).map((m) => [m.recipient, m.status])).toEqual([
      ["ops-a@agora.test", "sent"],
      ["ops-b@agora.test", "failed"],
    ]);
    t.clock.advance(5 * MINUTE);
    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 1, retried: 0, dead: 0 });

    const lowStock = await messagesWhere({ sourceEventIds: (await notificationEvents(p.id, "inventory.low_stock")).map((e) => e.id) });
    expect(lowStock.map((m) => [m.recipient, m.status])).toEqual([
      ["ops-a@agora.test", "sent"],
      ["ops-b@agora.test", "sent"],
    ]);
    const sentNow = sender.delivered.slice(deliveredBefore);
    expect(
      sentNow
        .filter((m) => m.template === "inventory.low_stock")
        .map((m) => m.to)
        .sort(),
    ).toEqual(OPERATORS);
    expect(sentNow.filter((m) => m.to === c.email)).toHaveLength(1);
  });
});

describe("dead events alert the operators", () => {
  test("an unknown event type is dead at once and every operator gets one alert, however often onDead runs", async () => {
    const id = crypto.randomUUID();
    const now = t.clock.now();
    await t.db
      .insertInto("outbox_events")
      .values({
        id,
        aggregate_type: "order",
        aggregate_id: "31337",
        type: "order.teleported",
        destination: "notifications",
        payload: "{}",
        status: "pending",
        next_attempt_at: now,
        created_at: now,
      })
      .execute();

    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 0, retried: 0, dead: 1 });
    const alerts = await messagesWhere({ sourceEventIds: [id] });
    expect(alerts.map((m) => [m.template, m.channel, m.recipient, m.status])).toEqual([
      ["operator.alert", "email", "ops-a@agora.test", "sent"],
      ["operator.alert", "email", "ops-b@agora.test", "sent"],
    ]);
    expect(alerts[0]?.subject).toBe("[Agora 운영] 이벤트 전달 실패 · order.teleported → notifications");
    expect(alerts[0]?.body).toContain("마지막 오류: notifications: no handler for event type order.teleported");
    expect(alerts[0]?.body).toContain("대상 집계: order 31337");

    const dead = await t.db.selectFrom("outbox_events").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
    expect(dead).toMatchObject({ status: "dead", attempts: 1 });
    const callsBefore = sender.calls;
    const messagesBefore = (await notifications.list({ limit: 100 })).items.length;
    await notifications.alertOperators(
      deadEventAlert(
        { ...event(inventoryLowStock, { productId: 1, quantity: 0, threshold: 1 }, id), type: dead.type, aggregateType: "order", aggregateId: "31337" },
        "again",
      ),
    );
    expect(sender.calls).toBe(callsBefore);
    expect((await notifications.list({ limit: 100 })).items.length).toBe(messagesBefore);
    expect(await messagesWhere({ sourceEventIds: [id] })).toHaveLength(2);
  });

  test("a malformed payload is dead at once too", async () => {
    const id = crypto.randomUUID();
    const now = t.clock.now();
    await t.db
      .insertInto("outbox_events")
      .values({
        id,
        aggregate_type: "order",
        aggregate_id: "1",
        type: "order.paid",
        destination: "notifications",
        payload: JSON.stringify({ orderId: "one" }),
        status: "pending",
        next_attempt_at: now,
        created_at: now,
      })
      .execute();
    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 0, retried: 0, dead: 1 });
    const alerts = await messagesWhere({ sourceEventIds: [id] });
    expect(alerts).toHaveLength(2);
    expect(alerts[0]?.body).toContain("마지막 오류: notifications: invalid order.paid payload");
  });

  test("a dead event after three failed sends: the customer's row stays failed, the operators are told", async () => {
    const c = await buyer("dead");
    const p = await t.createProduct({ price: 2_000, stock: 10 });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: p.id, quantity: 1 }] });
    sender.failNext = 3;
    expect(await poller.runOnce()).toMatchObject({ claimed: 1, retried: 1 });
    t.clock.advance(5 * MINUTE);
    expect(await poller.runOnce()).toMatchObject({ claimed: 1, retried: 1 });
    t.clock.advance(5 * MINUTE);
    expect(await poller.runOnce()).toEqual({ claimed: 1, sent: 0, retried: 0, dead: 1 });

    const [row] = await notificationEvents(placed.orderId, "order.paid");
    expect(row).toMatchObject({ status: "dead", attempts: 3 });
    expect((await messagesWhere({ userId: c.id })).map((m) => m.status)).toEqual(["failed"]);
    const alerts = await messagesWhere({ sourceEventIds: [row?.id ?? ""], template: "operator.alert" });
    expect(alerts.map((m) => m.recipient)).toEqual(OPERATORS);
    expect(alerts[0]?.body).toContain("시도 횟수: 3");
  });
});

describe("misconfiguration", () => {
  test("SMS handed to the SMTP sender: the event is dead at once (not retried), the email still goes", async () => {
    const c = await withPhone("misrouted", "010-7777-8888");
    const misrouted = createNotificationService({
      db: t.db,
      clock: t.clock,
      logger: silent,
      identity: t.agora.services.identity,
      catalog: t.agora.services.catalog,
      sender: new ChannelSender({
        email: new RecordingSender(),
        sms: new SmtpSender({ from: "no-reply@agora.test", transporter: createTransport({ jsonTransport: true }) }),
      }),
      cipher,
      operators: { emails: OPERATORS },
    });
    const error = await misrouted
      .handleOutboxEvent(event(shipmentDelivered, { orderId: 1, userId: c.id, trackingNumber: null, carrier: null, occurredAt: t.clock.now().toISOString() }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as Error).message).toBe(
      "notifications: 1 of 2 messages failed: SmtpSender sends email only, not sms (template shipment.delivered); give SMS its own sender",
    );
    expect((await messagesWhere({ userId: c.id })).map((m) => [m.channel, m.status])).toEqual([
      ["email", "sent"],
      ["sms", "failed"],
    ]);
  });
});

describe("admin list", () => {
  test("newest first, paged by cursor, filtered by channel, template, user, status and event", async () => {
    const c = await withPhone("listed", "010-5555-6666");
    const shippedEvent = event(shipmentShipped, {
      orderId: 9001,
      userId: c.id,
      trackingNumber: "T-1",
      carrier: "한진택배",
      occurredAt: t.clock.now().toISOString(),
    });
    await notifications.handleOutboxEvent(shippedEvent); // email + sms
    await notifications.handleOutboxEvent(
      event(shipmentDelivered, { orderId: 9001, userId: c.id, trackingNumber: "T-1", carrier: "한진택배", occurredAt: t.clock.now().toISOString() }),
    ); // email + sms
    await notifications.handleOutboxEvent(
      event(orderRefunded, { orderId: 9001, userId: c.id, refundedAmount: 5_000, restocked: false, reason: "반품", refundedAt: t.clock.now().toISOString() }),
    ); // email
    sender.failNext = 1;
    await expect(
      notifications.handleOutboxEvent(
        event(orderRefunded, { orderId: 9002, userId: c.id, refundedAmount: 1_000, restocked: false, reason: "반품", refundedAt: t.clock.now().toISOString() }),
      ),
    ).rejects.toThrow("provider unavailable");

    const page1 = await notifications.list({ userId: c.id, limit: 4 });
    expect(page1.items).toHaveLength(4);
    expect(page1.nextCursor).not.toBeNull();
    const page2 = await notifications.list({ userId: c.id, limit: 4, cursor: page1.nextCursor ?? undefined });
    expect(page2.items).toHaveLength(2);
    expect(page2.nextCursor).toBeNull();
    const all = [...page1.items, ...page2.items];
    const ids = all.map((m) => m.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(all.map((m) => [m.template, m.channel, m.status])).toEqual([
      ["order.refunded", "email", "failed"],
      ["order.refunded", "email", "sent"],
      ["shipment.delivered", "sms", "sent"],
      ["shipment.delivered", "email", "sent"],
      ["shipment.shipped", "sms", "sent"],
      ["shipment.shipped", "email", "sent"],
    ]);
    expect(all[5]).toMatchObject({ userId: c.id, recipient: c.email, sourceEventId: shippedEvent.id, subject: "[Agora] 상품 발송 · 주문번호 9001" });

    const count = async (filter: Omit<Parameters<NotificationService["list"]>[0], "limit">) =>
      (await notifications.list({ ...filter, userId: c.id, limit: 100 })).items.length;
    expect(await count({ channel: "sms" })).toBe(2);
    expect(await count({ channel: "email" })).toBe(4);
    expect(await count({ template: "shipment.delivered" })).toBe(2);
    expect(await count({ status: "failed" })).toBe(1);
    expect(await count({ status: "sent" })).toBe(5);
    expect(await count({ sourceEventId: shippedEvent.id })).toBe(2);
    expect(await count({ channel: "sms", template: "order.refunded" })).toBe(0);
    // Across users: the two SMS of this test are the newest SMS overall.
    expect((await notifications.list({ channel: "sms", limit: 2 })).items.map((m) => m.recipient)).toEqual(["010-5555-6666", "010-5555-6666"]);
  });

  test("admin.list is for admins only", async () => {
    const call = createCallerFactory(createNotificationsRouter(notifications));
    const as = (session: Session | null) => call({ requestId: "test", ip: null, session, log: silent, metrics: null });
    const customer = await t.signUpCustomer("nosy");
    const admin = await t.admin();
    const customerSession = await t.agora.services.identity.resolveSession(customer.token);
    const adminSession = await t.agora.services.identity.resolveSession(admin.token);

    expect(
      await as(customerSession)
        .admin.list({ limit: 5 })
        .catch((e: { domainCode?: string }) => e.domainCode),
    ).toBe("FORBIDDEN");
    expect(
      await as(null)
        .admin.list({ limit: 5 })
        .catch((e: { domainCode?: string }) => e.domainCode),
    ).toBe("UNAUTHENTICATED");
    expect(
      await as(adminSession)
        .admin.list({ limit: 0 })
        .catch((e: { code?: string }) => e.code),
    ).toBe("BAD_REQUEST");

    const viaRouter = await as(adminSession).admin.list({ template: "inventory.back_in_stock", limit: 10 });
    const viaService = await notifications.list({ template: "inventory.back_in_stock", limit: 10 });
    expect(viaRouter.items.map((m) => m.id)).toEqual(viaService.items.map((m) => m.id));
    expect(viaRouter.items).toHaveLength(3);
  });
});
