/**
 * The running outbox poller (start/stop, not runOnce): woken by NOTIFY when events arrive, and
 * per-aggregate order kept while two pollers send many events at once.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import pg from "pg";
import { z } from "zod";
import { inTransaction } from "../../db/index.ts";
import { createLogger, systemClock } from "../../modules/kernel/index.ts";
import {
  createEventPublisher,
  createOutboxPoller,
  type DeliverableEvent,
  defineEvent,
  type OutboxHandler,
  type OutboxPollerDeps,
  subscribe,
} from "../../modules/outbox/index.ts";
import { startTestAgora, type TestAgora } from "../support/agora.ts";

/** A numbered test event, sent to the data platform only. */
const numbered = defineEvent("test.numbered", "order", z.strictObject({ n: z.number().int() }));
const publisher = createEventPublisher([subscribe("data-platform", [numbered])]);
let t: TestAgora;
const silent = createLogger("silent");

beforeAll(async () => {
  t = await startTestAgora();
});
afterAll(() => t.close());

/** Polls `check` until it holds or `ms` pass; returns whether it held. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(20);
  }
}

async function enqueue(events: Array<{ aggregateId: number; n: number }>): Promise<void> {
  await inTransaction(t.db, (trx) =>
    publisher.publish(
      trx,
      t.clock.now(),
      events.map((e) => numbered.event(e.aggregateId, { n: e.n })),
    ),
  );
}

async function pendingFor(destination: string): Promise<number> {
  const rows = await t.db.selectFrom("outbox_events").select("id").where("destination", "=", destination).where("status", "=", "pending").execute();
  return rows.length;
}

/** A promise the test's handlers wait on (sends held in flight) until `release`. */
function heldSends(): { held: Promise<void>; release: () => void } {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { held, release };
}

async function leasedFor(destination: string): Promise<number> {
  const rows = await t.db.selectFrom("outbox_events").select("id").where("destination", "=", destination).where("locked_by", "is not", null).execute();
  return rows.length;
}

/**
 * A handler that records each event's `n` per key (the order, or the order and destination) and
 * counts overlaps: two events of one key out at the same moment, which per-aggregate order forbids.
 */
function orderRecorder(keyOf: (event: DeliverableEvent) => string) {
  const seen = new Map<string, number[]>();
  const inFlight = new Set<string>();
  let overlapped = 0;
  const handler: OutboxHandler = async (event) => {
    const key = keyOf(event);
    if (inFlight.has(key)) overlapped++;
    inFlight.add(key);
    await Bun.sleep(Math.floor(Math.random() * 4));
    inFlight.delete(key);
    seen.set(key, [...(seen.get(key) ?? []), (event.payload as { n: number }).n]);
  };
  return { handler, seen, overlapped: () => overlapped };
}

/** Two running pollers ("left", "right") that share the work, woken by NOTIFY. */
function twoPollers(handlers: Record<string, OutboxHandler>, extra: Partial<OutboxPollerDeps> = {}) {
  return ["left", "right"].map((instanceId) =>
    createOutboxPoller({
      db: t.db,
      clock: t.clock,
      logger: silent,
      instanceId,
      listen: t.database.handle.listen,
      handlers,
      config: { pollIntervalMs: 50, concurrency: 16, batchSize: 8 },
      ...extra,
    }),
  );
}

describe("wake-up on NOTIFY", () => {
  test("an idle poller with an hour-long interval sends a new event at once: the insert's NOTIFY woke it", async () => {
    const received: DeliverableEvent[] = [];
    const poller = createOutboxPoller({
      db: t.db,
      clock: t.clock,
      logger: silent,
      listen: t.database.handle.listen,
      handlers: { "data-platform": async (event) => void received.push(event) },
      config: { pollIntervalMs: 3_600_000 },
    });
    poller.start();
    try {
      // Idle: it has registered as waiting (so inserts notify) and sleeps for the hour.
      const registered = async () =>
        (await t.db.selectFrom("outbox_waiting_pollers").select("owner").where("owner", "=", poller.owner).executeTakeFirst()) !== undefined;
      expect(await eventually(registered, 5_000)).toBe(true);

      await enqueue([{ aggregateId: 700_001, n: 0 }]);
      // Without the NOTIFY it would wait out the hour; a few seconds is plenty for the wake-up.
      expect(await eventually(async () => received.length === 1, 5_000)).toBe(true);
      expect(received[0]).toMatchObject({ aggregateId: "700001", type: "test.numbered", payload: { n: 0 } });

      // Having found nothing more, it waits again, and the next event wakes it again.
      expect(await eventually(registered, 5_000)).toBe(true);
      await enqueue([{ aggregateId: 700_002, n: 0 }]);
      expect(await eventually(async () => received.length === 2, 5_000)).toBe(true);
    } finally {
      await poller.stop();
    }
    // A stopped poller no longer asks inserts to notify.
    expect(await t.db.selectFrom("outbox_waiting_pollers").select("owner").where("owner", "=", poller.owner).execute()).toHaveLength(0);
  });

  test("while no poller waits, inserting events does not notify (notifying commits would serialize the order path)", async () => {
    await t.db.deleteFrom("outbox_waiting_pollers").execute();
    const listener = new pg.Client({ connectionString: t.database.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on("notification", (message) => heard.push(message.channel));
    await listener.query("LISTEN agora_outbox");
    try {
      await enqueue([{ aggregateId: 700_010, n: 0 }]);
      await t.db
        .insertInto("outbox_waiting_pollers")
        .values({ owner: "someone", until: new Date(Date.now() + 60_000) })
        .execute();
      await enqueue([{ aggregateId: 700_011, n: 0 }]);
      // A waiting registration that ran out (its poller died) is ignored.
      await t.db
        .updateTable("outbox_waiting_pollers")
        .set({ until: new Date(Date.now() - 1_000) })
        .execute();
      await enqueue([{ aggregateId: 700_012, n: 0 }]);
      // NOTIFY is delivered at commit; one round trip on the listener flushes what arrived.
      await listener.query("SELECT 1");
      await Bun.sleep(100);
      expect(heard).toEqual(["agora_outbox"]);
    } finally {
      await listener.end();
      await t.db.deleteFrom("outbox_waiting_pollers").execute();
      await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    }
  });
});

describe("order under concurrency", () => {
  test("two running pollers, 5 orders × 30 events (far more room than orders): each event sent once, each order's events in order", async () => {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    const orders = 5;
    const perOrder = 30;
    // One transaction per step, the way an order's events are written over its life.
    for (let n = 0; n < perOrder; n++) await enqueue(Array.from({ length: orders }, (_, i) => ({ aggregateId: 800_000 + i, n })));

    // Two events of one order must never be out at the same moment, let alone overtake each other.
    const { handler, seen, overlapped } = orderRecorder((event) => event.aggregateId);
    const pollers = twoPollers({ "data-platform": handler });
    for (const poller of pollers) poller.start();
    try {
      expect(await eventually(async () => (await pendingFor("data-platform")) === 0, 30_000)).toBe(true);
    } finally {
      await Promise.all(pollers.map((poller) => poller.stop()));
    }

    expect(overlapped()).toBe(0);
    expect(seen.size).toBe(orders);
    for (const [, sequence] of seen) expect(sequence).toEqual(Array.from({ length: perOrder }, (_, n) => n));
    const bySender = await t.db
      .selectFrom("outbox_events")
      .select(["status", (eb) => eb.fn.countAll<number>().as("n")])
      .where("destination", "=", "data-platform")
      .where("aggregate_id", ">=", "800000")
      .groupBy("status")
      .execute();
    expect(bySender.map((r) => ({ status: r.status, n: Number(r.n) }))).toEqual([{ status: "sent", n: orders * perOrder }]);
  });
});

describe("the claim under a burst", () => {
  test("statistics from before the burst (nothing pending): the claim still walks the due index in order, no sort of every pending row", async () => {
    // Statistics that say nothing is pending: what a long-lived table looks like the moment a sale starts.
    await t.db.updateTable("outbox_events").set({ status: "sent", sent_at: t.clock.now() }).where("status", "=", "pending").execute();
    await sql`ANALYZE outbox_events`.execute(t.db);
    for (let start = 0; start < 2_000; start += 500) await enqueue(Array.from({ length: 500 }, (_, i) => ({ aggregateId: 900_000 + start + i, n: 0 })));
    const poller = createOutboxPoller({
      db: t.db,
      clock: systemClock,
      logger: silent,
      handlers: { "data-platform": async () => {}, shipping: async () => {}, notifications: async () => {}, webhooks: async () => {} },
      config: { batchSize: 10 },
    });

    const plan = (await poller.claimPlan()).join("\n");
    expect(plan).toContain("outbox_events_due_idx");
    expect(plan).not.toMatch(/\bSort\b/);
    // And the claim itself runs: ten claimed and sent.
    const result = await poller.runOnce();
    expect(result).toMatchObject({ claimed: 10, sent: 10 });
  });
});

describe("sent marks", () => {
  async function enqueueOne(aggregateId: number, n: number): Promise<string> {
    const [id] = await inTransaction(t.db, (trx) => publisher.publish(trx, t.clock.now(), [numbered.event(aggregateId, { n })]));
    return id as string;
  }

  test("a sent event is marked in the transaction of the next claim, which already takes the next event of its aggregate", async () => {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) ids.push(await enqueueOne(810_000, n));
    // While event n is being sent: the row of event n-1 and the row of event n as its claim left it.
    const seen: Array<{ n: number; earlierStatus: string; sameTransaction: boolean }> = [];
    const handler: OutboxHandler = async (event) => {
      const n = numbered.parse(event).n;
      if (n === 0) return;
      const rows = await sql<{ id: string; status: string; version: string }>`
        SELECT id, status, xmin::text AS version FROM outbox_events WHERE id = ANY(${[ids[n - 1], ids[n]]}::uuid[])`.execute(t.db);
      const earlier = rows.rows.find((row) => row.id === ids[n - 1]);
      const current = rows.rows.find((row) => row.id === ids[n]);
      seen.push({ n, earlierStatus: earlier?.status ?? "missing", sameTransaction: earlier !== undefined && earlier.version === current?.version });
    };
    const poller = createOutboxPoller({
      db: t.db,
      clock: t.clock,
      logger: silent,
      handlers: { "data-platform": handler },
      // No mark of its own during the test: each one can only ride with a claim.
      config: { pollIntervalMs: 3_600_000, markDelayMs: 3_600_000 },
    });
    poller.start();
    try {
      expect(await eventually(async () => seen.length === 4, 10_000)).toBe(true);
    } finally {
      await poller.stop();
    }
    // The earlier event was sent and marked by the very transaction (same xmin) that claimed the next one.
    expect(seen).toEqual([1, 2, 3, 4].map((n) => ({ n, earlierStatus: "sent", sameTransaction: true })));
    // stop() wrote the last mark, which no claim carried.
    expect(await pendingFor("data-platform")).toBe(0);
  });

  test("a sent event whose next claim does not come (the rest of its batch still out) is marked on its own within markDelayMs", async () => {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    const quick = await enqueueOne(820_000, 0);
    for (let i = 1; i < 16; i++) await enqueueOne(820_000 + i, 0);
    const { held, release } = heldSends();
    const poller = createOutboxPoller({
      db: t.db,
      clock: t.clock,
      logger: silent,
      handlers: { "data-platform": (event) => (event.id === quick ? Promise.resolve() : held) },
      // 8 in flight and 8 claimed ahead, claims again once 4 are free: one finished send alone brings no claim.
      config: { pollIntervalMs: 3_600_000, concurrency: 8, batchSize: 8, markDelayMs: 100 },
    });
    const statusOf = async (id: string) => (await t.db.selectFrom("outbox_events").select("status").where("id", "=", id).executeTakeFirst())?.status;
    poller.start();
    try {
      expect(await eventually(async () => (await statusOf(quick)) === "sent", 5_000)).toBe(true);
      expect(await pendingFor("data-platform")).toBe(15);
    } finally {
      release();
      await poller.stop();
    }
    // The 7 claimed ahead and never started went back at the stop: pending, leased to nobody.
    expect(await pendingFor("data-platform")).toBe(7);
    expect(await leasedFor("data-platform")).toBe(0);
  });

  /**
   * 12 pending events and a running poller (8 at once, 2 while busy, batches of 8) whose sends are
   * held until `release`; `rush.busy` is what the poller is told, the rest what it did.
   */
  async function pollerInARush(firstAggregate: number, holdUnderLoadMs: number) {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    for (let i = 0; i < 12; i++) await enqueueOne(firstAggregate + i, 0);
    const rush = { busy: true, out: 0, mostOut: 0, firstSentAt: 0, startedAt: performance.now() };
    const { held, release } = heldSends();
    const poller = createOutboxPoller({
      db: t.db,
      clock: t.clock,
      logger: silent,
      busy: () => rush.busy,
      handlers: {
        "data-platform": async () => {
          rush.firstSentAt ||= performance.now();
          rush.out++;
          rush.mostOut = Math.max(rush.mostOut, rush.out);
          await held;
          rush.out--;
        },
      },
      config: { pollIntervalMs: 50, concurrency: 8, concurrencyUnderLoad: 2, batchSize: 8, holdUnderLoadMs },
    });
    poller.start();
    return { rush, poller, release };
  }

  test("while customers wait (busy), at most concurrencyUnderLoad events are out; once the rush is over, up to concurrency", async () => {
    const { rush, poller, release } = await pollerInARush(830_000, 0);
    try {
      expect(await eventually(async () => rush.out === 2, 5_000)).toBe(true);
      await Bun.sleep(300); // several poll intervals: still two
      expect(rush.mostOut).toBe(2);
      rush.busy = false;
      expect(await eventually(async () => rush.out === 8, 5_000)).toBe(true);
    } finally {
      release();
      await poller.stop();
    }
    expect(rush.mostOut).toBe(8);
    // Out: 8; claimed ahead and given back at the stop: the other 4.
    expect(await pendingFor("data-platform")).toBe(4);
    expect(await leasedFor("data-platform")).toBe(0);
  });

  test("for a rush's first holdUnderLoadMs nothing is claimed or sent; then concurrencyUnderLoad; once the rush is over, up to concurrency", async () => {
    const { rush, poller, release } = await pollerInARush(870_000, 600);
    try {
      await Bun.sleep(400);
      expect(rush.out).toBe(0);
      expect(await leasedFor("data-platform")).toBe(0); // nothing claimed either
      expect(await eventually(async () => rush.out === 2, 5_000)).toBe(true);
      expect(rush.firstSentAt - rush.startedAt).toBeGreaterThanOrEqual(600);
      await Bun.sleep(300); // still the same rush: two at once
      expect(rush.mostOut).toBe(2);
      rush.busy = false;
      expect(await eventually(async () => rush.out === 8, 5_000)).toBe(true);
    } finally {
      release();
      await poller.stop();
    }
    expect(rush.mostOut).toBe(8);
    expect(await pendingFor("data-platform")).toBe(4);
  });

  test("a rush that goes on is held back once: a send slower than the rush's gap does not start the hold again", async () => {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    for (let i = 0; i < 2; i++) await enqueueOne(880_000 + i, 0);
    const starts: number[] = [];
    const ends: number[] = [];
    const poller = createOutboxPoller({
      db: t.db,
      clock: t.clock,
      logger: silent,
      busy: () => true,
      handlers: {
        "data-platform": async () => {
          starts.push(performance.now());
          await Bun.sleep(700); // longer than the 0.5 s that separates two rushes
          ends.push(performance.now());
        },
      },
      // A long interval: between sends the poller itself does not look (no LISTEN either).
      config: { pollIntervalMs: 5_000, concurrency: 8, concurrencyUnderLoad: 1, batchSize: 8, holdUnderLoadMs: 1_000 },
    });
    poller.start();
    try {
      expect(await eventually(async () => starts.length >= 2, 8_000)).toBe(true);
    } finally {
      await poller.stop();
    }
    // One at a time after the hold: the second send starts as the first ends, not a second hold later.
    expect((starts[1] as number) - (ends[0] as number)).toBeLessThan(500);
    expect(await pendingFor("data-platform")).toBe(0); // both sent: nothing left for the next tests
  });
});

describe("the rush the poller yields to", () => {
  test("each /trpc call counts while it is answered, refused or not, and no longer after", async () => {
    const load = t.agora.requestLoad;
    const enter = load.enter.bind(load);
    let entered = 0;
    let most = 0;
    load.enter = () => {
      enter();
      entered++;
      most = Math.max(most, load.inFlight);
    };
    try {
      const calls = Array.from({ length: 8 }, () => [
        new Request("http://agora.test/trpc/ping"),
        new Request("http://agora.test/trpc/no.such.procedure"),
        new Request("http://agora.test/trpc/ping?input=%FF"), // not UTF-8: 400
        new Request("http://agora.test/trpc/cart.add", { method: "POST", headers: { "content-type": "application/json" }, body: new Uint8Array([0xff, 0xfe]) }),
      ]).flat();
      const answers = await Promise.all(calls.map((request) => t.agora.app.fetch(request)));
      expect(answers.map((answer) => answer.status).sort()).toEqual([...Array(8).fill(200), ...Array(16).fill(400), ...Array(8).fill(404)].sort());
      expect(entered).toBe(32);
      expect(most).toBeGreaterThan(1);
      expect(load.inFlight).toBe(0);
    } finally {
      load.enter = enter;
    }
  });
});

describe("claimed ahead past the lease", () => {
  test("an event that waited out its lease in the queue and is claimed again is sent once (the stale copy does not clear the new lease)", async () => {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    await inTransaction(t.db, (trx) =>
      publisher.publish(trx, new Date(Date.now() - 1_000), [
        numbered.event(840_001, { n: 0 }),
        numbered.event(840_002, { n: 1 }),
        numbered.event(840_003, { n: 2 }),
      ]),
    );
    const sends = new Map<number, number>();
    let slowed = false;
    const poller = createOutboxPoller({
      db: t.db,
      // The database's clock: the leases run out on their own.
      clock: systemClock,
      logger: silent,
      handlers: {
        "data-platform": async (event) => {
          const n = (event.payload as { n: number }).n;
          sends.set(n, (sends.get(n) ?? 0) + 1);
          // The one send slot is held past the lease: the other two wait it out in the queue.
          if (n === 0 && !slowed) {
            slowed = true;
            await Bun.sleep(1_150);
          }
        },
      },
      config: { concurrency: 1, batchSize: 4, leaseMs: 1_000, pollIntervalMs: 50, markDelayMs: 10, maxAttempts: 10 },
    });
    poller.start();
    try {
      expect(await eventually(async () => (await pendingFor("data-platform")) === 0 && sends.size === 3, 10_000)).toBe(true);
      await Bun.sleep(1_200); // a lease more: nothing is sent again
    } finally {
      await poller.stop();
    }
    // Event 0's own send outlived its lease, so a second send of it is the at-least-once case; 1 and 2 never started before theirs ran out.
    expect(sends.get(1)).toBe(1);
    expect(sends.get(2)).toBe(1);
  });
});

describe("events written once and fanned out", () => {
  /** Sent to two destinations (so written once), and a second event type for the data platform alone (written directly). */
  const paid = defineEvent("test.fanned", "order", z.strictObject({ n: z.number().int() }));
  const lone = defineEvent("test.lone", "order", z.strictObject({ n: z.number().int() }));
  const fanning = createEventPublisher([subscribe("data-platform", [paid, lone]), subscribe("shipping", [paid])], { fanOut: true });

  async function publishFanned(events: Array<{ aggregateId: number; n: number; lone?: boolean }>): Promise<string[]> {
    return inTransaction(t.db, (trx) =>
      fanning.publish(
        trx,
        t.clock.now(),
        events.map((e) => (e.lone ? lone : paid).event(e.aggregateId, { n: e.n })),
      ),
    );
  }

  async function rowsOf(aggregateId: number) {
    return t.db
      .selectFrom("outbox_events")
      .select(["id", "type", "destination", "status"])
      .where("aggregate_id", "=", String(aggregateId))
      .orderBy("id")
      .execute();
  }

  /** Each row of an aggregate's events, oldest first: [destination, status]. */
  const statesOf = async (aggregateId: number) => (await rowsOf(aggregateId)).map((r) => [r.destination, r.status]);
  const fannedOutAndSent = [
    ["fan-out", "sent"],
    ["data-platform", "sent"],
    ["shipping", "sent"],
  ];

  test("the producer writes one row; one runOnce fans it out and delivers it to each destination, the rows' ids the event's with the destination's number", async () => {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    const [eventId] = await publishFanned([{ aggregateId: 850_001, n: 7 }]);
    expect(await rowsOf(850_001)).toEqual([{ id: eventId as string, type: "test.fanned", destination: "fan-out", status: "pending" }]);
    expect(eventId?.endsWith("00")).toBe(true);

    const received: Array<{ destination: string; id: string; n: number }> = [];
    const record: OutboxHandler = async (event) => void received.push({ destination: event.destination, id: event.id, n: paid.parse(event).n });
    const poller = createOutboxPoller({
      db: t.db,
      clock: t.clock,
      logger: silent,
      handlers: { "data-platform": record, shipping: record },
      fanOut: fanning.fanOut,
    });
    expect(await poller.runOnce()).toEqual({ claimed: 2, sent: 2, retried: 0, dead: 0 });

    const stem = (eventId as string).slice(0, 34);
    expect(received.sort((a, b) => a.destination.localeCompare(b.destination))).toEqual([
      { destination: "data-platform", id: `${stem}01`, n: 7 },
      { destination: "shipping", id: `${stem}02`, n: 7 },
    ]);
    expect(await statesOf(850_001)).toEqual(fannedOutAndSent);
  });

  test("an idle poller that fans out is not woken by its own claims (they insert, rows or none, yet notify nobody)", async () => {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    const received: string[] = [];
    const poller = createOutboxPoller({
      db: t.db,
      clock: t.clock,
      logger: silent,
      listen: t.database.handle.listen,
      handlers: { "data-platform": async (event) => void received.push(event.id), shipping: async () => {} },
      fanOut: fanning.fanOut,
      config: { pollIntervalMs: 3_600_000 },
    });
    const listener = new pg.Client({ connectionString: t.database.url });
    await listener.connect();
    let heard = 0;
    // The insert trigger's NOTIFY carries no payload (the LISTEN set-up sends a probe with one).
    listener.on("notification", (message) => {
      if (message.payload === "") heard++;
    });
    await listener.query("LISTEN agora_outbox");
    poller.start();
    try {
      const registered = async () =>
        (await t.db.selectFrom("outbox_waiting_pollers").select("owner").where("owner", "=", poller.owner).executeTakeFirst()) !== undefined;
      expect(await eventually(registered, 5_000)).toBe(true);
      await Bun.sleep(300);
      await listener.query("SELECT 1");
      expect(heard).toBe(0);
      // A producer's insert still wakes it, and its event is fanned out and sent.
      await publishFanned([{ aggregateId: 850_004, n: 0 }]);
      expect(await eventually(async () => received.length === 1, 5_000)).toBe(true);
      expect(await eventually(registered, 5_000)).toBe(true);
      heard = 0;
      await Bun.sleep(300);
      await listener.query("SELECT 1");
      expect(heard).toBe(0);
    } finally {
      await poller.stop();
      await listener.end();
    }
  });

  test("fanned out again (an operator's retry of the event): no row is written twice", async () => {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    const [eventId] = await publishFanned([{ aggregateId: 850_002, n: 1 }]);
    const poller = createOutboxPoller({
      db: t.db,
      clock: t.clock,
      logger: silent,
      handlers: { "data-platform": async () => {}, shipping: async () => {} },
      fanOut: fanning.fanOut,
    });
    expect((await poller.runOnce()).sent).toBe(2);
    await t.db
      .updateTable("outbox_events")
      .set({ status: "pending" })
      .where("id", "=", eventId as string)
      .execute();
    expect(await poller.runOnce()).toEqual({ claimed: 0, sent: 0, retried: 0, dead: 0 });
    expect(await statesOf(850_002)).toEqual(fannedOutAndSent);
  });

  test("a poller without the fan-out neither claims such an event nor sends what comes after it for its aggregate", async () => {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    await publishFanned([{ aggregateId: 850_003, n: 0 }]);
    await publishFanned([{ aggregateId: 850_003, n: 1, lone: true }]);
    const received: string[] = [];
    const handlers = { "data-platform": async (event: DeliverableEvent) => void received.push(event.type), shipping: async () => {} };
    const without = createOutboxPoller({ db: t.db, clock: t.clock, logger: silent, handlers });
    // The lone event's row is due, but an earlier event of its order has not been fanned out yet.
    expect(await without.runOnce()).toEqual({ claimed: 0, sent: 0, retried: 0, dead: 0 });
    const withFanOut = createOutboxPoller({ db: t.db, clock: t.clock, logger: silent, handlers, fanOut: fanning.fanOut });
    await withFanOut.runOnce();
    await withFanOut.runOnce();
    expect(received).toEqual(["test.fanned", "test.lone"]);
  });

  test("two running pollers, 5 orders × 20 events, fanned-out and direct mixed: each row sent once, each order's events in order per destination", async () => {
    await t.db.updateTable("outbox_events").set({ status: "sent" }).where("status", "=", "pending").execute();
    const orders = 5;
    const perOrder = 20;
    // Every third event goes to the data platform alone (a direct row) between events written once.
    for (let n = 0; n < perOrder; n++) await publishFanned(Array.from({ length: orders }, (_, i) => ({ aggregateId: 860_000 + i, n, lone: n % 3 === 2 })));

    const { handler, seen, overlapped } = orderRecorder((event) => `${event.aggregateId}/${event.destination}`);
    const pollers = twoPollers({ "data-platform": handler, shipping: handler }, { fanOut: fanning.fanOut });
    for (const poller of pollers) poller.start();
    const pendingHere = async () =>
      (await t.db.selectFrom("outbox_events").select("id").where("status", "=", "pending").where("aggregate_id", ">=", "860000").execute()).length;
    try {
      expect(await eventually(async () => (await pendingHere()) === 0, 30_000)).toBe(true);
    } finally {
      await Promise.all(pollers.map((poller) => poller.stop()));
    }

    expect(overlapped()).toBe(0);
    const all = Array.from({ length: perOrder }, (_, n) => n);
    for (let i = 0; i < orders; i++) {
      expect(seen.get(`${860_000 + i}/data-platform`)).toEqual(all);
      expect(seen.get(`${860_000 + i}/shipping`)).toEqual(all.filter((n) => n % 3 !== 2));
    }
  });
});
