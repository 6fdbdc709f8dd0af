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
