/**
 * The outbox against real PostgreSQL and a fake data platform over real HTTP: retries on the
 * schedule, dead events, several pollers sharing the work, and a poller that dies mid-batch.
 */

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { z } from "zod";
import { inTransaction } from "../../db/index.ts";
import { createLogger, MINUTE } from "../../modules/kernel/index.ts";
import {
  createEventPublisher,
  createOutboxPoller,
  type DeliverableEvent,
  dataPlatformHandler,
  defineEvent,
  HttpDataPlatform,
  subscribe,
} from "../../modules/outbox/index.ts";
import { type Customer, codeOf, startTestAgora, type TestAgora } from "../support/agora.ts";

/** A numbered test event, sent to the data platform only. */
const numbered = defineEvent("test.numbered", "order", z.strictObject({ n: z.number().int() }));
const publisher = createEventPublisher([subscribe("data-platform", [numbered])]);
let t: TestAgora;
let buyer: Customer;
const silent = createLogger("silent");

beforeAll(async () => {
  t = await startTestAgora();
  buyer = await t.signUpCustomer("syncbuyer");
  await t.fund(buyer, 1_000_000);
});
afterAll(() => t.close());
beforeEach(async () => {
  t.dataPlatform.control.reset();
  // Each test starts with nothing left for the data platform.
  await t.db.updateTable("outbox_events").set({ status: "sent" }).where("destination", "=", "data-platform").where("status", "<>", "sent").execute();
});

function noJitterPoller(overrides: Partial<Parameters<typeof createOutboxPoller>[0]> = {}) {
  return createOutboxPoller({
    db: t.db,
    clock: t.clock,
    logger: silent,
    handlers: { "data-platform": dataPlatformHandler(new HttpDataPlatform({ baseUrl: t.dataPlatform.url, timeoutMs: 300 })) },
    config: { jitterRatio: 0, batchSize: 50 },
    ...overrides,
  });
}

async function placeOrder(): Promise<number> {
  const product = await t.createProduct({ price: 1_000, stock: 10 });
  return (await buyer.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] })).orderId;
}

async function dataPlatformRow(orderId: number) {
  return t.db
    .selectFrom("outbox_events")
    .selectAll()
    .where("aggregate_id", "=", String(orderId))
    .where("type", "=", "order.paid")
    .where("destination", "=", "data-platform")
    .executeTakeFirstOrThrow();
}

describe("retries on the schedule", () => {
  test("the platform fails the first two calls: sent on the third attempt after 5 and 15 minutes, applied once, the order ends synced", async () => {
    const orderId = await placeOrder();
    const poller = noJitterPoller();
    t.dataPlatform.control.failNext(2);

    expect(await poller.runOnce()).toMatchObject({ claimed: 1, sent: 0, retried: 1 });
    const afterFirst = await dataPlatformRow(orderId);
    expect(afterFirst).toMatchObject({ status: "pending", attempts: 1 });
    expect(afterFirst.next_attempt_at.getTime()).toBe(t.clock.now().getTime() + 5 * MINUTE);
    expect(afterFirst.last_error).toContain("503");

    // The order is paid all along and tells where its sync stands (seed 004 §6.3).
    const pending = await buyer.client.orders.get.query({ orderId });
    expect(pending.status).toBe("paid");
    expect(pending.sync).toMatchObject({ synced: false, attempts: 1, nextRetryAt: afterFirst.next_attempt_at });

    t.clock.advance(5 * MINUTE - 1);
    expect((await poller.runOnce()).claimed).toBe(0); // not due yet
    t.clock.advance(1);
    expect(await poller.runOnce()).toMatchObject({ claimed: 1, retried: 1 });
    const afterSecond = await dataPlatformRow(orderId);
    expect(afterSecond.attempts).toBe(2);
    expect(afterSecond.next_attempt_at.getTime()).toBe(t.clock.now().getTime() + 15 * MINUTE);

    t.clock.advance(15 * MINUTE);
    expect(await poller.runOnce()).toMatchObject({ claimed: 1, sent: 1 });
    const sent = await dataPlatformRow(orderId);
    expect(sent).toMatchObject({ status: "sent", attempts: 3, last_error: null });

    expect(t.dataPlatform.callsFor(sent.id)).toBe(3);
    expect(t.dataPlatform.applied().filter((e) => e.id === sent.id)).toHaveLength(1);
    expect(t.dataPlatform.applied()[0]?.data).toMatchObject({ orderId, finalAmount: 1_000 });
    const synced = await buyer.client.orders.get.query({ orderId });
    expect(synced.sync).toMatchObject({ synced: true, attempts: 3, lastError: null, nextRetryAt: null });
  });

  test("a platform that hangs past the timeout counts as a failed attempt", async () => {
    const orderId = await placeOrder();
    t.dataPlatform.control.hangNext(1);
    expect(await noJitterPoller().runOnce()).toMatchObject({ claimed: 1, retried: 1 });
    expect((await dataPlatformRow(orderId)).last_error).toContain("timed out");
  });

  test("the platform always fails: after the last attempt the event is dead, operators are alerted, the order stays paid", async () => {
    const orderId = await placeOrder();
    const alerts: Array<{ event: DeliverableEvent; error: string }> = [];
    const poller = noJitterPoller({ onDead: async (event, error) => void alerts.push({ event, error }) });
    t.dataPlatform.control.failAlways(true);
    await poller.runOnce();
    t.clock.advance(5 * MINUTE);
    await poller.runOnce();
    t.clock.advance(15 * MINUTE);
    expect(await poller.runOnce()).toMatchObject({ claimed: 1, dead: 1 });

    const dead = await dataPlatformRow(orderId);
    expect(dead).toMatchObject({ status: "dead", attempts: 3 });
    expect(alerts.map((a) => a.event.id)).toEqual([dead.id]);
    t.clock.advance(60 * MINUTE);
    expect((await poller.runOnce()).claimed).toBe(0); // dead events are left alone
    expect((await buyer.client.orders.get.query({ orderId })).status).toBe("paid");

    // An operator retries it once the platform is back.
    const admin = await t.admin();
    const listed = await admin.client.outbox.admin.list.query({ status: "dead", destination: "data-platform" });
    expect(listed.items.map((e) => e.id)).toContain(dead.id);
    t.dataPlatform.control.failAlways(false);
    await admin.client.outbox.admin.retry.mutate({ eventId: dead.id });
    expect(await poller.runOnce()).toMatchObject({ claimed: 1, sent: 1 });
    expect((await buyer.client.orders.get.query({ orderId })).sync?.synced).toBe(true);
    expect(await codeOf(admin.client.outbox.admin.retry.mutate({ eventId: dead.id }))).toBe("OUTBOX_EVENT_NOT_RETRYABLE");
    expect(await codeOf(buyer.client.outbox.admin.list.query({}))).toBe("FORBIDDEN");
  });
});

describe("order within an aggregate", () => {
  test("a later event of the same order waits while an earlier one waits for its retry", async () => {
    const orderId = await placeOrder();
    await buyer.client.orders.cancel.mutate({ orderId });
    const poller = noJitterPoller();
    t.dataPlatform.control.failNext(1);

    // Only the paid event is claimable; it fails, and the cancelled event must not overtake it.
    expect(await poller.runOnce()).toMatchObject({ claimed: 1, retried: 1 });
    expect((await poller.runOnce()).claimed).toBe(0);
    t.clock.advance(5 * MINUTE);
    expect(await poller.runOnce()).toMatchObject({ claimed: 1, sent: 1 });
    expect(await poller.runOnce()).toMatchObject({ claimed: 1, sent: 1 });
    expect(t.dataPlatform.applied().map((e) => e.type)).toEqual(["order.paid", "order.cancelled"]);
  });
});

describe("several pollers", () => {
  async function enqueue(count: number): Promise<void> {
    await inTransaction(t.db, (trx) =>
      publisher.publish(
        trx,
        t.clock.now(),
        Array.from({ length: count }, (_, i) => numbered.event(900_000 + i, { n: i })),
      ),
    );
  }

  test("two pollers over 500 pending events: every event sent, none by both", async () => {
    await enqueue(500);
    // A patient client: 2 × 32 sends at once on a busy machine must not time out (a timeout is a retry in 5 minutes).
    const patient = { "data-platform": dataPlatformHandler(new HttpDataPlatform({ baseUrl: t.dataPlatform.url, timeoutMs: 10_000 })) };
    const pollers = [noJitterPoller({ instanceId: "a", handlers: patient }), noJitterPoller({ instanceId: "b", handlers: patient })];
    const drain = async (poller: ReturnType<typeof noJitterPoller>) => {
      let sent = 0;
      for (let r = await poller.runOnce(); r.claimed > 0; r = await poller.runOnce()) sent += r.sent;
      return sent;
    };
    const [a, b] = await Promise.all(pollers.map(drain));
    expect((a ?? 0) + (b ?? 0)).toBe(500);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    const stats = t.dataPlatform.stats();
    expect(stats).toMatchObject({ received: 500, applied: 500, duplicates: 0 });
    const left = await t.db.selectFrom("outbox_events").select("id").where("destination", "=", "data-platform").where("status", "<>", "sent").execute();
    expect(left).toHaveLength(0);
  });

  test("a poller that dies mid-batch: its claimed events are sent by another after the lease ends", async () => {
    await enqueue(20);
    let release: () => void = () => {};
    const stuck = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Claims the whole batch, then hangs on the first send: as good as dead.
    const dying = noJitterPoller({
      instanceId: "dying",
      config: { jitterRatio: 0, leaseMs: 60_000, concurrency: 1 },
      handlers: { "data-platform": () => stuck },
    });
    const abandoned = dying.runOnce();
    await Bun.sleep(100);
    const claimed = await t.db.selectFrom("outbox_events").select("id").where("locked_by", "=", "dying").execute();
    expect(claimed).toHaveLength(20);

    const survivor = noJitterPoller({ instanceId: "survivor" });
    expect((await survivor.runOnce()).claimed).toBe(0); // leased to the dying poller
    t.clock.advance(60_000);
    expect(await survivor.runOnce()).toMatchObject({ claimed: 20, sent: 20 });
    expect(t.dataPlatform.stats().applied).toBe(20);

    // The dead poller wakes up late: it no longer owns the events and changes nothing.
    release();
    await abandoned;
    const notSent = await t.db.selectFrom("outbox_events").select("id").where("destination", "=", "data-platform").where("status", "<>", "sent").execute();
    expect(notSent).toHaveLength(0);
  });
});
