/**
 * Flash-sale proofs for coupons: crowds issue at once against real PostgreSQL (and Redis), then
 * exact invariants read from the database itself. Three Agoras: Redis admission on (default),
 * Redis present but admission off, and the in-process (memory) infra. Each has its own database.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "kysely";
import { createCouponService } from "../../modules/coupons/index.ts";
import { createLogger } from "../../modules/kernel/index.ts";
import { type Customer, codeOf, startTestAgora, type TestAgora, type TestAgoraOptions } from "../support/agora.ts";
import { redisClusterAvailability } from "../support/redis.ts";

const DAY = 86_400_000;

// bunfig.toml's [test] timeout is not applied by Bun 1.4 (tests got the 5 s default); crowds of
// hundreds against PostgreSQL need more on a loaded machine, and a hang still fails in bounded time.
setDefaultTimeout(30_000);

interface Setup {
  t: TestAgora;
  admin: Customer;
  /** 300 customers, signed up once and reused across coupons (one coupon each per customer). */
  crowd: Customer[];
}

async function setUp(options: TestAgoraOptions): Promise<Setup> {
  const t = await startTestAgora(options);
  const admin = await t.admin();
  const crowd = await t.signUpCustomers(300, "crowd");
  return { t, admin, crowd };
}

/** An open fixed coupon of `totalQuantity`. */
async function openCoupon({ t, admin }: Setup, totalQuantity: number, name = `Flash ${totalQuantity}`) {
  const now = t.clock.now().getTime();
  return admin.client.coupons.admin.create.mutate({
    name,
    discountType: "fixed",
    discountValue: 5_000,
    minOrderAmount: 0,
    totalQuantity,
    issueStartsAt: new Date(now - 60_000),
    issueEndsAt: new Date(now + DAY),
    validDays: 30,
  });
}

/** Runs every call at once and tallies the outcomes by domain code ("ok" for a success). */
async function settle<T>(calls: Array<Promise<T>>) {
  const results = await Promise.allSettled(calls);
  const codes = await Promise.all(results.map((r) => (r.status === "fulfilled" ? "ok" : codeOf(Promise.reject(r.reason)))));
  const tally: Record<string, number> = {};
  for (const code of codes) tally[code] = (tally[code] ?? 0) + 1;
  const winners = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  return { results, codes, tally, winners };
}

/** What the database holds for a coupon, plus what the public list says is left. */
async function stored({ t }: Setup, couponId: number) {
  const rows = await t.db.selectFrom("coupon_issued").select(["id", "user_id", "status"]).where("coupon_id", "=", couponId).orderBy("id").execute();
  const coupon = await t.db.selectFrom("coupon_coupons").select(["issued_quantity", "total_quantity"]).where("id", "=", couponId).executeTakeFirstOrThrow();
  const history = await t.db
    .selectFrom("coupon_history")
    .innerJoin("coupon_issued", "coupon_issued.id", "coupon_history.issued_coupon_id")
    .select(["coupon_history.action"])
    .where("coupon_issued.coupon_id", "=", couponId)
    .execute();
  const listed = (await t.client().coupons.list.query()).find((c) => c.couponId === couponId);
  return {
    rows: rows.length,
    distinctUsers: new Set(rows.map((r) => r.user_id)).size,
    userIds: rows.map((r) => r.user_id),
    issuedQuantity: coupon.issued_quantity,
    historyIssued: history.filter((h) => h.action === "issued").length,
    remainingQuantity: listed?.remainingQuantity,
    state: listed?.state,
  };
}

async function flashSale(setup: Setup) {
  const coupon = await openCoupon(setup, 100);
  const { tally, winners } = await settle(setup.crowd.map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
  expect(tally).toEqual({ ok: 100, COUPON_SOLD_OUT: 200 });
  const state = await stored(setup, coupon.couponId);
  expect(state).toMatchObject({ rows: 100, distinctUsers: 100, issuedQuantity: 100, historyIssued: 100, remainingQuantity: 0, state: "sold_out" });
  // The winners the API reported are exactly the rows the database holds.
  expect(winners.map((w) => w.userCouponId).sort((a, b) => a - b)).toEqual(
    (await setup.t.db.selectFrom("coupon_issued").select("id").where("coupon_id", "=", coupon.couponId).orderBy("id").execute()).map((r) => r.id),
  );
  // A late comer is still turned away, and changes nothing.
  const late = setup.crowd.find((c) => !state.userIds.includes(c.id)) as Customer;
  expect(await codeOf(late.client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("COUPON_SOLD_OUT");
  expect((await stored(setup, coupon.couponId)).rows).toBe(100);
  return coupon;
}

async function doubleClick(setup: Setup, totalQuantity: number) {
  const coupon = await openCoupon(setup, totalQuantity, `Double click ${totalQuantity}`);
  const c = setup.crowd[0] as Customer;
  const { tally } = await settle(Array.from({ length: 20 }, () => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
  expect(tally).toEqual({ ok: 1, ALREADY_ISSUED: 19 });
  expect(await stored(setup, coupon.couponId)).toMatchObject({
    rows: 1,
    distinctUsers: 1,
    issuedQuantity: 1,
    historyIssued: 1,
    remainingQuantity: totalQuantity - 1,
  });
  expect((await c.client.coupons.mine.query({})).filter((m) => m.couponId === coupon.couponId)).toHaveLength(1);
}

// ── Redis admission on (the default), on one Redis and on a Redis Cluster ──

const cluster = await redisClusterAvailability();

function redisAdmissionSuite(infra: "redis" | "cluster") {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp({ infra });
  });
  afterAll(() => s.t.close());

  const redis = () => {
    const r = s.t.redis;
    if (!r) throw new Error("this suite needs Redis");
    return r.client;
  };
  async function keysOf(couponId: number) {
    const keys = await s.t.agora.services.coupons.admissionKeys(couponId);
    if (!keys) throw new Error("Redis admission is off");
    return keys;
  }
  /** Loses every admission key of this Agora (its prefix only), as a Redis restart or FLUSHALL would. */
  async function loseAdmission(): Promise<number> {
    const keys = (await s.t.redis?.keys("coupon:*")) ?? [];
    await Promise.all(keys.map((key) => redis().del(key)));
    return keys.length;
  }
  /** The slots the database holds for a coupon, ascending. */
  async function slotsOf(couponId: number): Promise<number[]> {
    const rows = await s.t.db.selectFrom("coupon_issued").select("slot").where("coupon_id", "=", couponId).orderBy("slot").execute();
    return rows.map((r) => r.slot);
  }
  const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  test("300 customers race for 100 coupons: exactly 100 issued to 100 different customers, slots 1..100", async () => {
    const coupon = await flashSale(s);
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(100));
  });

  test("the winners of one moment share a statement and a commit: fewer transactions than winners, each row still its own", async () => {
    const coupon = await flashSale(s);
    // Rows written by one statement carry one transaction id (xmin); one commit per winner would give 100.
    const { rows } = await sql<{ transactions: number }>`
      SELECT count(DISTINCT xmin::text)::int AS transactions FROM coupon_issued WHERE coupon_id = ${coupon.couponId}`.execute(s.t.db);
    expect(rows[0]?.transactions).toBeGreaterThan(0);
    expect(rows[0]?.transactions).toBeLessThan(100);
  });

  test("a winner whose row the database refuses does not fail the others written with it", async () => {
    const coupon = await openCoupon(s, 100, "One bad row");
    const coupons = s.t.agora.services.coupons;
    const ghost = 2_000_000_000; // no such account: its row breaks the foreign key
    const calls = [...s.crowd.slice(0, 60).map((c) => coupons.issue(c.id, coupon.couponId)), coupons.issue(ghost, coupon.couponId)];
    const results = await Promise.allSettled(calls);
    expect(results.slice(0, 60).every((r) => r.status === "fulfilled")).toBe(true);
    expect(results[60]?.status).toBe("rejected");
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 60, distinctUsers: 60, issuedQuantity: 60, historyIssued: 60 });
    // The ghost's slot went back: the rest of the quantity is still there to win.
    const { tally } = await settle(s.crowd.slice(60, 110).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(tally).toEqual({ ok: 40, COUPON_SOLD_OUT: 10 });
  });

  test("the admission state in Redis matches the database after the race", async () => {
    const coupon = await openCoupon(s, 40);
    const { tally } = await settle(s.crowd.slice(0, 90).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(tally).toEqual({ ok: 40, COUPON_SOLD_OUT: 50 });
    const keys = await keysOf(coupon.couponId);
    expect(await redis().hgetall(keys.slots)).toMatchObject({ next: "41", total: "40" });
    expect(await redis().scard(keys.free)).toBe(0);
    const holders = (await redis().smembers(keys.holders)).map(Number).sort((a, b) => a - b);
    expect(holders).toEqual((await stored(s, coupon.couponId)).userIds.sort((a, b) => a - b));
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(40));
    // Every key of the coupon sits in one hash slot (the {epoch:couponId} tag), so its scripts run on a cluster.
    const tags = Object.values(keys).map((key) => /\{[^}]+\}/.exec(key)?.[0]);
    expect(new Set(tags).size).toBe(1);
    expect(tags[0]).toContain(`:${coupon.couponId}}`);
  });

  test("a moment's crowd is admitted by one script call, first asked first served: the first 5 of 30 hold slots 1..5", async () => {
    const coupon = await openCoupon(s, 5, "One call");
    const keys = await keysOf(coupon.couponId);
    const client = redis() as import("ioredis").Redis;
    const originalEvalsha = client.evalsha.bind(client);
    let admissionCalls = 0;
    client.evalsha = ((...args: Parameters<typeof client.evalsha>) => {
      if (args.flat().includes(keys.auditDue)) admissionCalls++; // ADMIT_EACH alone carries the audit-due key
      return originalEvalsha(...args);
    }) as typeof client.evalsha;
    const coupons = s.t.agora.services.coupons;
    const crowd = s.crowd.slice(200, 230);
    let results: PromiseSettledResult<unknown>[];
    try {
      results = await Promise.allSettled(crowd.map((c) => coupons.issue(c.id, coupon.couponId)));
    } finally {
      client.evalsha = originalEvalsha;
    }
    // One call finds no state (NOT_SEEDED for all 30); after the seed, one call admits all 30.
    expect(admissionCalls).toBe(2);
    expect(results.map((r) => r.status)).toEqual([...Array(5).fill("fulfilled"), ...Array(25).fill("rejected")]);
    const rows = await s.t.db.selectFrom("coupon_issued").select(["user_id", "slot"]).where("coupon_id", "=", coupon.couponId).orderBy("slot").execute();
    expect(rows).toEqual(crowd.slice(0, 5).map((c, i) => ({ user_id: c.id, slot: i + 1 })));
  });

  test("one customer fires 20 parallel issues: one coupon, 19 ALREADY_ISSUED", async () => {
    await doubleClick(s, 10);
  });

  test("one customer fires 20 parallel issues of the last unit: still ALREADY_ISSUED, not SOLD_OUT", async () => {
    await doubleClick(s, 1);
  });

  test("Redis loses its state mid-sale: the rest of the sale still issues exactly the quantity, one each", async () => {
    const coupon = await openCoupon(s, 50, "Lost Redis");
    const keys = await keysOf(coupon.couponId);
    const early = s.crowd.slice(0, 20);
    const first = await settle(early.map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(first.tally).toEqual({ ok: 20 });
    expect(await s.t.redis?.keys("coupon:*")).toEqual(expect.arrayContaining([keys.slots, keys.holders]));

    expect(await loseAdmission()).toBeGreaterThanOrEqual(2);
    expect(await redis().exists(keys.slots)).toBe(0);

    // The 20 holders try again alongside 80 newcomers: 30 units are left.
    const second = await settle([...early, ...s.crowd.slice(20, 100)].map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(second.tally).toEqual({ ok: 30, ALREADY_ISSUED: 20, COUPON_SOLD_OUT: 50 });
    expect(second.results.slice(0, 20).map((r) => r.status)).toEqual(Array(20).fill("rejected"));
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 50, distinctUsers: 50, issuedQuantity: 50, historyIssued: 50, remainingQuantity: 0 });
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(50));
  });

  test("300 customers on 100, Redis flushed once mid-storm: exactly 100", async () => {
    const coupon = await openCoupon(s, 100, "Flushed mid-storm");
    let answered = 0;
    let flushed = 0;
    const calls = s.crowd.map((c) =>
      c.client.coupons.issue.mutate({ couponId: coupon.couponId }).finally(async () => {
        if (++answered === 40) flushed = await loseAdmission();
      }),
    );
    const { tally } = await settle(calls);
    expect(flushed).toBeGreaterThan(0);
    expect(tally).toEqual({ ok: 100, COUPON_SOLD_OUT: 200 });
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 100, distinctUsers: 100, issuedQuantity: 100, historyIssued: 100, remainingQuantity: 0 });
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(100));
  });

  test("Redis winners and database-path issuers on one coupon at once (an instance without Redis): exactly 100, slots 1..100", async () => {
    const coupon = await openCoupon(s, 100, "Mixed paths");
    // A second service on the same database with admission off, as an instance that lost Redis would run.
    const withoutRedis = createCouponService({ db: s.t.db, clock: s.t.clock, infra: s.t.infra, logger: createLogger("silent"), redisAdmission: false });
    const calls = s.crowd.map((c, i) =>
      i % 2 === 0
        ? c.client.coupons.issue.mutate({ couponId: coupon.couponId })
        : withoutRedis.issue(c.id, coupon.couponId).catch((error: { domainCode?: string }) => Promise.reject({ data: { domainCode: error.domainCode } })),
    );
    const { tally } = await settle(calls);
    expect(tally).toEqual({ ok: 100, COUPON_SOLD_OUT: 200 });
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 100, distinctUsers: 100, issuedQuantity: 100, historyIssued: 100, remainingQuantity: 0 });
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(100));
  });

  test("Redis keys flushed again and again during the race: never over-issued, nobody holds two", async () => {
    const coupon = await openCoupon(s, 60, "Flapping Redis");
    let racing = true;
    let flushes = 0;
    const flapper = (async () => {
      while (racing) {
        flushes += (await loseAdmission()) > 0 ? 1 : 0;
        await Bun.sleep(2);
      }
    })();
    const { tally } = await settle(s.crowd.slice(0, 200).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    racing = false;
    await flapper;
    expect(flushes).toBeGreaterThan(0);
    expect(tally).toEqual({ ok: 60, COUPON_SOLD_OUT: 140 });
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 60, distinctUsers: 60, issuedQuantity: 60, historyIssued: 60, remainingQuantity: 0 });
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(60));
  });

  test("a Redis quantity set far too high: the database refuses slots past the quantity and Redis is rebuilt", async () => {
    const coupon = await openCoupon(s, 30, "Inflated Redis");
    const seeder = s.crowd[299] as Customer;
    await seeder.client.coupons.issue.mutate({ couponId: coupon.couponId }); // seeds the admission keys
    const keys = await keysOf(coupon.couponId);
    expect(await redis().hgetall(keys.slots)).toMatchObject({ next: "2", total: "30" });
    await redis().hset(keys.slots, "total", 1000);

    const { tally } = await settle(s.crowd.slice(0, 150).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(tally).toEqual({ ok: 29, COUPON_SOLD_OUT: 121 });
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 30, distinctUsers: 30, issuedQuantity: 30, remainingQuantity: 0 });
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(30));
    // A slot past the quantity made the service drop the state; the reseed read the quantity again.
    expect(await redis().hget(keys.slots, "total")).toBe("30");
  });

  test("a stale Redis that hands out taken slots again: conflicts move on to free slots, still exact", async () => {
    const coupon = await openCoupon(s, 40, "Rewound Redis");
    const first = await settle(s.crowd.slice(0, 25).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(first.tally).toEqual({ ok: 25 });
    const keys = await keysOf(coupon.couponId);
    // As if Redis came back from an old snapshot: no slot handed out yet.
    await redis().hset(keys.slots, "next", 1);

    const second = await settle(s.crowd.slice(0, 100).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(second.tally).toEqual({ ok: 15, ALREADY_ISSUED: 25, COUPON_SOLD_OUT: 60 });
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 40, distinctUsers: 40, issuedQuantity: 40, historyIssued: 40, remainingQuantity: 0 });
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(40));
  });

  test("a crowd before the window opens is turned away by Redis: no slot taken, none lost", async () => {
    const now = s.t.clock.now().getTime();
    const coupon = await s.admin.client.coupons.admin.create.mutate({
      name: "Opens in a minute",
      discountType: "fixed",
      discountValue: 1_000,
      totalQuantity: 10,
      issueStartsAt: new Date(now + 60_000),
      issueEndsAt: new Date(now + DAY),
      validDays: 30,
    });
    const early = await settle(s.crowd.slice(0, 30).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(early.tally).toEqual({ COUPON_NOT_OPEN: 30 });
    const keys = await keysOf(coupon.couponId);
    expect(await redis().hget(keys.slots, "next")).toBe("1");
    expect(await redis().scard(keys.holders)).toBe(0);

    s.t.clock.advance(120_000);
    const { tally } = await settle(s.crowd.slice(0, 40).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(tally).toEqual({ ok: 10, COUPON_SOLD_OUT: 30 });
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(10));
    s.t.clock.advance(DAY);
    expect(await codeOf((s.crowd[50] as Customer).client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("COUPON_CLOSED");
    const winner = (await stored(s, coupon.couponId)).userIds[0] as number;
    expect(await codeOf((s.crowd.find((c) => c.id === winner) as Customer).client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("ALREADY_ISSUED");
  });

  test("slots whose insert was refused are handed back and issued later", async () => {
    const coupon = await openCoupon(s, 10, "Handed back");
    const seeder = s.crowd[0] as Customer;
    await seeder.client.coupons.issue.mutate({ couponId: coupon.couponId }); // seeds the state: slot 1
    const keys = await keysOf(coupon.couponId);
    // Redis believes the window is still open; the database (which decides) knows it closed: the slots come back.
    await s.t.db.updateTable("coupon_coupons").set({ issue_ends_at: s.t.clock.now() }).where("id", "=", coupon.couponId).execute();
    const refused = await settle(s.crowd.slice(1, 8).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(refused.tally).toEqual({ COUPON_CLOSED: 7 });
    // Every slot taken after the seeder's came back. A refusal may hand its slot back before another of
    // the seven takes one, which then reuses it: 2…8 fresh slots were taken, and all of them are free.
    const next = Number(await redis().hget(keys.slots, "next"));
    expect(next).toBeGreaterThanOrEqual(3);
    expect(next).toBeLessThanOrEqual(9);
    expect((await redis().smembers(keys.free)).map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: next - 2 }, (_, i) => i + 2));
    expect(await redis().smembers(keys.holders)).toEqual([String(seeder.id)]);

    // Reopened: the handed-back slots go first, and the quantity is exact.
    await s.t.db
      .updateTable("coupon_coupons")
      .set({ issue_ends_at: new Date(s.t.clock.now().getTime() + DAY) })
      .where("id", "=", coupon.couponId)
      .execute();
    const { tally } = await settle(s.crowd.slice(1, 40).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(tally).toEqual({ ok: 9, COUPON_SOLD_OUT: 30 });
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 10, distinctUsers: 10, issuedQuantity: 10, remainingQuantity: 0 });
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(10));
  });

  test("holders Redis forgot get a slot, the database says ALREADY_ISSUED, and the slot goes to someone else", async () => {
    const coupon = await openCoupon(s, 10, "Forgotten holders");
    const holders = s.crowd.slice(0, 3);
    expect((await settle(holders.map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })))).tally).toEqual({ ok: 3 });
    const keys = await keysOf(coupon.couponId);
    await redis().del(keys.holders);

    const again = await settle(holders.map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(again.tally).toEqual({ ALREADY_ISSUED: 3 });
    expect((await redis().smembers(keys.free)).map(Number).sort((a, b) => a - b)).toEqual([4, 5, 6]);
    expect((await redis().smembers(keys.holders)).map(Number).sort((a, b) => a - b)).toEqual(holders.map((c) => c.id).sort((a, b) => a - b));
    const newcomers = await settle(s.crowd.slice(3, 20).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(newcomers.tally).toEqual({ ok: 7, COUPON_SOLD_OUT: 10 });
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 10, distinctUsers: 10, issuedQuantity: 10, remainingQuantity: 0 });
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(10));
  });

  test("slots lost with a crashed process: Redis says sold out, the audit sees the database unchanged and rebuilds", async () => {
    const coupon = await openCoupon(s, 5, "Lost slots");
    expect((await settle(s.crowd.slice(0, 3).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })))).tally).toEqual({ ok: 3 });
    const keys = await keysOf(coupon.couponId);
    // Slots 4 and 5 handed out to customers 3 and 4, whose process then died before the database insert.
    const lostA = s.crowd[3] as Customer;
    const lostB = s.crowd[4] as Customer;
    await redis().hset(keys.slots, "next", 6);
    await redis().sadd(keys.holders, lostA.id, lostB.id);

    // A newcomer is turned away; the audit notes the database's count (3 of 5).
    expect(await codeOf((s.crowd[10] as Customer).client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("COUPON_SOLD_OUT");
    expect(await redis().hget(keys.audit, "count")).toBe("3");
    // A customer whose slot was lost asks again: Redis says holder, the database says no: the database path issues.
    await lostA.client.coupons.issue.mutate({ couponId: coupon.couponId });
    expect((await stored(s, coupon.couponId)).rows).toBe(4);

    // Time passes with no change in the database: the state is stale, and is rebuilt.
    await Bun.sleep(1_100); // the audit interval (real Redis expiry)
    expect(await codeOf((s.crowd[11] as Customer).client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("COUPON_SOLD_OUT");
    expect(await redis().hget(keys.audit, "count")).toBe("4");
    s.t.clock.advance(11_000);
    await Bun.sleep(1_100);
    expect(await codeOf((s.crowd[12] as Customer).client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("COUPON_SOLD_OUT");
    expect(await redis().exists(keys.slots)).toBe(0);

    const rest = await settle(s.crowd.slice(13, 20).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(rest.tally).toEqual({ ok: 1, COUPON_SOLD_OUT: 6 });
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 5, distinctUsers: 5, issuedQuantity: 5, remainingQuantity: 0 });
    expect(await slotsOf(coupon.couponId)).toEqual(oneTo(5));
  });

  test("admin resetAdmission rebuilds the state from the database", async () => {
    const coupon = await openCoupon(s, 5, "Reset");
    await settle(s.crowd.slice(0, 3).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    const keys = await keysOf(coupon.couponId);
    await redis().hset(keys.slots, "next", 6); // Redis wrongly thinks it is sold out
    expect(await codeOf((s.crowd[3] as Customer).client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("COUPON_SOLD_OUT");
    expect(await s.admin.client.coupons.admin.resetAdmission.mutate({ couponId: coupon.couponId })).toEqual({ reset: true });
    expect(await redis().exists(keys.slots)).toBe(0);
    const { tally } = await settle(s.crowd.slice(3, 10).map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(tally).toEqual({ ok: 2, COUPON_SOLD_OUT: 5 });
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 5, distinctUsers: 5, issuedQuantity: 5 });
  });

  test("a coupon restored by a cancelled order is still held: no new slot, no second coupon", async () => {
    const c = (await s.t.signUpCustomers(1, `restore-${infra}`))[0] as Customer;
    await s.t.fund(c, 100_000);
    const product = await s.t.createProduct({ price: 40_000, stock: 5 });
    const coupon = await openCoupon(s, 3, "Restored");
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const order = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: issued.userCouponId });
    expect(await codeOf(c.client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("ALREADY_ISSUED");
    expect(await c.client.orders.cancel.mutate({ orderId: order.orderId })).toMatchObject({ couponRestored: true });
    const { tally } = await settle(Array.from({ length: 5 }, () => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    expect(tally).toEqual({ ALREADY_ISSUED: 5 });
    expect(await stored(s, coupon.couponId)).toMatchObject({ rows: 1, issuedQuantity: 1, remainingQuantity: 2 });
    expect(await slotsOf(coupon.couponId)).toEqual([1]);
    const keys = await keysOf(coupon.couponId);
    expect(await redis().hget(keys.slots, "next")).toBe("2");
    expect(await redis().smembers(keys.holders)).toEqual([String(c.id)]);
    expect((await c.client.coupons.mine.query({})).find((m) => m.userCouponId === issued.userCouponId)).toMatchObject({ status: "available" });
  });

  describe("one issued coupon, parallel orders", () => {
    async function race(parallel: number) {
      const c = (await s.t.signUpCustomers(1, `coupon-orders-${parallel}`))[0] as Customer;
      await s.t.fund(c, 400_000);
      const product = await s.t.createProduct({ price: 40_000, stock: 20 });
      const coupon = await openCoupon(s, 10, `Order race ${parallel}`);
      const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });

      const { tally, winners } = await settle(
        Array.from({ length: parallel }, () =>
          c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: issued.userCouponId }),
        ),
      );
      expect(tally).toEqual({ ok: 1, COUPON_ALREADY_USED: parallel - 1 });
      const winner = winners[0] as (typeof winners)[number];
      expect(winner).toMatchObject({ subtotalAmount: 40_000, discountAmount: 5_000, finalAmount: 35_000, remainingBalance: 365_000 });

      // Money, stock, orders and the coupon moved exactly once.
      expect((await c.client.wallet.balance.query()).balance).toBe(365_000);
      expect((await s.t.client().catalog.stock.query({ productId: product.id })).stock).toBe(19);
      const orders = await s.t.db.selectFrom("order_orders").select(["id", "status", "final_amount"]).where("user_id", "=", c.id).execute();
      expect(orders).toEqual([{ id: winner.orderId, status: "paid", final_amount: 35_000 }]);
      const payments = await s.t.db.selectFrom("wallet_ledger").select("amount").where("user_id", "=", c.id).where("kind", "=", "payment").execute();
      expect(payments).toEqual([{ amount: -35_000 }]);
      const sales = await s.t.db
        .selectFrom("inventory_movements")
        .select("quantity_change")
        .where("product_id", "=", product.id)
        .where("kind", "=", "sale")
        .execute();
      expect(sales).toEqual([{ quantity_change: -1 }]);
      const mine = (await c.client.coupons.mine.query({})).find((m) => m.userCouponId === issued.userCouponId);
      expect(mine).toMatchObject({ status: "used", orderId: winner.orderId });
      const history = await c.client.coupons.history.query({ userCouponId: issued.userCouponId });
      expect(history.entries.map((e) => [e.action, e.orderId])).toEqual([
        ["issued", null],
        ["used", winner.orderId],
      ]);
    }

    test("two parallel orders with the same coupon: one succeeds, the other is COUPON_ALREADY_USED and pays nothing", async () => {
      await race(2);
    });

    test("ten parallel orders with the same coupon: still exactly one", async () => {
      await race(10);
    });

    test("two-step: parallel orders.create with the same coupon reserve it once; stock is held once", async () => {
      const c = (await s.t.signUpCustomers(1, "coupon-create"))[0] as Customer;
      const product = await s.t.createProduct({ price: 40_000, stock: 20 });
      const coupon = await openCoupon(s, 10, "Create race");
      const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
      const { tally, winners } = await settle(
        Array.from({ length: 5 }, () => c.client.orders.create.mutate({ items: [{ productId: product.id, quantity: 2 }], userCouponId: issued.userCouponId })),
      );
      expect(tally).toEqual({ ok: 1, COUPON_ALREADY_USED: 4 });
      expect(winners[0]).toMatchObject({ status: "pending_payment", subtotalAmount: 80_000, discountAmount: 5_000, finalAmount: 75_000 });
      expect((await s.t.client().catalog.stock.query({ productId: product.id })).stock).toBe(18);
      const orders = await s.t.db.selectFrom("order_orders").select("id").where("user_id", "=", c.id).execute();
      expect(orders.map((o) => o.id)).toEqual([winners[0]?.orderId as number]);
      expect((await c.client.coupons.mine.query({ status: "used" })).map((m) => m.orderId)).toEqual([winners[0]?.orderId as number]);
    });
  });
}

describe("with Redis admission", () => redisAdmissionSuite("redis"));

describe.skipIf(!cluster.up)("with Redis admission on a Redis Cluster", () => redisAdmissionSuite("cluster"));

// ── Redis present, admission off: every request goes to PostgreSQL ───────

describe("without Redis admission (couponRedisAdmission: false)", () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp({ infra: "redis", config: { couponRedisAdmission: false } });
  });
  afterAll(() => s.t.close());

  test("300 customers race for 100 coupons: exactly 100 issued, and Redis is never touched", async () => {
    await flashSale(s);
    expect(await (s.t.redis?.keys("coupon:*") ?? Promise.resolve(["missing redis"]))).toEqual([]);
  });

  test("one customer fires 20 parallel issues: one coupon, 19 ALREADY_ISSUED", async () => {
    await doubleClick(s, 10);
  });

  test("one customer fires 20 parallel issues of the last unit: still ALREADY_ISSUED, not SOLD_OUT", async () => {
    await doubleClick(s, 1);
  });

  test("the database itself refuses a slot past the quantity, a forged quantity, a taken slot and a second coupon", async () => {
    const coupon = await openCoupon(s, 2, "Fence");
    const [a, b] = s.crowd as [Customer, Customer];
    const now = s.t.clock.now();
    const insert = async (userId: number, slot: number, couponQuantity = 2) => {
      try {
        await s.t.db
          .insertInto("coupon_issued")
          .values({ coupon_id: coupon.couponId, user_id: userId, slot, coupon_quantity: couponQuantity, status: "available", issued_at: now, expires_at: now })
          .execute();
        return "inserted";
      } catch (error) {
        return (error as { constraint?: string }).constraint ?? String(error);
      }
    };
    expect(await insert(a.id, 3)).toBe("coupon_issued_slot_within_quantity");
    expect(await insert(a.id, 0)).toBe("coupon_issued_slot_within_quantity");
    expect(await insert(a.id, 3, 5)).toBe("coupon_issued_coupon_quantity_fkey"); // the quantity is the coupon's, not the writer's
    expect(await insert(a.id, 1)).toBe("inserted");
    expect(await insert(b.id, 1)).toBe("coupon_issued_one_per_slot");
    expect(await insert(a.id, 2)).toBe("coupon_issued_one_per_customer");
    expect((await stored(s, coupon.couponId)).rows).toBe(1);
  });
});

// ── embedded mode: memory infra, no Redis at all ─────────────────────────

describe("with the memory infra", () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp({ infra: "memory" });
  });
  afterAll(() => s.t.close());

  test("300 customers race for 100 coupons: exactly 100 issued to 100 different customers", async () => {
    await flashSale(s);
  });

  test("one customer fires 20 parallel issues: one coupon, 19 ALREADY_ISSUED", async () => {
    await doubleClick(s, 10);
  });
});
