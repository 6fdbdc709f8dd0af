import { type Insertable, type Selectable, sql } from "kysely";
import type { CouponCouponsTable, Db, Tx } from "../../db/index.ts";
import { LockRank, noteLock } from "../../db/index.ts";

type Executor = Db | Tx;
/** A coupon with `issued_count`, the number of coupons issued (its rows; `issued_quantity` is a roll-up of them). */
export type CouponRow = Selectable<CouponCouponsTable> & { issued_count: number };

/**
 * Issued count from the rows: winners with a Redis slot do not touch the coupon row, so its
 * issued_quantity may lag by the issues in flight. A coupon the roll-up already shows sold out is
 * not counted again (the count only grows).
 */
const issuedCount = sql<number>`CASE WHEN coupon_coupons.issued_quantity >= coupon_coupons.total_quantity THEN coupon_coupons.issued_quantity
  ELSE (SELECT count(*)::int FROM coupon_issued i WHERE i.coupon_id = coupon_coupons.id) END`;

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

function issuedById(db: Executor, issuedCouponId: number) {
  return db
    .selectFrom("coupon_issued as i")
    .innerJoin("coupon_coupons as c", "c.id", "i.coupon_id")
    .select(issuedWithCoupon)
    .where("i.id", "=", issuedCouponId);
}

export const couponRepository = {
  async insertCoupon(db: Executor, coupon: Insertable<CouponCouponsTable>): Promise<CouponRow> {
    const row = await db.insertInto("coupon_coupons").values(coupon).returningAll().executeTakeFirstOrThrow();
    return { ...row, issued_count: row.issued_quantity };
  },

  findCoupon(db: Executor, couponId: number): Promise<CouponRow | undefined> {
    return db.selectFrom("coupon_coupons").selectAll().select(issuedCount.as("issued_count")).where("id", "=", couponId).executeTakeFirst();
  },

  /** By start time; a page starts after coupon `after` in that order. */
  listCoupons(db: Executor, endedAfter: Date | null, page: { limit: number; after?: number }): Promise<CouponRow[]> {
    let q = db.selectFrom("coupon_coupons").selectAll().select(issuedCount.as("issued_count")).orderBy("issue_starts_at").orderBy("id").limit(page.limit);
    if (endedAfter) q = q.where("issue_ends_at", ">", endedAfter);
    if (page.after !== undefined) {
      q = q.where(sql<boolean>`(issue_starts_at, id) > (select c.issue_starts_at, c.id from coupon_coupons c where c.id = ${page.after})`);
    }
    return q.execute();
  },

  /** This database's identity for the Redis admission keys: the stored random epoch and the database's OID (new in a clone or a restore into a new database). */
  async admissionEpoch(db: Executor): Promise<string> {
    const { rows } = await sql<{ epoch: string }>`
      SELECT e.epoch::text || '.' || d.oid::text AS epoch
        FROM coupon_admission_epoch e, pg_database d
       WHERE d.datname = current_database()`.execute(db);
    const row = rows[0];
    if (!row) throw new Error("coupon_admission_epoch has no row (migration 2026-12-02T05-00 inserts it)");
    return row.epoch;
  },

  /** A new random epoch: every instance stops reading the Redis admission state of before (within 30 s). */
  async renewAdmissionEpoch(db: Executor): Promise<void> {
    await sql`UPDATE coupon_admission_epoch SET epoch = gen_random_uuid()`.execute(db);
  },

  /** The slots taken and their holders: what Redis admission is seeded with. */
  takenSlots(db: Executor, couponId: number): Promise<Array<{ slot: number; userId: number }>> {
    return db.selectFrom("coupon_issued").select(["slot", "user_id as userId"]).where("coupon_id", "=", couponId).execute();
  },

  countIssued(db: Executor, couponId: number): Promise<number> {
    return db
      .selectFrom("coupon_issued")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("coupon_id", "=", couponId)
      .executeTakeFirstOrThrow()
      .then((row) => Number(row.n));
  },

  /**
   * The winners' path: the customer's coupon at the slot Redis handed out, with its history entry,
   * in one statement (one round trip, its own transaction) and without locking the coupon row for
   * update. Inserts nothing when the slot is taken already (a stale Redis), is past the quantity, or
   * the window is not open; UNIQUE (coupon_id, user_id) still refuses a second coupon (23505).
   */
  async insertAtSlot(db: Db, issue: { couponId: number; userId: number; slot: number; now: Date }) {
    const { couponId, userId, slot, now } = issue;
    const { rows } = await sql<{ id: number; issued_at: Date; expires_at: Date; name: string }>`
      WITH issued AS (
        INSERT INTO coupon_issued (coupon_id, user_id, slot, coupon_quantity, status, issued_at, expires_at)
        SELECT c.id, ${userId}, ${slot}, c.total_quantity, 'available', ${now}::timestamptz,
               ${now}::timestamptz + c.valid_days * interval '86400 seconds'
          FROM coupon_coupons c
         WHERE c.id = ${couponId} AND ${slot}::int <= c.total_quantity
           AND c.issue_starts_at <= ${now}::timestamptz AND c.issue_ends_at > ${now}::timestamptz
        ON CONFLICT (coupon_id, slot) DO NOTHING
        RETURNING id, coupon_id, issued_at, expires_at
      ), history AS (
        INSERT INTO coupon_history (issued_coupon_id, action, order_id, created_at)
        SELECT id, 'issued', NULL, ${now}::timestamptz FROM issued
      )
      SELECT issued.id, issued.issued_at, issued.expires_at, c.name
        FROM issued JOIN coupon_coupons c ON c.id = issued.coupon_id`.execute(db);
    const row = rows[0];
    return row ? { ...row, id: Number(row.id) } : undefined;
  },

  /**
   * Several winners' coupons at their slots in one statement (and one commit): what `insertAtSlot`
   * does for each, for the winners who arrived while the previous batch was in flight. Returns the
   * rows that went in; a winner missing from them (slot taken, already a holder, past the quantity,
   * window shut) is decided again on its own by `insertAtSlot`, which names the reason.
   */
  async insertAtSlots(db: Db, couponId: number, issues: ReadonlyArray<{ userId: number; slot: number; now: Date }>) {
    const { rows } = await sql<{ id: number; user_id: number; slot: number; issued_at: Date; expires_at: Date; name: string }>`
      WITH wanted AS (
        SELECT * FROM unnest(${issues.map((i) => i.userId)}::bigint[], ${issues.map((i) => i.slot)}::int[], ${issues.map((i) => i.now)}::timestamptz[])
          AS w(user_id, slot, at)
      ), issued AS (
        INSERT INTO coupon_issued (coupon_id, user_id, slot, coupon_quantity, status, issued_at, expires_at)
        SELECT c.id, w.user_id, w.slot, c.total_quantity, 'available', w.at, w.at + c.valid_days * interval '86400 seconds'
          FROM wanted w JOIN coupon_coupons c ON c.id = ${couponId}
         WHERE w.slot BETWEEN 1 AND c.total_quantity AND c.issue_starts_at <= w.at AND c.issue_ends_at > w.at
        ON CONFLICT DO NOTHING
        RETURNING id, coupon_id, user_id, slot, issued_at, expires_at
      ), history AS (
        INSERT INTO coupon_history (issued_coupon_id, action, order_id, created_at)
        SELECT id, 'issued', NULL, issued_at FROM issued
      )
      SELECT issued.id, issued.user_id, issued.slot, issued.issued_at, issued.expires_at, c.name
        FROM issued JOIN coupon_coupons c ON c.id = issued.coupon_id`.execute(db);
    return rows.map((row) => ({ ...row, id: Number(row.id) }));
  },

  /**
   * The database path (no Redis): takes one unit of the coupon if any is left and the window is
   * open, as one conditional UPDATE whose row lock serializes these issuers; the new count is the
   * slot to take. Slots handed out by Redis do not move the count at once, so the slot may be taken:
   * `freeSlot` then finds another.
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
      .returning(["id", "name", "valid_days", "total_quantity", "issued_quantity as slot"])
      .executeTakeFirst();
  },

  /** A slot no row holds: after the highest taken one, else the lowest gap. Null when every slot is taken. */
  async freeSlot(trx: Tx, couponId: number, totalQuantity: number): Promise<number | null> {
    const highest = await trx
      .selectFrom("coupon_issued")
      .select((eb) => eb.fn.max("slot").as("slot"))
      .where("coupon_id", "=", couponId)
      .executeTakeFirst();
    const after = (highest?.slot ?? 0) + 1;
    if (after <= totalQuantity) return after;
    const { rows } = await sql<{ slot: number }>`
      SELECT s.slot FROM generate_series(1, ${totalQuantity}::int) AS s(slot)
       WHERE NOT EXISTS (SELECT 1 FROM coupon_issued i WHERE i.coupon_id = ${couponId} AND i.slot = s.slot)
       ORDER BY s.slot LIMIT 1`.execute(trx);
    return rows[0]?.slot ?? null;
  },

  /**
   * Rolls issued_quantity up to the number of rows. Only ever raises it: a roll-up reading an older
   * snapshot than a concurrent one cannot undo it.
   */
  async rollUpIssued(db: Executor, couponId: number): Promise<void> {
    await sql`
      UPDATE coupon_coupons c SET issued_quantity = counted.n
        FROM (SELECT count(*)::int AS n FROM coupon_issued WHERE coupon_id = ${couponId}) counted
       WHERE c.id = ${couponId} AND c.issued_quantity < counted.n`.execute(db);
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

  /**
   * Inserts the customer's coupon at `slot`; undefined when the slot is taken. The UNIQUE
   * (coupon_id, user_id) refuses a second coupon (23505).
   */
  insertIssued(trx: Tx, issued: { couponId: number; userId: number; slot: number; couponQuantity: number; issuedAt: Date; expiresAt: Date }) {
    noteLock(trx, LockRank.IssuedCoupon, 0);
    return trx
      .insertInto("coupon_issued")
      .values({
        coupon_id: issued.couponId,
        user_id: issued.userId,
        slot: issued.slot,
        coupon_quantity: issued.couponQuantity,
        status: "available",
        issued_at: issued.issuedAt,
        expires_at: issued.expiresAt,
      })
      .onConflict((oc) => oc.columns(["coupon_id", "slot"]).doNothing())
      .returning(["id", "issued_at", "expires_at"])
      .executeTakeFirst();
  },

  async insertHistory(trx: Tx, entry: { issuedCouponId: number; action: "issued" | "used" | "restored"; orderId: number | null; at: Date }): Promise<void> {
    await trx
      .insertInto("coupon_history")
      .values({ issued_coupon_id: entry.issuedCouponId, action: entry.action, order_id: entry.orderId, created_at: entry.at })
      .execute();
  },

  /** A customer's coupon with its rule, without locking it. */
  findIssued(db: Executor, issuedCouponId: number) {
    return issuedById(db, issuedCouponId).executeTakeFirst();
  },

  /**
   * A customer's coupon with its rule, locked until the transaction ends (rank IssuedCoupon):
   * share-locked (validate) or exclusive-locked (use, restore). Takes a `Tx` only: no lock outside one.
   * The exclusive lock is FOR NO KEY UPDATE (what updating its status takes anyway), not FOR UPDATE: an
   * order row referencing the coupon takes FOR KEY SHARE on it through its foreign key when inserted,
   * before the wallet lock, and FOR UPDATE would wait on that, deadlocking two orders with one coupon.
   */
  lockIssued(trx: Tx, issuedCouponId: number, mode: "share" | "update") {
    noteLock(trx, LockRank.IssuedCoupon, issuedCouponId);
    const q = issuedById(trx, issuedCouponId);
    return (mode === "share" ? q.forShare("i") : q.forNoKeyUpdate("i")).executeTakeFirst();
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

  /** A coupon's issued coupons by slot (the unique (coupon_id, slot) index), after slot `after`. */
  listIssuedForCoupon(db: Executor, couponId: number, page: { limit: number; after?: number; used?: boolean }) {
    let q = db
      .selectFrom("coupon_issued")
      .select(["id", "user_id", "slot", "status", "issued_at", "expires_at", "used_at", "order_id"])
      .where("coupon_id", "=", couponId)
      .orderBy("slot")
      .limit(page.limit);
    if (page.after !== undefined) q = q.where("slot", ">", page.after);
    if (page.used !== undefined) q = q.where("status", page.used ? "=" : "<>", "used");
    return q.execute();
  },

  async markUsed(trx: Tx, issuedCouponId: number, orderId: number, at: Date): Promise<void> {
    noteLock(trx, LockRank.IssuedCoupon, issuedCouponId);
    await trx.updateTable("coupon_issued").set({ status: "used", used_at: at, order_id: orderId }).where("id", "=", issuedCouponId).execute();
  },

  async markAvailable(trx: Tx, issuedCouponId: number): Promise<void> {
    noteLock(trx, LockRank.IssuedCoupon, issuedCouponId);
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
