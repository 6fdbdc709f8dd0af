import { sql } from "kysely";
import type { Db, Tx } from "../../db/index.ts";
import { LockRank, noteLock } from "../../db/index.ts";

type Executor = Db | Tx;

export const cartRepository = {
  lines(db: Executor, userId: number) {
    return db
      .selectFrom("cart_items")
      .select(["product_id", "quantity", "added_at"])
      .where("user_id", "=", userId)
      .orderBy("added_at")
      .orderBy("product_id")
      .execute();
  },

  find(db: Executor, userId: number, productId: number) {
    return db.selectFrom("cart_items").select(["quantity"]).where("user_id", "=", userId).where("product_id", "=", productId).executeTakeFirst();
  },

  async countLines(db: Executor, userId: number): Promise<number> {
    const row = await db
      .selectFrom("cart_items")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("user_id", "=", userId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },

  /**
   * One change to a customer's cart at a time, until commit (rank Cart): the line-count and
   * line-quantity limits are read, then written, and rows that do not exist yet cannot be locked.
   */
  async lockCart(trx: Tx, userId: number): Promise<void> {
    noteLock(trx, LockRank.Cart, userId);
    await sql`select pg_advisory_xact_lock(hashtext('agora:cart'), (${userId}::int8 % 2147483647)::int4)`.execute(trx);
  },

  /** Adds to the line (or creates it) and returns the new quantity. */
  async addTo(trx: Tx, userId: number, productId: number, quantity: number, at: Date): Promise<number> {
    noteLock(trx, LockRank.Cart, userId);
    const row = await trx
      .insertInto("cart_items")
      .values({ user_id: userId, product_id: productId, quantity, added_at: at, updated_at: at })
      .onConflict((oc) =>
        oc.columns(["user_id", "product_id"]).doUpdateSet((eb) => ({ quantity: eb("cart_items.quantity", "+", eb.ref("excluded.quantity")), updated_at: at })),
      )
      .returning("quantity")
      .executeTakeFirstOrThrow();
    return row.quantity;
  },

  async setQuantity(trx: Tx, userId: number, productId: number, quantity: number, at: Date): Promise<boolean> {
    noteLock(trx, LockRank.Cart, userId);
    const result = await trx
      .updateTable("cart_items")
      .set({ quantity, updated_at: at })
      .where("user_id", "=", userId)
      .where("product_id", "=", productId)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  },

  async remove(db: Executor, userId: number, productIds: number[]): Promise<number> {
    if (productIds.length === 0) return 0;
    if (db.isTransaction) noteLock(db, LockRank.Cart, userId);
    const result = await db.deleteFrom("cart_items").where("user_id", "=", userId).where("product_id", "in", productIds).executeTakeFirst();
    return Number(result.numDeletedRows);
  },

  async clear(db: Executor, userId: number): Promise<number> {
    if (db.isTransaction) noteLock(db, LockRank.Cart, userId);
    const result = await db.deleteFrom("cart_items").where("user_id", "=", userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  },
};
