import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DAY } from "../../modules/kernel/index.ts";
import { type Customer, codeOf, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let admin: Customer;
let buyer: Customer;

beforeAll(async () => {
  t = await startTestAgora();
  t.clock.set("2026-11-18T10:00:00Z");
  admin = await t.admin();
  buyer = await t.signUpCustomer("reported");
  await t.fund(buyer, 500_000);
});
afterAll(() => t.close());

describe("operator reports", () => {
  test("sales per day of payment, net of cancellations; wallets; inventory; top sellers", async () => {
    const kettle = await t.createProduct({ name: "Kettle", price: 30_000, stock: 10, lowStockThreshold: 10 });
    const mug = await t.createProduct({ name: "Mug", price: 5_000, stock: 50 });
    await t.createProduct({ name: "Empty shelf", price: 1_000, stock: 0, lowStockThreshold: 5 });

    // 11-18: two orders (one later cancelled); 11-20: one order.
    const a = await buyer.client.orders.place.mutate({ items: [{ productId: kettle.id, quantity: 2 }] });
    await buyer.client.orders.place.mutate({ items: [{ productId: mug.id, quantity: 3 }] });
    await buyer.client.orders.cancel.mutate({ orderId: a.orderId });
    t.clock.advance(2 * DAY);
    await buyer.client.orders.place.mutate({
      items: [
        { productId: kettle.id, quantity: 1 },
        { productId: mug.id, quantity: 1 },
      ],
    });

    const sales = await admin.client.reports.admin.sales.query({ days: 3 });
    expect(sales.days).toEqual([
      { day: "2026-11-18", paidOrders: 2, grossAmount: 75_000, discountAmount: 0, reversedOrders: 1, reversedAmount: 60_000, netAmount: 15_000 },
      { day: "2026-11-20", paidOrders: 1, grossAmount: 35_000, discountAmount: 0, reversedOrders: 0, reversedAmount: 0, netAmount: 35_000 },
    ]);
    expect(sales.totals).toMatchObject({ paidOrders: 3, grossAmount: 110_000, reversedAmount: 60_000, netAmount: 50_000 });
    // Only today: the 11-18 orders fall outside.
    expect((await admin.client.reports.admin.sales.query({ days: 1 })).totals.paidOrders).toBe(1);

    const inventory = await admin.client.reports.admin.inventory.query();
    expect(inventory).toMatchObject({ activeProducts: 3, outOfStock: 1, lowStock: 2, units: 9 + 46, stockValue: 9 * 30_000 + 46 * 5_000 });
    expect(inventory.lowStockProducts.map((p) => p.name).sort()).toEqual(["Empty shelf", "Kettle"]);

    const overview = await admin.client.reports.admin.overview.query({ days: 3 });
    expect(overview.wallets).toEqual({ balance: 500_000 - 50_000, charged: 500_000, paid: 110_000, refunded: 60_000 });
    expect(overview.topProducts.map((p) => [p.name, p.soldQuantity])).toEqual([
      ["Mug", 4],
      ["Kettle", 1],
    ]);
  });

  test("only admins read reports, and a backwards period is refused", async () => {
    expect(await codeOf(buyer.client.reports.admin.sales.query({}))).toBe("FORBIDDEN");
    expect(await codeOf(t.client().reports.admin.inventory.query())).toBe("UNAUTHENTICATED");
    expect(await codeOf(admin.client.reports.admin.sales.query({ from: new Date("2026-11-20"), to: new Date("2026-11-10") }))).toBe("INVALID_PERIOD");
  });
});
