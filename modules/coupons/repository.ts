import { type Insertable, type Selectable, sql } from "kysely";
import type { CouponCouponsTable, Db, Tx } from "../../db/index.ts";
import { LockRank, noteLock } from "../../db/index.ts";

type Executor = Db | Tx;
export type CouponRow = Selectable<CouponCouponsTable>;

const issuedWithCoupon = [
  "i.id",
  "i.coupon_id",
  "i.user_id",
  "i.status",
  "i.issued_at",
  "i.expires_at",
  "i.used_at",
  "i.order_id",
  "c.name",
  "c.discount_type",
  "c.discount_value",
  "c.max_discount_amount",
  "c.min_order_amount",
] as const;

export const couponRepository = {
  async insertCoupon(db: Executor, coupon: Insertable<CouponCouponsTable>): Promise<CouponRow> {
    return db.insertInto("coupon_coupons").values(coupon).returningAll().executeTakeFirstOrThrow();
  },

  findCoupon(db: Executor, couponId: number): Promise<CouponRow | undefined> {
    return db.selectFrom("coupon_coupons").selectAll().where("id", "=", couponId).executeTakeFirst();
  },

  /** By start time; a page starts after coupon `after` in that order. */
  listCoupons(db: Executor, endedAfter: Date | null, page: { limit: number; after?: number }): Promise<CouponRow[]> {
    let q = db.selectFrom("coupon_coupons").selectAll().orderBy("issue_starts_at").orderBy("id").limit(page.limit);
    if (endedAfter) q = q.where("issue_ends_at", ">", endedAfter);
    if (page.after !== undefined) {
      q = q.where(sql<boolean>`(issue_starts_at, id) > (select c.issue_starts_at, c.id from coupon_coupons c where c.id = ${page.after})`);
    }
    return q.execute();
  },

  /**
   * Takes one unit of the coupon if any is left and the window is open, as one conditional
   * UPDATE: the row lock it takes serializes issuers, the CHECK (issued <= total) backs it.
   */
  takeOne(trx: Tx, couponId: number, now: Date) {
    noteLock(trx, LockRank.Coupon, couponId);
    return trx
      .updateTable("coupon_coupons")
      .set((eb) => ({ issued_quantity: eb("issued_quantity", "+", 1) }))
      .where("id", "=", couponId)
      .whereRef("issued_quantity", "<", "total_quantity")
      .where("issue_starts_at", "<=", now)
      .where("issue_ends_at", ">", now)
      .returning(["id", "name", "valid_days"])
      .executeTakeFirst();
  },

  hasIssued(db: Executor, couponId: number, userId: number): Promise<boolean> {
    return db
      .selectFrom("coupon_issued")
      .select("id")
      .where("coupon_id", "=", couponId)
      .where("user_id", "=", userId)
      .executeTakeFirst()
      .then((row) => row !== undefined);
  },

  holders(db: Executor, couponId: number): Promise<number[]> {
    return db
      .selectFrom("coupon_issued")
      .select("user_id")
      .where("coupon_id", "=", couponId)
      .execute()
      .then((rows) => rows.map((r) => r.user_id));
  },

  /** Inserts the customer's coupon; the UNIQUE (coupon_id, user_id) refuses a second one. */
  insertIssued(trx: Tx, issued: { couponId: number; userId: number; issuedAt: Date; expiresAt: Date }) {
    noteLock(trx, LockRank.IssuedCoupon, 0);
    return trx
      .insertInto("coupon_issued")
      .values({ coupon_id: issued.couponId, user_id: issued.userId, status: "available", issued_at: issued.issuedAt, expires_at: issued.expiresAt })
      .returning(["id", "issued_at", "expires_at"])
      .executeTakeFirstOrThrow();
  },

  async insertHistory(trx: Tx, entry: { issuedCouponId: number; action: "issued" | "used" | "restored"; orderId: number | null; at: Date }): Promise<void> {
    await trx
      .insertInto("coupon_history")
      .values({ issued_coupon_id: entry.issuedCouponId, action: entry.action, order_id: entry.orderId, created_at: entry.at })
      .execute();
  },

  /**
   * A customer's coupon with its rule; `lock` share-locks (validate) or exclusive-locks (use, restore) it.
   * The exclusive lock is FOR NO KEY UPDATE (what updating its status takes anyway), not FOR UPDATE: an
   * order row referencing the coupon takes FOR KEY SHARE on it through its foreign key when inserted,
   * before the wallet lock, and FOR UPDATE would wait on that, deadlocking two orders with one coupon.
   */
  findIssued(db: Executor, issuedCouponId: number, lock: "none" | "share" | "update" = "none") {
    let q = db
      .selectFrom("coupon_issued as i")
      .innerJoin("coupon_coupons as c", "c.id", "i.coupon_id")
      .select(issuedWithCoupon)
      .where("i.id", "=", issuedCouponId);
    if (lock !== "none") {
      noteLock(db as Tx, LockRank.IssuedCoupon, issuedCouponId);
      q = lock === "share" ? q.forShare("i") : q.forNoKeyUpdate("i");
    }
    return q.executeTakeFirst();
  },

  /** Newest first; a page starts after (below) issued coupon `after`. */
  listIssuedForUser(db: Executor, userId: number, page: { limit: number; after?: number; status?: "available" | "used" | "expired"; now: Date }) {
    let q = db
      .selectFrom("coupon_issued as i")
      .innerJoin("coupon_coupons as c", "c.id", "i.coupon_id")
      .select(issuedWithCoupon)
      .where("i.user_id", "=", userId)
      .orderBy("i.id", "desc")
      .limit(page.limit);
    if (page.after !== undefined) q = q.where("i.id", "<", page.after);
    if (page.status === "used") q = q.where("i.status", "=", "used");
    else if (page.status === "available") q = q.where("i.status", "<>", "used").where("i.expires_at", ">", page.now);
    else if (page.status === "expired") q = q.where("i.status", "<>", "used").where("i.expires_at", "<=", page.now);
    return q.execute();
  },

  async markUsed(trx: Tx, issuedCouponId: number, orderId: number, at: Date): Promise<void> {
    await trx.updateTable("coupon_issued").set({ status: "used", used_at: at, order_id: orderId }).where("id", "=", issuedCouponId).execute();
  },

  async markAvailable(trx: Tx, issuedCouponId: number): Promise<void> {
    await trx.updateTable("coupon_issued").set({ status: "available", used_at: null, order_id: null }).where("id", "=", issuedCouponId).execute();
  },

  history(db: Executor, issuedCouponId: number) {
    return db
      .selectFrom("coupon_history")
      .select(["id", "action", "order_id", "created_at"])
      .where("issued_coupon_id", "=", issuedCouponId)
      .orderBy("id")
      .execute();
  },

  usageCounts(db: Executor, couponId: number) {
    return db
      .selectFrom("coupon_issued")
      .select((eb) => [eb.fn.countAll<number>().as("issued"), eb.fn.count<number>("order_id").as("used")])
      .where("coupon_id", "=", couponId)
      .executeTakeFirstOrThrow();
  },
};
