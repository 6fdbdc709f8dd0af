/**
 * The input policy (issue 8, finding 4), on the exact cases found: NUL answered 500 in a dozen
 * procedures, z.coerce.date() took null/true/-1/1.5/[1,2,3], `__proto__` was dropped silently and an
 * invalid UTF-8 body was stored as U+FFFD. Also: lists that were unpaged (finding 5) now page.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Customer, errorOf, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let admin: Customer;
let customer: Customer;

beforeAll(async () => {
  t = await startTestAgora();
  admin = await t.admin();
  customer = (await t.signUpCustomer("policy")) as Customer;
});

afterAll(async () => {
  await t?.close();
});

async function raw(path: string, wire: string | Uint8Array, options: { token?: string; query?: boolean } = {}) {
  const headers: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  const request = options.query
    ? new Request(`http://agora.test/trpc/${path}?input=${encodeURIComponent(wire as string)}`, { headers })
    : new Request(`http://agora.test/trpc/${path}`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: wire });
  const response = await t.agora.app.fetch(request);
  const body = (await response.json()) as {
    error?: { json?: { data?: { domainCode?: string; fieldErrors?: Record<string, string[]>; formErrors?: string[] } } };
  };
  return { status: response.status, data: body.error?.json?.data ?? null, body };
}

const coupon = (issueStartsAt: unknown) => ({
  name: "Policy coupon",
  discountType: "fixed",
  discountValue: 1_000,
  totalQuantity: 5,
  issueStartsAt,
  issueEndsAt: "2027-01-01T00:00:00Z",
  validDays: 7,
});

describe("NUL and control characters", () => {
  test("GET catalog.search with a NUL in the query is 400 with a field error (was 500, PostgreSQL 22021)", async () => {
    const answer = await raw("catalog.search", JSON.stringify({ json: { query: "a\u0000b" } }), { query: true });
    expect(answer.status).toBe(400);
    expect(answer.data?.domainCode).toBe("VALIDATION_FAILED");
    expect(answer.data?.fieldErrors?.query?.length).toBeGreaterThan(0);
  });

  test("every procedure that took a NUL to the database refuses it with a field error", async () => {
    const product = await t.createProduct();
    const cases: Array<[string, () => Promise<unknown>, string]> = [
      ["identity.signUp", () => t.client().identity.signUp.mutate({ email: "nul@agora.test", password: "correct-horse-battery", name: "N\u0000" }), "name"],
      ["identity.updateProfile", () => customer.client.identity.updateProfile.mutate({ name: "x\u0000y" }), "name"],
      ["catalog.list", () => t.client().catalog.list.query({ category: "a\u0000" }), "category"],
      ["catalog.admin.create", () => admin.client.catalog.admin.create.mutate({ name: "P\u0000", category: "c", price: 1 }), "name"],
      ["catalog.admin.update", () => admin.client.catalog.admin.update.mutate({ productId: product.id, description: "d\u0000" }), "description"],
      ["catalog.admin.inbound", () => admin.client.catalog.admin.inbound.mutate({ productId: product.id, quantity: 1, reason: "r\u0000" }), "reason"],
      ["catalog.admin.adjust", () => admin.client.catalog.admin.adjust.mutate({ productId: product.id, change: -1, reason: "\u0000" }), "reason"],
      ["identity.admin.listCustomers", () => admin.client.identity.admin.listCustomers.query({ query: "\u0000" }), "query"],
      ["coupons.admin.create", () => admin.client.coupons.admin.create.mutate({ ...(coupon(new Date()) as object), name: "C\u0000" } as never), "name"],
      [
        "orders.place",
        () => customer.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }], shippingAddress: "Seoul\u0000" }),
        "shippingAddress",
      ],
      [
        "shipping.admin.setTrackingNumber",
        () => admin.client.shipping.admin.setTrackingNumber.mutate({ orderId: 1, carrier: "\u0000", trackingNumber: "ABCD-1" }),
        "carrier",
      ],
    ];
    for (const [path, call, field] of cases) {
      const error = await errorOf(call());
      expect([path, error.data.domainCode, error.data.fieldErrors?.[field]?.length ?? error.data]).toEqual([path, "VALIDATION_FAILED", 1]);
    }
    expect(await t.db.selectFrom("identity_users").select("id").where("email", "=", "nul@agora.test").execute()).toEqual([]);
  });

  test("names refuse control characters; descriptions and addresses keep line breaks and tabs", async () => {
    expect((await errorOf(customer.client.identity.updateProfile.mutate({ name: "bell\u0007" }))).data.fieldErrors?.name).toBeDefined();
    expect((await errorOf(customer.client.identity.updateProfile.mutate({ name: "two\nlines" }))).data.fieldErrors?.name).toBeDefined();
    expect((await errorOf(customer.client.identity.updateProfile.mutate({ name: "\uD800" }))).data.fieldErrors?.name).toBeDefined();
    const created = await admin.client.catalog.admin.create.mutate({ name: "키보드 ⌨️", category: "c", price: 1, description: "line one\nline two\ttabbed" });
    expect(created.description).toBe("line one\nline two\ttabbed");
    expect(
      (await errorOf(admin.client.catalog.admin.create.mutate({ name: "P", category: "c", price: 1, description: "esc\u001b[31m" }))).data.fieldErrors
        ?.description,
    ).toBeDefined();
  });
});

describe("instants", () => {
  test("coupons.admin.create refuses null, true, -1, 1.5 and [1,2,3] for a date (z.coerce.date() stored 1970 or 2003)", async () => {
    const before = await t.db.selectFrom("coupon_coupons").select("id").execute();
    for (const value of [null, true, -1, 1.5, [1, 2, 3], "yesterday", "2026-13-45T00:00:00Z", "1700000000"]) {
      const answer = await raw("coupons.admin.create", JSON.stringify({ json: coupon(value) }), { token: admin.token });
      expect([value, answer.status, answer.data?.fieldErrors?.issueStartsAt?.length ?? 0]).toEqual([value, 400, 1]);
    }
    expect(await t.db.selectFrom("coupon_coupons").select("id").execute()).toEqual(before);
  });

  test("an ISO-8601 string (with Z or an offset, or a date) and a superjson Date are instants", async () => {
    const iso = await raw("coupons.admin.create", JSON.stringify({ json: coupon("2026-11-21T18:00:00+09:00") }), { token: admin.token });
    expect(iso.status).toBe(200);
    const day = await raw("coupons.admin.create", JSON.stringify({ json: coupon("2026-11-21") }), { token: admin.token });
    expect(day.status).toBe(200);
    const viaClient = await admin.client.coupons.admin.create.mutate(coupon(new Date("2026-11-21T09:00:00Z")) as never);
    expect((viaClient as { issueStartsAt: Date }).issueStartsAt.toISOString()).toBe("2026-11-21T09:00:00.000Z");
    expect((await errorOf(admin.client.orders.admin.list.query({ from: new Date(-8.64e15) }))).data.fieldErrors?.from).toBeDefined();
  });
});

describe("prototype keys and bodies", () => {
  test("__proto__, constructor and prototype are refused like any unknown key (superjson dropped __proto__ silently)", async () => {
    for (const key of ["__proto__", "constructor", "prototype"]) {
      const wire = `{"json":{"email":"proto-${key}@agora.test","password":"correct-horse-battery","name":"P","${key}":{"role":"admin"}}}`;
      const answer = await raw("identity.signUp", wire);
      expect([key, answer.status, answer.data?.domainCode, answer.data?.formErrors?.join()]).toEqual([
        key,
        400,
        "VALIDATION_FAILED",
        `Unrecognized key: "${key}"`,
      ]);
    }
    const inMeta = await raw(
      "coupons.admin.create",
      JSON.stringify({ json: coupon("2026-11-21T00:00:00Z"), meta: { values: { "issueStartsAt.prototype": ["Date"] } } }),
      {
        token: admin.token,
      },
    );
    expect([inMeta.status, inMeta.data?.domainCode]).toEqual([400, "VALIDATION_FAILED"]);
    const nested = await raw("orders.place", `{"json":{"items":[{"productId":1,"quantity":1,"__proto__":{"x":1}}]}}`, { token: customer.token });
    expect(nested.data?.fieldErrors?.items).toBeDefined();
    expect(await t.db.selectFrom("identity_users").select("id").where("email", "like", "proto-%").execute()).toEqual([]);
  });

  test("a body that is not valid UTF-8 is 400 and stores nothing (was stored as U+FFFD)", async () => {
    const encoder = new TextEncoder();
    const body = new Uint8Array([
      ...encoder.encode('{"json":{"email":"utf8@agora.test","password":"correct-horse-battery","name":"a'),
      0xff,
      0xfe,
      ...encoder.encode('"}}'),
    ]);
    const response = await t.agora.app.fetch(
      new Request("http://agora.test/trpc/identity.signUp", { method: "POST", headers: { "content-type": "application/json" }, body }),
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { message: "The request is not valid UTF-8", code: "BAD_REQUEST" } });
    expect(await t.db.selectFrom("identity_users").select("id").where("email", "=", "utf8@agora.test").execute()).toEqual([]);
  });

  test("a procedure that takes nothing refuses something, and a body that is not superjson's envelope", async () => {
    expect((await raw("cart.clear", '{"json":{"userId":1}}', { token: customer.token })).status).toBe(400);
    expect((await raw("cart.clear", "[1,2,3]", { token: customer.token })).status).toBe(400);
    expect((await raw("identity.logout", "42", { token: customer.token })).status).toBe(400);
    expect((await raw("cart.clear", "{}", { token: customer.token })).status).toBe(200);
  });
});

describe("every list is paged", () => {
  test("coupons.list, coupons.admin.list and coupons.mine: plain arrays of at most `limit`, continued `after` the last id", async () => {
    const created: number[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await admin.client.coupons.admin.create.mutate({
        ...(coupon(new Date(t.clock.now().getTime() - 60_000 + i)) as object),
        name: `Paged ${i}`,
        issueEndsAt: new Date(t.clock.now().getTime() + 86_400_000),
      } as never);
      created.push(c.couponId);
      await customer.client.coupons.issue.mutate({ couponId: c.couponId });
    }
    const all = (await t.client().coupons.list.query()).map((c) => c.couponId);
    const pages: number[][] = [];
    let after: number | undefined;
    for (;;) {
      const page = await t.client().coupons.list.query({ limit: 2, after });
      pages.push(page.map((c) => c.couponId));
      if (page.length < 2) break;
      after = page.at(-1)?.couponId;
    }
    expect(pages.flat()).toEqual(all);
    expect(pages.every((p) => p.length <= 2)).toBe(true);
    expect((await admin.client.coupons.admin.list.query({ includeEnded: true, limit: 3 })).length).toBe(3);

    const mine = (await customer.client.coupons.mine.query()).map((c) => c.userCouponId);
    const first = await customer.client.coupons.mine.query({ limit: 3 });
    const second = await customer.client.coupons.mine.query({ limit: 3, after: first.at(-1)?.userCouponId });
    expect([...first, ...second].map((c) => c.userCouponId)).toEqual(mine);
    expect((await customer.client.coupons.mine.query({ status: "available", limit: 2 })).length).toBe(2);
    expect((await errorOf(t.client().coupons.list.query({ limit: 101 }))).data.fieldErrors?.limit).toBeDefined();
  });
});
