import { sql } from "kysely";
import type { Db, Tx } from "../../db/index.ts";
import { LockRank, noteLock } from "../../db/index.ts";

export const salesRepository = {
  /**
   * Adds (or with negative numbers takes back) one order's lines to the day's aggregate,
   * product by product in ascending id order (lock rank SalesDaily).
   */
  async apply(trx: Tx, day: string, lines: Array<{ productId: number; quantity: number }>, orderDelta: 1 | -1): Promise<void> {
    const sorted = [...lines].sort((a, b) => a.productId - b.productId);
    for (const line of sorted) {
      noteLock(trx, LockRank.SalesDaily, line.productId);
      await trx
        .insertInto("sales_daily")
        .values({ day, product_id: line.productId, sold_quantity: Math.max(0, line.quantity * orderDelta), order_count: Math.max(0, orderDelta) })
        .onConflict((oc) =>
          oc.columns(["day", "product_id"]).doUpdateSet((eb) => ({
            sold_quantity: eb("sales_daily.sold_quantity", "+", line.quantity * orderDelta),
            order_count: eb("sales_daily.order_count", "+", orderDelta),
          })),
        )
        .execute();
    }
  },

  /** Top products by units sold from `fromDay` on: reads at most days x products aggregate rows. */
  top(db: Db, fromDay: string, limit: number) {
    return db
      .selectFrom("sales_daily")
      .select(["product_id", sql<number>`sum(sold_quantity)::int8`.as("sold"), sql<number>`sum(order_count)::int8`.as("orders")])
      .where("day", ">=", fromDay)
      .groupBy("product_id")
      .having(sql<boolean>`sum(sold_quantity) > 0`)
      .orderBy("sold", "desc")
      .orderBy("orders", "desc")
      .orderBy("product_id", "asc")
      .limit(limit)
      .execute();
  },
};
