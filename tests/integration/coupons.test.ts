/**
 * Coupons through the API: admin creation and its validation, the public list, issuing and every
 * refusal (with nothing written), a customer's coupons by status, validation of a discount, and
 * the history of a coupon used by an order and restored by its cancellation.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { AgoraClient } from "../../apps/client/index.ts";
import { type Customer, codeOf, errorOf, startTestAgora, type TestAgora } from "../support/agora.ts";

setDefaultTimeout(20_000);

const DAY = 86_400_000;
const HOUR = 3_600_000;

let t: TestAgora;
let admin: Customer;
beforeAll(async () => {
  // Sessions outlive the days this file moves the clock by.
  t = await startTestAgora({ config: { sessionTtlHours: 24 * 365 } });
  admin = await t.admin();
});
afterAll(() => t.close());

type CreateInput = Parameters<AgoraClient["coupons"]["admin"]["create"]["mutate"]>[0];

/** An open coupon (issue window from an hour ago to a day ahead) unless told otherwise. */
function createCoupon(fields: Partial<CreateInput> = {}) {
  const now = t.clock.now().getTime();
  return admin.client.coupons.admin.create.mutate({
    name: "5,000 off",
    discountType: "fixed",
    discountValue: 5_000,
    totalQuantity: 10,
    issueStartsAt: new Date(now - HOUR),
    issueEndsAt: new Date(now + DAY),
    validDays: 7,
    ...fields,
  });
}

async function countRows(table: "coupon_coupons" | "coupon_issued" | "coupon_history"): Promise<number> {
  const row = await t.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Everything issuing writes, for a coupon: equal snapshots mean a refused call wrote nothing. */
async function issueState(couponId: number) {
  const coupon = await t.db.selectFrom("coupon_coupons").select(["issued_quantity", "updated_at"]).where("id", "=", couponId).executeTakeFirst();
  return { issuedQuantity: coupon?.issued_quantity ?? null, issued: await countRows("coupon_issued"), history: await countRows("coupon_history") };
}

async function issuedRow(userCouponId: number) {
  return t.db.selectFrom("coupon_issued").select(["status", "used_at", "order_id"]).where("id", "=", userCouponId).executeTakeFirstOrThrow();
}

/** A refused input: tRPC code BAD_REQUEST (HTTP 400) with the VALIDATION_FAILED domain code. */
async function badRequest(call: Promise<unknown>) {
  const error = await errorOf(call);
  expect(error.data).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400, domainCode: "VALIDATION_FAILED" });
  return error;
}

async function balanceOf(c: Customer) {
  return (await c.client.wallet.balance.query()).balance;
}

describe("admin: creating coupons", () => {
  test("creates a coupon and answers its view", async () => {
    const now = t.clock.now().getTime();
    const created = await createCoupon({
      name: "  Winter 10%  ",
      discountType: "percent",
      discountValue: 10,
      maxDiscountAmount: 3_000,
      minOrderAmount: 20_000,
      totalQuantity: 500,
    });
    expect(created).toEqual({
      couponId: expect.any(Number),
      name: "Winter 10%",
      discountType: "percent",
      discountValue: 10,
      maxDiscountAmount: 3_000,
      minOrderAmount: 20_000,
      totalQuantity: 500,
      issuedQuantity: 0,
      remainingQuantity: 500,
      issueStartsAt: new Date(now - HOUR),
      issueEndsAt: new Date(now + DAY),
      validDays: 7,
      state: "open",
    });
    expect(await admin.client.coupons.admin.get.query({ couponId: created.couponId })).toEqual({ ...created, usedQuantity: 0 });
  });

  test("a fixed coupon stores no cap; minOrderAmount defaults to 0", async () => {
    const created = await createCoupon({ maxDiscountAmount: 1_000 });
    expect(created).toMatchObject({ discountType: "fixed", discountValue: 5_000, maxDiscountAmount: null, minOrderAmount: 0 });
    const row = await t.db
      .selectFrom("coupon_coupons")
      .select(["max_discount_amount", "min_order_amount"])
      .where("id", "=", created.couponId)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ max_discount_amount: null, min_order_amount: 0 });
  });

  test("a percent discount over 100 is BAD_REQUEST and writes nothing", async () => {
    const before = await countRows("coupon_coupons");
    const error = await errorOf(createCoupon({ discountType: "percent", discountValue: 101 }));
    expect(error.data).toMatchObject({ code: "BAD_REQUEST", httpStatus: 400, domainCode: "VALIDATION_FAILED" });
    expect(Object.keys(error.data.fieldErrors ?? {})).toEqual(["discountValue"]);
    expect(await countRows("coupon_coupons")).toBe(before);
    // 100% is the most a percent coupon may take.
    expect((await createCoupon({ discountType: "percent", discountValue: 100 })).discountValue).toBe(100);
  });

  test("an issue window that ends before (or when) it starts is BAD_REQUEST and writes nothing", async () => {
    const before = await countRows("coupon_coupons");
    const start = new Date(t.clock.now().getTime() + DAY);
    for (const end of [new Date(start.getTime() - 1), start]) {
      const error = await errorOf(createCoupon({ issueStartsAt: start, issueEndsAt: end }));
      expect(error.data).toMatchObject({ code: "BAD_REQUEST", domainCode: "VALIDATION_FAILED" });
      expect(Object.keys(error.data.fieldErrors ?? {})).toEqual(["issueEndsAt"]);
    }
    expect(await countRows("coupon_coupons")).toBe(before);
  });

  test("other bad input (zero quantity, zero validDays, unknown field) is BAD_REQUEST", async () => {
    const before = await countRows("coupon_coupons");
    await badRequest(createCoupon({ totalQuantity: 0 }));
    await badRequest(createCoupon({ validDays: 0 }));
    await badRequest(createCoupon({ discountValue: 0 }));
    await badRequest(createCoupon({ issuedQuantity: 5 } as never));
    expect(await countRows("coupon_coupons")).toBe(before);
  });

  test("customers and visitors cannot create coupons", async () => {
    const c = await t.signUpCustomer("sneaky");
    const before = await countRows("coupon_coupons");
    const input = {
      name: "free",
      discountType: "fixed" as const,
      discountValue: 1_000,
      totalQuantity: 1,
      issueStartsAt: new Date(0),
      issueEndsAt: new Date(t.clock.now().getTime() + DAY),
      validDays: 1,
    };
    expect(await codeOf(c.client.coupons.admin.create.mutate(input))).toBe("FORBIDDEN");
    expect(await codeOf(t.client().coupons.admin.create.mutate(input))).toBe("UNAUTHENTICATED");
    expect(await codeOf(c.client.coupons.admin.resetAdmission.mutate({ couponId: 1 }))).toBe("FORBIDDEN");
    expect(await countRows("coupon_coupons")).toBe(before);
  });
});

describe("public list", () => {
  test("shows remainingQuantity and state: upcoming, open, sold_out; ended ones only to the admin", async () => {
    const now = t.clock.now().getTime();
    const upcoming = await createCoupon({ name: "Tomorrow", issueStartsAt: new Date(now + DAY), issueEndsAt: new Date(now + 2 * DAY), totalQuantity: 3 });
    const open = await createCoupon({ name: "Now", totalQuantity: 3 });
    const soldOut = await createCoupon({ name: "Single", totalQuantity: 1 });
    const ending = await createCoupon({ name: "Ending", issueStartsAt: new Date(now - DAY), issueEndsAt: new Date(now + HOUR) });
    const [a, b] = await t.signUpCustomers(2, "lister");
    await a?.client.coupons.issue.mutate({ couponId: open.couponId });
    await b?.client.coupons.issue.mutate({ couponId: open.couponId });
    await a?.client.coupons.issue.mutate({ couponId: soldOut.couponId });

    const view = async () => {
      const list = await t.client().coupons.list.query();
      const ids = [upcoming, open, soldOut, ending].map((c) => c.couponId);
      return list.filter((c) => ids.includes(c.couponId)).map((c) => [c.name, c.issuedQuantity, c.remainingQuantity, c.state]);
    };
    // Sorted by issue start, then id.
    expect(await view()).toEqual([
      ["Ending", 0, 10, "open"],
      ["Now", 2, 1, "open"],
      ["Single", 1, 0, "sold_out"],
      ["Tomorrow", 0, 3, "upcoming"],
    ]);

    t.clock.advance(2 * HOUR); // "Ending" closes: gone from the public list
    expect(await view()).toEqual([
      ["Now", 2, 1, "open"],
      ["Single", 1, 0, "sold_out"],
      ["Tomorrow", 0, 3, "upcoming"],
    ]);
    const adminAll = await admin.client.coupons.admin.list.query({ includeEnded: true });
    expect(adminAll.find((c) => c.couponId === ending.couponId)?.state).toBe("ended");
    expect((await admin.client.coupons.admin.list.query({})).some((c) => c.couponId === ending.couponId)).toBe(false);
  });
});

describe("issuing", () => {
  test("success answers { userCouponId, couponId, couponName, issuedAt, expiresAt } and writes the coupon and its history", async () => {
    const coupon = await createCoupon({ name: "Welcome", validDays: 14 });
    const c = await t.signUpCustomer("issuer");
    const now = t.clock.now();
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    expect(issued).toEqual({
      userCouponId: expect.any(Number),
      couponId: coupon.couponId,
      couponName: "Welcome",
      issuedAt: now,
      expiresAt: new Date(now.getTime() + 14 * DAY),
    });

    const row = await t.db.selectFrom("coupon_issued").selectAll().where("id", "=", issued.userCouponId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ coupon_id: coupon.couponId, user_id: c.id, status: "available", used_at: null, order_id: null });
    expect((await issueState(coupon.couponId)).issuedQuantity).toBe(1);
    expect((await c.client.coupons.history.query({ userCouponId: issued.userCouponId })).entries).toEqual([{ action: "issued", orderId: null, at: now }]);
  });

  test("COUPON_SOLD_OUT (C001) once the quantity is gone; nothing written", async () => {
    const coupon = await createCoupon({ totalQuantity: 2 });
    const [a, b, late] = await t.signUpCustomers(3, "soldout");
    await a?.client.coupons.issue.mutate({ couponId: coupon.couponId });
    await b?.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const before = await issueState(coupon.couponId);
    const error = await errorOf((late as Customer).client.coupons.issue.mutate({ couponId: coupon.couponId }));
    expect(error.data).toMatchObject({
      code: "CONFLICT",
      httpStatus: 409,
      domainCode: "COUPON_SOLD_OUT",
      ref: "C001",
      details: { couponId: coupon.couponId, remainingQuantity: 0 },
    });
    expect(await issueState(coupon.couponId)).toEqual(before);
    expect(before.issuedQuantity).toBe(2);
    expect(await (late as Customer).client.coupons.mine.query({})).toEqual([]);
  });

  test("ALREADY_ISSUED (C004) for a second request by the same customer; nothing written", async () => {
    const coupon = await createCoupon({ totalQuantity: 5 });
    const c = await t.signUpCustomer("twice");
    await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const before = await issueState(coupon.couponId);
    const error = await errorOf(c.client.coupons.issue.mutate({ couponId: coupon.couponId }));
    expect(error.data).toMatchObject({ code: "CONFLICT", domainCode: "ALREADY_ISSUED", ref: "C004", details: { couponId: coupon.couponId } });
    expect(await issueState(coupon.couponId)).toEqual(before);
    expect(before.issuedQuantity).toBe(1);
    expect((await t.client().coupons.list.query()).find((x) => x.couponId === coupon.couponId)?.remainingQuantity).toBe(4);
  });

  test("a holder asking again for a sold-out coupon hears ALREADY_ISSUED", async () => {
    const coupon = await createCoupon({ totalQuantity: 1 });
    const c = await t.signUpCustomer("lastone");
    await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    expect(await codeOf(c.client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("ALREADY_ISSUED");
    expect((await issueState(coupon.couponId)).issuedQuantity).toBe(1);
  });

  test("COUPON_NOT_OPEN (C002) before the window, COUPON_CLOSED (C003) after it; refusals take no unit", async () => {
    const start = new Date(t.clock.now().getTime() + 2 * HOUR);
    const end = new Date(start.getTime() + 3 * HOUR);
    const coupon = await createCoupon({ totalQuantity: 2, issueStartsAt: start, issueEndsAt: end });
    const [a, b, c] = await t.signUpCustomers(3, "window");
    const before = await issueState(coupon.couponId);
    for (const customer of [a, b, c] as Customer[]) {
      const error = await errorOf(customer.client.coupons.issue.mutate({ couponId: coupon.couponId }));
      expect(error.data).toMatchObject({
        code: "BAD_REQUEST",
        domainCode: "COUPON_NOT_OPEN",
        ref: "C002",
        details: { couponId: coupon.couponId, issueStartsAt: start },
      });
    }
    expect(await issueState(coupon.couponId)).toEqual(before);

    t.clock.set(start); // the window opens: the refused attempts did not use up the quantity
    await (a as Customer).client.coupons.issue.mutate({ couponId: coupon.couponId });
    await (b as Customer).client.coupons.issue.mutate({ couponId: coupon.couponId });
    expect(await codeOf((c as Customer).client.coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("COUPON_SOLD_OUT");

    const other = await createCoupon({ totalQuantity: 5, issueStartsAt: new Date(start.getTime() - HOUR), issueEndsAt: end });
    t.clock.set(end); // the window ends exactly now
    const closedBefore = await issueState(other.couponId);
    const error = await errorOf((c as Customer).client.coupons.issue.mutate({ couponId: other.couponId }));
    expect(error.data).toMatchObject({
      code: "BAD_REQUEST",
      domainCode: "COUPON_CLOSED",
      ref: "C003",
      details: { couponId: other.couponId, issueEndsAt: end },
    });
    expect(await issueState(other.couponId)).toEqual(closedBefore);
    expect(closedBefore.issuedQuantity).toBe(0);
  });

  test("COUPON_NOT_FOUND for an unknown coupon; a visitor must log in; bad ids are BAD_REQUEST", async () => {
    const c = await t.signUpCustomer("lost");
    const before = { issued: await countRows("coupon_issued"), history: await countRows("coupon_history") };
    const error = await errorOf(c.client.coupons.issue.mutate({ couponId: 987_654 }));
    expect(error.data).toMatchObject({ code: "NOT_FOUND", httpStatus: 404, domainCode: "COUPON_NOT_FOUND", details: { couponId: 987_654 } });
    const coupon = await createCoupon();
    expect(await codeOf(t.client().coupons.issue.mutate({ couponId: coupon.couponId }))).toBe("UNAUTHENTICATED");
    await badRequest(c.client.coupons.issue.mutate({ couponId: -1 }));
    await badRequest(c.client.coupons.issue.mutate({ couponId: 1.5 }));
    expect({ issued: await countRows("coupon_issued"), history: await countRows("coupon_history") }).toEqual(before);
  });
});

describe("my coupons", () => {
  test("filters by status: available, used (after an order with it), expired (after validDays)", async () => {
    const c = await t.signUpCustomer("collector");
    await t.fund(c, 100_000);
    const product = await t.createProduct({ price: 30_000, stock: 10 });
    const short = await createCoupon({ name: "Short-lived", validDays: 1 });
    const long = await createCoupon({ name: "Long-lived", validDays: 30 });
    const forOrder = await createCoupon({ name: "For an order", validDays: 30, discountValue: 4_000 });
    const sIssued = await c.client.coupons.issue.mutate({ couponId: short.couponId });
    const lIssued = await c.client.coupons.issue.mutate({ couponId: long.couponId });
    const oIssued = await c.client.coupons.issue.mutate({ couponId: forOrder.couponId });

    expect((await c.client.coupons.mine.query({})).map((m) => [m.couponName, m.status])).toEqual([
      ["For an order", "available"],
      ["Long-lived", "available"],
      ["Short-lived", "available"],
    ]);

    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: oIssued.userCouponId });
    expect(placed).toMatchObject({ subtotalAmount: 30_000, discountAmount: 4_000, finalAmount: 26_000 });
    const used = await c.client.coupons.mine.query({ status: "used" });
    expect(used).toEqual([
      {
        userCouponId: oIssued.userCouponId,
        couponId: forOrder.couponId,
        couponName: "For an order",
        issuedAt: oIssued.issuedAt,
        expiresAt: oIssued.expiresAt,
        discountType: "fixed",
        discountValue: 4_000,
        maxDiscountAmount: null,
        minOrderAmount: 0,
        status: "used",
        usedAt: t.clock.now(),
        orderId: placed.orderId,
      },
    ]);

    t.clock.advance(DAY); // the short-lived coupon expires exactly now
    expect((await c.client.coupons.mine.query({ status: "expired" })).map((m) => m.userCouponId)).toEqual([sIssued.userCouponId]);
    expect((await c.client.coupons.mine.query({ status: "available" })).map((m) => m.userCouponId)).toEqual([lIssued.userCouponId]);
    expect((await c.client.coupons.mine.query({ status: "used" })).map((m) => m.userCouponId)).toEqual([oIssued.userCouponId]);
    expect(await c.client.coupons.mine.query({})).toHaveLength(3);
    expect(await c.client.coupons.mine.query()).toHaveLength(3);
    await badRequest(c.client.coupons.mine.query({ status: "lost" as never }));
  });

  test("shows only the caller's coupons", async () => {
    const [a, b] = (await t.signUpCustomers(2, "private")) as [Customer, Customer];
    const coupon = await createCoupon();
    const issued = await a.client.coupons.issue.mutate({ couponId: coupon.couponId });
    expect((await a.client.coupons.mine.query({})).map((m) => m.userCouponId)).toEqual([issued.userCouponId]);
    expect(await b.client.coupons.mine.query({})).toEqual([]);
    await badRequest(b.client.coupons.mine.query({ userId: a.id } as never));
  });
});

describe("admin: a coupon's issue history", () => {
  test("lists who got it in slot order, used or not, paged on the server; COUPON_NOT_FOUND for an unknown coupon", async () => {
    const product = await t.createProduct({ price: 20_000, stock: 10 });
    const coupon = await createCoupon({ name: "History", totalQuantity: 5 });
    const customers = [];
    for (const name of ["first", "second", "third"]) {
      const c = await t.signUpCustomer(`history-${name}`);
      customers.push({ c, issued: await c.client.coupons.issue.mutate({ couponId: coupon.couponId }) });
    }
    const [first, second, third] = customers as [(typeof customers)[0], (typeof customers)[0], (typeof customers)[0]];
    await t.fund(second.c, 50_000);
    const placed = await second.c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: second.issued.userCouponId });

    const all = await admin.client.coupons.admin.issued.query({ couponId: coupon.couponId });
    expect(all.map((e) => [e.slot, e.userCouponId, e.status])).toEqual([
      [1, first.issued.userCouponId, "available"],
      [2, second.issued.userCouponId, "used"],
      [3, third.issued.userCouponId, "available"],
    ]);
    expect(all[1]).toMatchObject({ userId: second.c.id, orderId: placed.orderId, usedAt: t.clock.now(), issuedAt: second.issued.issuedAt });
    expect(all[0]).toMatchObject({ userId: first.c.id, orderId: null, usedAt: null, expiresAt: first.issued.expiresAt });

    const page1 = await admin.client.coupons.admin.issued.query({ couponId: coupon.couponId, limit: 2 });
    expect(page1.map((e) => e.slot)).toEqual([1, 2]);
    const page2 = await admin.client.coupons.admin.issued.query({ couponId: coupon.couponId, limit: 2, after: 2 });
    expect(page2.map((e) => e.slot)).toEqual([3]);
    expect((await admin.client.coupons.admin.issued.query({ couponId: coupon.couponId, used: true })).map((e) => e.slot)).toEqual([2]);
    expect((await admin.client.coupons.admin.issued.query({ couponId: coupon.couponId, used: false })).map((e) => e.slot)).toEqual([1, 3]);

    const unclaimed = await createCoupon({ name: "Nobody yet" });
    expect(await admin.client.coupons.admin.issued.query({ couponId: unclaimed.couponId })).toEqual([]);
    expect(await codeOf(admin.client.coupons.admin.issued.query({ couponId: 999_999 }))).toBe("COUPON_NOT_FOUND");
    expect(await codeOf(first.c.client.coupons.admin.issued.query({ couponId: coupon.couponId }))).toBe("FORBIDDEN");
    await badRequest(admin.client.coupons.admin.issued.query({ couponId: coupon.couponId, limit: 101 }));
  });
});

describe("validating a coupon", () => {
  test("fixed: the amount off; percent: floor(amount × pct / 100) held under the cap", async () => {
    const c = await t.signUpCustomer("validator");
    const fixedCoupon = await createCoupon({ name: "5,000 off", discountValue: 5_000, minOrderAmount: 10_000 });
    const percentCoupon = await createCoupon({ name: "15% up to 3,000", discountType: "percent", discountValue: 15, maxDiscountAmount: 3_000 });
    const f = await c.client.coupons.issue.mutate({ couponId: fixedCoupon.couponId });
    const p = await c.client.coupons.issue.mutate({ couponId: percentCoupon.couponId });

    expect(await c.client.coupons.validate.query({ userCouponId: f.userCouponId, orderAmount: 50_000 })).toEqual({
      userCouponId: f.userCouponId,
      couponName: "5,000 off",
      orderAmount: 50_000,
      discountAmount: 5_000,
      finalAmount: 45_000,
    });
    expect(await c.client.coupons.validate.query({ userCouponId: f.userCouponId, orderAmount: 10_000 })).toMatchObject({
      discountAmount: 5_000,
      finalAmount: 5_000,
    });
    expect(await c.client.coupons.validate.query({ userCouponId: p.userCouponId, orderAmount: 12_345 })).toMatchObject({
      discountAmount: 1_851,
      finalAmount: 10_494,
    });
    expect(await c.client.coupons.validate.query({ userCouponId: p.userCouponId, orderAmount: 20_000 })).toMatchObject({
      discountAmount: 3_000,
      finalAmount: 17_000,
    });
    expect(await c.client.coupons.validate.query({ userCouponId: p.userCouponId, orderAmount: 1_000_000 })).toMatchObject({
      discountAmount: 3_000,
      finalAmount: 997_000,
    });

    // Validating uses nothing up.
    expect(await issuedRow(f.userCouponId)).toEqual({ status: "available", used_at: null, order_id: null });
    expect(await issuedRow(p.userCouponId)).toEqual({ status: "available", used_at: null, order_id: null });
  });

  test("COUPON_MIN_ORDER_NOT_MET below the minimum", async () => {
    const c = await t.signUpCustomer("minimum");
    const coupon = await createCoupon({ minOrderAmount: 30_000 });
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const error = await errorOf(c.client.coupons.validate.query({ userCouponId: issued.userCouponId, orderAmount: 29_999 }));
    expect(error.data).toMatchObject({
      code: "BAD_REQUEST",
      domainCode: "COUPON_MIN_ORDER_NOT_MET",
      details: { userCouponId: issued.userCouponId, minOrderAmount: 30_000, orderAmount: 29_999 },
    });
    expect(await c.client.coupons.validate.query({ userCouponId: issued.userCouponId, orderAmount: 30_000 })).toMatchObject({ discountAmount: 5_000 });
  });

  test("COUPON_EXPIRED once validDays have passed", async () => {
    const c = await t.signUpCustomer("late");
    const coupon = await createCoupon({ validDays: 2 });
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    t.clock.advance(2 * DAY - 1);
    expect(await c.client.coupons.validate.query({ userCouponId: issued.userCouponId, orderAmount: 10_000 })).toMatchObject({ discountAmount: 5_000 });
    t.clock.advance(1);
    const error = await errorOf(c.client.coupons.validate.query({ userCouponId: issued.userCouponId, orderAmount: 10_000 }));
    expect(error.data).toMatchObject({
      code: "BAD_REQUEST",
      domainCode: "COUPON_EXPIRED",
      details: { userCouponId: issued.userCouponId, expiresAt: issued.expiresAt },
    });

    // An order with it is refused too, and pays nothing.
    await t.fund(c, 20_000);
    const product = await t.createProduct({ price: 10_000, stock: 3 });
    expect(await codeOf(c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: issued.userCouponId }))).toBe(
      "COUPON_EXPIRED",
    );
    expect(await balanceOf(c)).toBe(20_000);
    expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(3);
    expect(await issuedRow(issued.userCouponId)).toEqual({ status: "available", used_at: null, order_id: null });
  });

  test("COUPON_ALREADY_USED after an order used it", async () => {
    const c = await t.signUpCustomer("usedup");
    await t.fund(c, 50_000);
    const product = await t.createProduct({ price: 20_000, stock: 5 });
    const coupon = await createCoupon();
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: issued.userCouponId });
    const error = await errorOf(c.client.coupons.validate.query({ userCouponId: issued.userCouponId, orderAmount: 20_000 }));
    expect(error.data).toMatchObject({
      code: "CONFLICT",
      domainCode: "COUPON_ALREADY_USED",
      details: { userCouponId: issued.userCouponId, orderId: placed.orderId },
    });
  });

  test("another customer's coupon (or none at all) is COUPON_NOT_OWNED, and stays untouched", async () => {
    const [owner, thief] = (await t.signUpCustomers(2, "owner")) as [Customer, Customer];
    const coupon = await createCoupon();
    const issued = await owner.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const error = await errorOf(thief.client.coupons.validate.query({ userCouponId: issued.userCouponId, orderAmount: 50_000 }));
    expect(error.data).toMatchObject({ code: "NOT_FOUND", domainCode: "COUPON_NOT_OWNED", details: { userCouponId: issued.userCouponId } });
    expect(await codeOf(thief.client.coupons.validate.query({ userCouponId: 987_654, orderAmount: 50_000 }))).toBe("COUPON_NOT_OWNED");
    expect(await codeOf(thief.client.coupons.history.query({ userCouponId: issued.userCouponId }))).toBe("COUPON_NOT_OWNED");

    // Nor can they order with it.
    await t.fund(thief, 50_000);
    const product = await t.createProduct({ price: 20_000, stock: 5 });
    expect(await codeOf(thief.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: issued.userCouponId }))).toBe(
      "COUPON_NOT_OWNED",
    );
    expect(await balanceOf(thief)).toBe(50_000);
    expect((await t.client().catalog.stock.query({ productId: product.id })).stock).toBe(5);
    expect(await issuedRow(issued.userCouponId)).toEqual({ status: "available", used_at: null, order_id: null });
  });

  test("bad input is BAD_REQUEST", async () => {
    const c = await t.signUpCustomer("badinput");
    await badRequest(c.client.coupons.validate.query({ userCouponId: 1, orderAmount: -1 }));
    await badRequest(c.client.coupons.validate.query({ userCouponId: 1, orderAmount: 10.5 }));
    await badRequest(c.client.coupons.validate.query({ userCouponId: 0, orderAmount: 100 }));
  });
});

describe("history: issued → used → restored", () => {
  test("cancelling the order restores the coupon, which can then be used again", async () => {
    const c = await t.signUpCustomer("historian");
    await t.fund(c, 100_000);
    const product = await t.createProduct({ price: 25_000, stock: 4 });
    const coupon = await createCoupon({ name: "10% up to 2,000", discountType: "percent", discountValue: 10, maxDiscountAmount: 2_000, validDays: 10 });
    const issuedAt = t.clock.now();
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });

    t.clock.advance(HOUR);
    const usedAt = t.clock.now();
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: issued.userCouponId });
    expect(placed).toMatchObject({ subtotalAmount: 25_000, discountAmount: 2_000, finalAmount: 23_000, remainingBalance: 77_000 });
    expect(await issuedRow(issued.userCouponId)).toEqual({ status: "used", used_at: usedAt, order_id: placed.orderId });
    expect((await admin.client.coupons.admin.get.query({ couponId: coupon.couponId })).usedQuantity).toBe(1);

    t.clock.advance(HOUR);
    const restoredAt = t.clock.now();
    const cancelled = await c.client.orders.cancel.mutate({ orderId: placed.orderId });
    expect(cancelled).toEqual({
      orderId: placed.orderId,
      status: "cancelled",
      refundedAmount: 23_000,
      refunded: { wallet: 23_000, card: 0 },
      couponRestored: true,
      cancelledAt: restoredAt,
    });
    expect(await issuedRow(issued.userCouponId)).toEqual({ status: "available", used_at: null, order_id: null });
    expect(await balanceOf(c)).toBe(100_000);
    expect((await c.client.coupons.mine.query({ status: "available" })).map((m) => m.userCouponId)).toEqual([issued.userCouponId]);
    expect((await admin.client.coupons.admin.get.query({ couponId: coupon.couponId })).usedQuantity).toBe(0);

    const history = await c.client.coupons.history.query({ userCouponId: issued.userCouponId });
    expect(history).toEqual({
      userCouponId: issued.userCouponId,
      couponId: coupon.couponId,
      entries: [
        { action: "issued", orderId: null, at: issuedAt },
        { action: "used", orderId: placed.orderId, at: usedAt },
        { action: "restored", orderId: placed.orderId, at: restoredAt },
      ],
    });
    expect(await admin.client.coupons.admin.history.query({ userCouponId: issued.userCouponId })).toEqual(history);

    // Restored means usable: a second order takes it again.
    const again = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 2 }], userCouponId: issued.userCouponId });
    expect(again).toMatchObject({ subtotalAmount: 50_000, discountAmount: 2_000, finalAmount: 48_000 });
    expect((await c.client.coupons.history.query({ userCouponId: issued.userCouponId })).entries.map((e) => [e.action, e.orderId])).toEqual([
      ["issued", null],
      ["used", placed.orderId],
      ["restored", placed.orderId],
      ["used", again.orderId],
    ]);
  });

  test("a coupon that expired before the cancellation is not restored", async () => {
    const c = await t.signUpCustomer("toolate");
    await t.fund(c, 50_000);
    const product = await t.createProduct({ price: 10_000, stock: 2 });
    const coupon = await createCoupon({ validDays: 1, discountValue: 1_000 });
    const issued = await c.client.coupons.issue.mutate({ couponId: coupon.couponId });
    const placed = await c.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], userCouponId: issued.userCouponId });
    t.clock.advance(DAY + HOUR);
    const cancelled = await c.client.orders.cancel.mutate({ orderId: placed.orderId });
    expect(cancelled).toMatchObject({ refundedAmount: 9_000, couponRestored: false });
    expect(await balanceOf(c)).toBe(50_000);
    expect(await issuedRow(issued.userCouponId)).toMatchObject({ status: "used", order_id: placed.orderId });
    expect((await c.client.coupons.history.query({ userCouponId: issued.userCouponId })).entries.map((e) => e.action)).toEqual(["issued", "used"]);
  });
});
