/**
 * Smoke test of the benchmark's invariant checker (scripts/bench/invariants.ts) on tiny numbers:
 * a coupon of quantity 5 asked for by 20 customers, an order rush of 10 on stock 5, all through
 * the typed clients. The checker must pass on the data the application wrote, and fail, naming
 * the right check, on each corruption made directly in the database. No timing assertions.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { type CheckOptions, checkInvariants, failedChecks } from "../../scripts/bench/invariants.ts";
import { type Customer, codeOf, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let options: CheckOptions;
let buyers: Customer[];

async function tally<T>(calls: Array<Promise<T>>): Promise<Record<string, number>> {
  const codes = await Promise.all(calls.map((call) => call.then(() => "ok").catch((error) => codeOf(Promise.reject(error)))));
  const counts: Record<string, number> = {};
  for (const code of codes) counts[code] = (counts[code] ?? 0) + 1;
  return counts;
}

async function failedNames(extra: Partial<CheckOptions> = {}): Promise<string[]> {
  return failedChecks(await checkInvariants(t.db, { ...options, ...extra })).map((c) => c.name);
}

beforeAll(async () => {
  t = await startTestAgora();
  const admin = await t.admin();
  const now = t.clock.now().getTime();
  const coupon = await admin.client.coupons.admin.create.mutate({
    name: "Smoke coupon",
    discountType: "fixed",
    discountValue: 1_000,
    totalQuantity: 5,
    issueStartsAt: new Date(now - 60_000),
    issueEndsAt: new Date(now + 3_600_000),
    validDays: 7,
  });
  const customers = await t.signUpCustomers(20, "smoke");
  expect(await tally(customers.map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })))).toEqual({ ok: 5, COUPON_SOLD_OUT: 15 });

  const product = await t.createProduct({ price: 10_000, stock: 5 });
  buyers = customers.slice(0, 10);
  await Promise.all(buyers.map((b) => t.fund(b, 20_000)));
  expect(await tally(buyers.map((b) => b.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] })))).toEqual({
    ok: 5,
    INSUFFICIENT_STOCK: 5,
  });

  options = {
    coupons: [{ couponId: coupon.couponId, expectedIssued: 5 }],
    products: [{ productId: product.id, expectedStock: 0 }],
    gatewayCapturedAmount: t.gateway.stats().capturedAmount,
  };
});
afterAll(() => t.close());

describe("bench invariant checker (smoke)", () => {
  test("passes on what the application wrote", async () => {
    const results = await checkInvariants(t.db, options);
    expect(failedChecks(results)).toEqual([]);
    expect(results.length).toBeGreaterThan(15);
  });

  test("a wallet balance raised by 1 breaks the books and money conservation", async () => {
    const userId = (buyers[0] as Customer).id;
    await sql`UPDATE wallet_accounts SET balance = balance + 1 WHERE user_id = ${userId}`.execute(t.db);
    try {
      const failed = await failedNames();
      expect(failed).toContain("wallet: balance = sum of its ledger");
      expect(failed).toContain("money: balances + held by orders = charges");
    } finally {
      await sql`UPDATE wallet_accounts SET balance = balance - 1 WHERE user_id = ${userId}`.execute(t.db);
    }
    expect(await failedNames()).toEqual([]);
  });

  test("stock changed behind the movement log is caught", async () => {
    const productId = options.products?.[0]?.productId as number;
    await sql`UPDATE inventory_stock SET quantity = quantity + 1 WHERE product_id = ${productId}`.execute(t.db);
    try {
      expect(await failedNames()).toEqual(["stock: equals its movement log", "stock: initial − sold", `product ${productId}: stock 0`]);
    } finally {
      await sql`UPDATE inventory_stock SET quantity = quantity - 1 WHERE product_id = ${productId}`.execute(t.db);
    }
  });

  test("a coupon count that drifted from its rows is caught", async () => {
    const couponId = options.coupons?.[0]?.couponId as number;
    await sql`UPDATE coupon_coupons SET issued_quantity = issued_quantity - 1 WHERE id = ${couponId}`.execute(t.db);
    try {
      const failed = await failedNames();
      expect(failed).toContain("coupons: issued count = rows, ≤ quantity");
      expect(failed).toContain(`coupon ${couponId}: exactly 5 issued, to distinct customers`);
    } finally {
      await sql`UPDATE coupon_coupons SET issued_quantity = issued_quantity + 1 WHERE id = ${couponId}`.execute(t.db);
    }
  });

  test("a missing order.paid event, a wrong sales aggregate and a gateway mismatch are caught", async () => {
    const event = await sql<{ id: string; destination?: string }>`
      SELECT * FROM outbox_events WHERE type = 'order.paid' ORDER BY created_at LIMIT 1`.execute(t.db);
    const row = event.rows[0] as Record<string, unknown>;
    await sql`DELETE FROM outbox_events WHERE id = ${row.id as string}`.execute(t.db);
    await sql`UPDATE sales_daily SET sold_quantity = sold_quantity + 1 WHERE product_id = ${options.products?.[0]?.productId as number}`.execute(t.db);
    const failed = await failedNames({ gatewayCapturedAmount: (options.gatewayCapturedAmount as number) + 1_000 });
    expect(failed).toContain("outbox: one order.paid per paid order (per destination)");
    expect(failed).toContain("sales: sales_daily = paid order lines");
    expect(failed).toContain("money: charges = captured by the gateway");
  });
});
