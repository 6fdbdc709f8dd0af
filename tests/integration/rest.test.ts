/** The read-only REST routes of the seeds, over the real Hono app. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
beforeAll(async () => {
  t = await startTestAgora();
});
afterAll(() => t.close());

async function get(path: string) {
  const response = await t.agora.app.request(path);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("REST reads (seed 004 §1, §5)", () => {
  test("products: list, detail, stock, popular, coupons", async () => {
    const laptop = await t.createProduct({ name: "노트북", price: 1_200_000, stock: 2, category: "computers" });
    await t.createProduct({ name: "Mouse", price: 25_000, stock: 40, category: "accessories" });

    const list = await get("/api/products?category=computers&limit=5");
    expect(list.status).toBe(200);
    expect((list.body.items as Array<{ id: number; stock: number }>).map((p) => [p.id, p.stock])).toEqual([[laptop.id, 2]]);

    expect((await get(`/api/products/${laptop.id}`)).body).toMatchObject({ id: laptop.id, name: "노트북", price: 1_200_000 });
    expect((await get(`/api/products/${laptop.id}/stock`)).body).toMatchObject({ productId: laptop.id, stock: 2, inStock: true });
    expect((await get("/api/products/popular?days=3&limit=5")).body).toMatchObject({ period: { days: 3 }, products: [] });
    expect((await get("/api/coupons")).status).toBe(200);
  });

  test("errors in the seeds' shape: { error, message, ...details }", async () => {
    const missing = await get("/api/products/9999999");
    expect(missing).toEqual({ status: 404, body: { error: "PRODUCT_NOT_FOUND", message: "No such product", code: "P001", productId: 9_999_999 } });
    const bad = await get("/api/products/popular?days=90");
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: "VALIDATION_FAILED", fieldErrors: { days: expect.any(Array) } });
    expect((await get("/api/products/abc")).status).toBe(400);
  });
});

describe("REST for the seeds' paths (seed 004), from the same procedures", () => {
  async function call(method: "GET" | "POST", path: string, options: { token?: string; body?: unknown } = {}) {
    const response = await t.agora.app.request(path, {
      method,
      headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...(options.body ? { "content-type": "application/json" } : {}) },
      body: options.body ? JSON.stringify(options.body) : undefined,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> & { error?: string; code?: string } };
  }

  test("wallet, cart and orders act for the bearer token's user; a userId in the body or query is ignored", async () => {
    const [kim, lee] = await t.signUpCustomers(2, "rest");
    if (!kim || !lee) throw new Error("no customers");
    const keyboard = await t.createProduct({ name: "기계식 키보드", price: 30_000, stock: 3 });

    expect(await call("GET", "/api/users/balance")).toMatchObject({ status: 401, body: { error: "UNAUTHENTICATED" } });
    const charged = await call("POST", "/api/users/balance/charge", { token: kim.token, body: { userId: lee.id, amount: 50_000 } });
    expect(charged).toMatchObject({ status: 200, body: { currentBalance: 50_000 } });
    expect((await call("GET", `/api/users/balance?userId=${lee.id}`, { token: kim.token })).body).toMatchObject({ balance: 50_000 });
    expect((await call("GET", "/api/users/balance", { token: lee.token })).body).toMatchObject({ balance: 0 });

    expect((await call("POST", "/api/cart/items", { token: kim.token, body: { userId: lee.id, productId: keyboard.id, quantity: 2 } })).status).toBe(200);
    const cart = await call("GET", "/api/cart", { token: kim.token });
    expect(cart.status).toBe(200);
    expect(cart.body.items).toMatchObject([{ productId: keyboard.id, quantity: 2 }]);
    expect((await call("GET", "/api/cart", { token: lee.token })).body.items).toEqual([]);

    const tooMany = await call("POST", "/api/orders", { token: kim.token, body: { items: [{ productId: keyboard.id, quantity: 5 }] } });
    expect(tooMany).toMatchObject({ status: 400, body: { error: "INSUFFICIENT_STOCK", code: "P002" } });
    const poor = await call("POST", "/api/orders", { token: lee.token, body: { items: [{ productId: keyboard.id, quantity: 1 }] } });
    expect(poor).toMatchObject({ status: 400, body: { error: "INSUFFICIENT_BALANCE", code: "PAY001" } });
    const placed = await call("POST", "/api/orders", {
      token: kim.token,
      body: { userId: lee.id, items: [{ productId: keyboard.id, quantity: 1 }], shippingAddress: "서울특별시 중구 세종대로 110" },
    });
    expect(placed).toMatchObject({ status: 200, body: { status: "paid", finalAmount: 30_000, remainingBalance: 20_000 } });

    const bad = await call("POST", "/api/orders", { token: kim.token, body: { items: [{ productId: keyboard.id, quantity: "one" }] } });
    expect(bad).toMatchObject({ status: 400, body: { error: "VALIDATION_FAILED" } });
  });

  test("coupons: issue first come first served, mine by status, validate", async () => {
    const admin = await t.admin();
    const [kim, lee] = await t.signUpCustomers(2, "rest-coupon");
    if (!kim || !lee) throw new Error("no customers");
    const now = t.clock.now().getTime();
    const coupon = await admin.client.coupons.admin.create.mutate({
      name: "REST 5천원",
      discountType: "fixed",
      discountValue: 5_000,
      minOrderAmount: 20_000,
      totalQuantity: 1,
      issueStartsAt: new Date(now - 60_000),
      issueEndsAt: new Date(now + 3_600_000),
      validDays: 7,
    });
    const issued = await call("POST", `/api/coupons/${coupon.couponId}/issue`, { token: kim.token, body: { userId: lee.id } });
    expect(issued.status).toBe(200);
    expect(await call("POST", `/api/coupons/${coupon.couponId}/issue`, { token: kim.token })).toMatchObject({
      status: 409,
      body: { error: "ALREADY_ISSUED", code: "C004" },
    });
    expect(await call("POST", `/api/coupons/${coupon.couponId}/issue`, { token: lee.token })).toMatchObject({
      status: 409,
      body: { error: "COUPON_SOLD_OUT", code: "C001" },
    });

    const mine = await call("GET", "/api/users/coupons?status=available", { token: kim.token });
    expect(mine.status).toBe(200);
    const userCouponId = (mine.body as unknown as Array<{ userCouponId: number }>)[0]?.userCouponId;
    expect(userCouponId).toBeGreaterThan(0);
    expect(await call("GET", "/api/users/coupons?status=available", { token: lee.token })).toMatchObject({ status: 200, body: [] });
    const valid = await call("POST", "/api/coupons/validate", { token: kim.token, body: { userCouponId, orderAmount: 30_000 } });
    expect(valid).toMatchObject({ status: 200, body: { discountAmount: 5_000, finalAmount: 25_000 } });
    expect((await call("POST", "/api/coupons/validate", { token: lee.token, body: { userCouponId, orderAmount: 30_000 } })).status).toBeGreaterThanOrEqual(400);
  });

  test("restock notification for a sold-out product (the seeds' email field is ignored: mail goes to the account)", async () => {
    const [kim] = await t.signUpCustomers(1, "rest-restock");
    if (!kim) throw new Error("no customer");
    const soldOut = await t.createProduct({ name: "품절 상품", stock: 0 });
    const signedUp = await call("POST", `/api/products/${soldOut.id}/restock-notification`, { token: kim.token, body: { email: "other@example.com" } });
    expect(signedUp.status).toBe(200);
    expect(await call("POST", `/api/products/${soldOut.id}/restock-notification`, {})).toMatchObject({ status: 401 });
  });

  test("/openapi.json describes every REST path, and /docs serves the reference page", async () => {
    const { restRoutes } = await import("../../apps/server/rest.ts");
    const doc = (await (await t.agora.app.request("/openapi.json")).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe("3.1.0");
    for (const route of restRoutes) expect(doc.paths[route.path.replace(/:(\w+)/g, "{$1}")]?.[route.method]).toBeDefined();
    for (const path of [
      "/api/cart/items",
      "/api/cart",
      "/api/users/coupons",
      "/api/coupons/validate",
      "/api/coupons/{couponId}/issue",
      "/api/users/balance",
      "/api/users/balance/charge",
      "/api/orders",
      "/api/products/{productId}/restock-notification",
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    const docs = await t.agora.app.request("/docs");
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain("/openapi.json");
  });
});
