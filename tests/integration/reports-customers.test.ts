import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DAY } from "../../modules/kernel/index.ts";
import { type Customer, codeOf, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let admin: Customer;

beforeAll(async () => {
  t = await startTestAgora();
  t.clock.set("2026-11-01T10:00:00Z");
  admin = await t.admin();
});
afterAll(() => t.close());

describe("reports.admin.customers", () => {
  test("new versus repeat buyers, average order value and purchase frequency; cancelled orders do not count", async () => {
    const mug = await t.createProduct({ name: "Mug", price: 10_000, stock: 100 });
    const [veteran, newcomer, frequent, canceller] = await Promise.all([
      t.signUpCustomer("veteran"),
      t.signUpCustomer("newcomer"),
      t.signUpCustomer("frequent"),
      t.signUpCustomer("canceller"),
    ]);
    for (const c of [veteran, newcomer, frequent, canceller]) await t.fund(c, 200_000);
    const buy = (c: Customer, quantity: number) => c.client.orders.place.mutate({ items: [{ productId: mug.id, quantity }] });

    // Before the period: the veteran buys; the canceller's only earlier order is cancelled.
    await buy(veteran, 1);
    const cancelled = await buy(canceller, 1);
    await canceller.client.orders.cancel.mutate({ orderId: cancelled.orderId });

    t.clock.advance(5 * DAY); // 11-06: the last 3 days are 11-04 .. 11-06 (sessions last 7 days)
    await buy(veteran, 2); // 20 000
    await buy(newcomer, 1); // 10 000
    for (let i = 0; i < 5; i++) await buy(frequent, 1); // 5 × 10 000
    await buy(canceller, 3); // 30 000: new, since the earlier order was cancelled
    const undone = await buy(newcomer, 4);
    await newcomer.client.orders.cancel.mutate({ orderId: undone.orderId }); // not counted

    const report = await admin.client.reports.admin.customers.query({ days: 3 });
    expect(report).toMatchObject({ buyers: 4, newBuyers: 3, repeatBuyers: 1, orders: 8, amount: 110_000, averageOrderValue: 13_750, ordersPerBuyer: 2 });
    expect(report.frequency).toEqual([
      { orders: "1", buyers: 3 },
      { orders: "2", buyers: 0 },
      { orders: "3", buyers: 0 },
      { orders: "4", buyers: 0 },
      { orders: "5+", buyers: 1 },
    ]);

    // A period without sales answers zeros, not a division by zero.
    const empty = await admin.client.reports.admin.customers.query({ from: new Date("2026-10-01"), to: new Date("2026-10-08") });
    expect(empty).toMatchObject({ buyers: 0, newBuyers: 0, orders: 0, averageOrderValue: 0, ordersPerBuyer: 0 });
  });

  test("only admins read it, and a backwards period is refused", async () => {
    const buyer = await t.signUpCustomer("curious");
    expect(await codeOf(buyer.client.reports.admin.customers.query({}))).toBe("FORBIDDEN");
    expect(await codeOf(admin.client.reports.admin.customers.query({ from: new Date("2026-11-20"), to: new Date("2026-11-10") }))).toBe("INVALID_PERIOD");
  });
});
