/**
 * Stock under contention, against real PostgreSQL with a 20-connection pool: many transactions
 * race for the same stock rows through the catalog service's in-transaction API (what orders use).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { inTransaction, pgErrorCode } from "../../db/index.ts";
import type { InsufficientItem, StockLine } from "../../modules/catalog/index.ts";
import { isDomainError } from "../../modules/kernel/index.ts";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";

let t: TestAgora;
let admin: Customer;
beforeAll(async () => {
  t = await startTestAgora();
  admin = await t.admin();
});
afterAll(() => t.close());

const catalog = () => t.agora.services.catalog;

async function product(name: string, stock: number, lowStockThreshold = 0) {
  return admin.client.catalog.admin.create.mutate({ name, category: "concurrency", price: 1_000, initialStock: stock, lowStockThreshold });
}

async function stockOf(productId: number): Promise<number> {
  const row = await t.db.selectFrom("inventory_stock").select("quantity").where("product_id", "=", productId).executeTakeFirstOrThrow();
  return row.quantity;
}

function saleMovements(productId: number) {
  return t.db
    .selectFrom("inventory_movements")
    .select(["quantity_change", "quantity_after"])
    .where("product_id", "=", productId)
    .where("kind", "=", "sale")
    .execute();
}

/** One order-like transaction: deducts `lines` and commits, or rolls back on any error. */
function deduct(lines: StockLine[]) {
  return inTransaction(t.db, (trx) => catalog().deductStock(trx, lines, { orderId: null }));
}

function insufficientItemsOf(reason: unknown): InsufficientItem[] {
  if (!isDomainError(reason, "INSUFFICIENT_STOCK")) throw reason;
  return (reason.details as { insufficientItems: InsufficientItem[] }).insufficientItems;
}

describe("inventory under concurrency", () => {
  test("100 parallel single-unit deductions from a stock of 30: exactly 30 succeed, stock ends at 0", async () => {
    const p = await product("Flash-sale Speaker", 30, 10);
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => deduct([{ productId: p.id, quantity: 1 }])));

    const succeeded = results.filter((r) => r.status === "fulfilled");
    const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(succeeded).toHaveLength(30);
    expect(failed).toHaveLength(70);
    for (const reason of failed) {
      // Refused means the row said 0 when it was this transaction's turn; stock only fell after that.
      expect(insufficientItemsOf(reason)).toEqual([{ productId: p.id, productName: "Flash-sale Speaker", requestedQuantity: 1, availableStock: 0 }]);
    }

    expect(await stockOf(p.id)).toBe(0);
    const movements = await saleMovements(p.id);
    expect(movements).toHaveLength(30);
    expect(movements.every((m) => m.quantity_change === -1)).toBe(true);
    // Each unit was taken exactly once: the "after" values are 29, 28, ..., 0 with no repeats.
    expect(movements.map((m) => m.quantity_after).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));

    // Under the threshold once, however many sales raced past it.
    const lowStock = await t.db
      .selectFrom("outbox_events")
      .select("id")
      .where("type", "=", "inventory.low_stock")
      .where("aggregate_id", "=", String(p.id))
      .execute();
    expect(lowStock).toHaveLength(1);
  });

  test("overlapping products requested in opposite orders: no deadlock, exact stock", async () => {
    const a = await product("Overlap A", 150);
    const b = await product("Overlap B", 150);
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) =>
        deduct(
          i % 2 === 0
            ? [
                { productId: a.id, quantity: 1 },
                { productId: b.id, quantity: 1 },
              ]
            : [
                { productId: b.id, quantity: 1 },
                { productId: a.id, quantity: 1 },
              ],
        ),
      ),
    );

    const errors = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(errors.filter((e) => pgErrorCode(e) === "40P01")).toEqual([]);
    expect(errors).toEqual([]);
    expect(await stockOf(a.id)).toBe(50);
    expect(await stockOf(b.id)).toBe(50);
    expect(await saleMovements(a.id)).toHaveLength(100);
    expect(await saleMovements(b.id)).toHaveLength(100);
  });

  test("opposite orders running one product dry: the losers roll back their other line too", async () => {
    const plenty = await product("Plenty", 120);
    const scarce = await product("Scarce", 80);
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => {
        const lines = [
          { productId: plenty.id, quantity: 1 },
          { productId: scarce.id, quantity: 1 },
        ];
        return deduct(i % 2 === 0 ? lines : lines.reverse());
      }),
    );

    const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(failed.filter((e) => pgErrorCode(e) === "40P01")).toEqual([]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(80);
    expect(failed).toHaveLength(20);
    for (const reason of failed) {
      expect(insufficientItemsOf(reason)).toEqual([{ productId: scarce.id, productName: "Scarce", requestedQuantity: 1, availableStock: 0 }]);
    }
    // Only the 80 winners took from "Plenty": a loser's deduction of it was rolled back.
    expect(await stockOf(plenty.id)).toBe(40);
    expect(await stockOf(scarce.id)).toBe(0);
    expect(await saleMovements(plenty.id)).toHaveLength(80);
    expect(await saleMovements(scarce.id)).toHaveLength(80);
  });

  test("checkStock reports every short line, summing repeated products, and changes nothing", async () => {
    const some = await product("Some left", 5);
    const none = await product("None left", 0);
    const lots = await product("Lots left", 10);
    const unknownId = 999_999_999;

    const short = await inTransaction(t.db, (trx) =>
      catalog().checkStock(trx, [
        { productId: lots.id, quantity: 10 },
        { productId: some.id, quantity: 3 },
        { productId: none.id, quantity: 1 },
        { productId: some.id, quantity: 3 },
        { productId: unknownId, quantity: 2 },
      ]),
    );
    expect(short).toEqual([
      { productId: some.id, productName: "Some left", requestedQuantity: 6, availableStock: 5 },
      { productId: none.id, productName: "None left", requestedQuantity: 1, availableStock: 0 },
      { productId: unknownId, productName: "", requestedQuantity: 2, availableStock: 0 },
    ]);

    const enough = await inTransaction(t.db, (trx) =>
      catalog().checkStock(trx, [
        { productId: some.id, quantity: 5 },
        { productId: lots.id, quantity: 10 },
      ]),
    );
    expect(enough).toEqual([]);
    expect([await stockOf(some.id), await stockOf(none.id), await stockOf(lots.id)]).toEqual([5, 0, 10]);
    expect(await saleMovements(some.id)).toHaveLength(0);
  });

  test("checkStock's shared lock lets other checks through but holds a deduction until commit", async () => {
    const p = await product("Share-locked", 3);
    let checked!: () => void;
    let finish!: () => void;
    const isChecked = new Promise<void>((resolve) => (checked = resolve));
    const finished = new Promise<void>((resolve) => (finish = resolve));

    const holder = inTransaction(t.db, async (trx) => {
      const short = await catalog().checkStock(trx, [{ productId: p.id, quantity: 3 }]);
      checked();
      await finished; // keep the shared lock until told
      return short;
    });
    await isChecked;

    let deducted = false;
    let writer: Promise<void> | undefined;
    try {
      // Shared locks do not conflict with each other.
      expect(await inTransaction(t.db, (trx) => catalog().checkStock(trx, [{ productId: p.id, quantity: 4 }]))).toEqual([
        { productId: p.id, productName: "Share-locked", requestedQuantity: 4, availableStock: 3 },
      ]);

      writer = deduct([{ productId: p.id, quantity: 2 }]).then(() => {
        deducted = true;
      });
      await Bun.sleep(200);
      expect(deducted).toBe(false);
      expect(await stockOf(p.id)).toBe(3);
    } finally {
      finish(); // never leave the holder open, even when an assertion failed
    }
    expect(await holder).toEqual([]);
    await writer;
    expect(deducted).toBe(true);
    expect(await stockOf(p.id)).toBe(1);
  });

  test("takeStockOrFail tells short stock (the CHECK) from a low-stock crossing (NULL) for every threshold, 0 included", async () => {
    /** The error a take fails with (its SQLSTATE), or "taken"; the transaction rolls back either way. */
    const take = (productId: number, quantity: number) =>
      inTransaction(t.db, (trx) => catalog().takeStockOrFail(trx, [{ productId, quantity }], { orderId: null })).then(
        () => "taken",
        (error: unknown) => {
          expect(catalog().mustTakeCarefully(error)).toBe(true);
          return pgErrorCode(error);
        },
      );
    const noThreshold = await product("Take, threshold 0", 2, 0);
    // Short with threshold 0: before, the crossing matched first (2 ≥ 0 and 2 − 3 < 0) and it read as a crossing.
    expect(await take(noThreshold.id, 3)).toBe("23514");
    expect(await stockOf(noThreshold.id)).toBe(2);
    expect(await take(noThreshold.id, 2)).toBe("taken");
    expect(await stockOf(noThreshold.id)).toBe(0);
    expect(await take(noThreshold.id, 1)).toBe("23514");

    const withThreshold = await product("Take, threshold 5", 6, 5);
    expect(await take(withThreshold.id, 7)).toBe("23514");
    expect(await take(withThreshold.id, 2)).toBe("23502"); // 6 → 4 crosses 5: the careful run sends the event
    expect(await take(withThreshold.id, 1)).toBe("taken"); // 6 → 5 stays at the threshold
    expect(await stockOf(withThreshold.id)).toBe(5);
    expect(await saleMovements(withThreshold.id)).toEqual([{ quantity_change: -1, quantity_after: 5 }]);
  });
});
