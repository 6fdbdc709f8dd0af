import type { Db, Tx } from "../../db/index.ts";
import { inTransaction, pgConstraint, pgErrorCode } from "../../db/index.ts";
import type { Clock, Infra, Logger } from "../kernel/index.ts";
import { DAY, DomainError } from "../kernel/index.ts";
import { type CouponAdmission, createRedisAdmission, type GiveBack, noAdmission } from "./admission.ts";
import { type DiscountRule, discountFor } from "./discount.ts";
import { type CouponRow, couponRepository } from "./repository.ts";
import type { CouponPage, CouponView, CreateCouponInput, IssuedCoupon, MyCoupon } from "./schema.ts";

export interface CouponDeps {
  db: Db;
  clock: Clock;
  infra: Infra;
  logger: Logger;
  /** Set false to send every issue request to the database even with Redis present. */
  redisAdmission?: boolean;
}

type IssuedRow = NonNullable<Awaited<ReturnType<typeof couponRepository.findIssued>>>;

function ruleOf(row: {
  discount_type: "fixed" | "percent";
  discount_value: number;
  max_discount_amount: number | null;
  min_order_amount: number;
}): DiscountRule {
  return {
    discountType: row.discount_type,
    discountValue: row.discount_value,
    maxDiscountAmount: row.max_discount_amount,
    minOrderAmount: row.min_order_amount,
  };
}

function toView(row: CouponRow, now: Date): CouponView {
  const remainingQuantity = row.total_quantity - row.issued_quantity;
  const state = now >= row.issue_ends_at ? "ended" : now < row.issue_starts_at ? "upcoming" : remainingQuantity <= 0 ? "sold_out" : "open";
  return {
    couponId: row.id,
    name: row.name,
    discountType: row.discount_type,
    discountValue: row.discount_value,
    maxDiscountAmount: row.max_discount_amount,
    minOrderAmount: row.min_order_amount,
    totalQuantity: row.total_quantity,
    issuedQuantity: row.issued_quantity,
    remainingQuantity,
    issueStartsAt: row.issue_starts_at,
    issueEndsAt: row.issue_ends_at,
    validDays: row.valid_days,
    state,
  };
}

function toMine(row: IssuedRow, now: Date): MyCoupon {
  const status = row.status === "used" ? "used" : row.expires_at <= now ? "expired" : "available";
  return {
    userCouponId: row.id,
    couponId: row.coupon_id,
    couponName: row.name,
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
    discountType: row.discount_type,
    discountValue: row.discount_value,
    maxDiscountAmount: row.max_discount_amount,
    minOrderAmount: row.min_order_amount,
    status,
    usedAt: row.used_at,
    orderId: row.order_id,
  };
}

export type CouponService = ReturnType<typeof createCouponService>;

export function createCouponService({ db, clock, infra, logger, redisAdmission = true }: CouponDeps) {
  const admission: CouponAdmission =
    infra.redis && redisAdmission
      ? createRedisAdmission(
          infra.redis,
          infra.prefix,
          {
            async load(couponId) {
              const coupon = await couponRepository.findCoupon(db, couponId);
              if (!coupon) return null;
              return {
                remaining: coupon.total_quantity - coupon.issued_quantity,
                holders: await couponRepository.holders(db, couponId),
                issueEndsAt: coupon.issue_ends_at,
              };
            },
          },
          () => clock.now(),
        )
      : noAdmission;

  /**
   * Why the conditional UPDATE took nothing: no coupon, the customer already holds it, window not
   * open or closed, or none left. Reads through the issuing transaction: asking the pool for a second
   * connection while holding one starves the pool when every connection is a refused issuer.
   * A holder hears ALREADY_ISSUED whatever else is true, as Redis admission answers.
   */
  async function refusal(trx: Tx, couponId: number, userId: number, now: Date): Promise<DomainError> {
    const coupon = await couponRepository.findCoupon(trx, couponId);
    if (!coupon) return new DomainError("COUPON_NOT_FOUND", { couponId });
    if (await couponRepository.hasIssued(trx, couponId, userId)) return new DomainError("ALREADY_ISSUED", { couponId });
    if (now < coupon.issue_starts_at) return new DomainError("COUPON_NOT_OPEN", { couponId, issueStartsAt: coupon.issue_starts_at });
    if (now >= coupon.issue_ends_at) return new DomainError("COUPON_CLOSED", { couponId, issueEndsAt: coupon.issue_ends_at });
    return new DomainError("COUPON_SOLD_OUT", { couponId, remainingQuantity: 0 });
  }

  /** The database step of an issue: one unit off the coupon row, the customer's coupon, its history. */
  async function issueInDatabase(userId: number, couponId: number): Promise<IssuedCoupon> {
    const now = clock.now();
    return inTransaction(db, async (trx) => {
      const taken = await couponRepository.takeOne(trx, couponId, now);
      if (!taken) throw await refusal(trx, couponId, userId, now);
      try {
        const issued = await couponRepository.insertIssued(trx, {
          couponId,
          userId,
          issuedAt: now,
          expiresAt: new Date(now.getTime() + taken.valid_days * DAY),
        });
        await couponRepository.insertHistory(trx, { issuedCouponId: issued.id, action: "issued", orderId: null, at: now });
        return { userCouponId: issued.id, couponId, couponName: taken.name, issuedAt: issued.issued_at, expiresAt: issued.expires_at };
      } catch (error) {
        if (pgErrorCode(error) === "23505" && pgConstraint(error) === "coupon_issued_one_per_customer") throw new DomainError("ALREADY_ISSUED", { couponId });
        throw error;
      }
    });
  }

  async function giveBack(couponId: number, userId: number, how: GiveBack): Promise<void> {
    await admission.giveBack(couponId, userId, how).catch((error) => logger.warn({ err: error, couponId, userId }, "coupon admission give-back failed"));
  }

  async function requireOwned(executor: Db | Tx, userId: number, userCouponId: number, lock: "none" | "share" | "update"): Promise<IssuedRow> {
    const row = await couponRepository.findIssued(executor, userCouponId, lock);
    // Another customer's coupon is answered exactly like a missing one.
    if (!row || row.user_id !== userId) throw new DomainError("COUPON_NOT_OWNED", { userCouponId });
    return row;
  }

  /** The checks every use of a coupon passes; returns the discount on `orderAmount`. */
  function checkUsable(row: IssuedRow, orderAmount: number, now: Date): number {
    if (row.status === "used") throw new DomainError("COUPON_ALREADY_USED", { userCouponId: row.id, orderId: row.order_id });
    if (row.expires_at <= now) throw new DomainError("COUPON_EXPIRED", { userCouponId: row.id, expiresAt: row.expires_at });
    if (orderAmount < row.min_order_amount)
      throw new DomainError("COUPON_MIN_ORDER_NOT_MET", { userCouponId: row.id, minOrderAmount: row.min_order_amount, orderAmount });
    return discountFor(ruleOf(row), orderAmount);
  }

  return {
    async create(input: CreateCouponInput): Promise<CouponView> {
      const now = clock.now();
      const row = await couponRepository.insertCoupon(db, {
        name: input.name,
        discount_type: input.discountType,
        discount_value: input.discountValue,
        max_discount_amount: input.discountType === "percent" ? input.maxDiscountAmount : null,
        min_order_amount: input.minOrderAmount,
        total_quantity: input.totalQuantity,
        issue_starts_at: input.issueStartsAt,
        issue_ends_at: input.issueEndsAt,
        valid_days: input.validDays,
        created_at: now,
        updated_at: now,
      });
      return toView(row, now);
    },

    /** Coupons whose issue window has not ended, with what is left. */
    async listIssuable(page: CouponPage = { limit: 100 }): Promise<CouponView[]> {
      const now = clock.now();
      return (await couponRepository.listCoupons(db, now, page)).map((row) => toView(row, now));
    },

    async listAll(includeEnded: boolean, page: CouponPage = { limit: 100 }): Promise<CouponView[]> {
      const now = clock.now();
      return (await couponRepository.listCoupons(db, includeEnded ? null : now, page)).map((row) => toView(row, now));
    },

    async get(couponId: number) {
      const row = await couponRepository.findCoupon(db, couponId);
      if (!row) throw new DomainError("COUPON_NOT_FOUND", { couponId });
      const usage = await couponRepository.usageCounts(db, couponId);
      return { ...toView(row, clock.now()), usedQuantity: Number(usage.used) };
    },

    /**
     * First come, first served: at most the coupon's quantity in total, at most one per customer.
     * Redis admission turns the crowd away early; the database decides.
     */
    async issue(userId: number, couponId: number): Promise<IssuedCoupon> {
      let admitted: Awaited<ReturnType<CouponAdmission["admit"]>>;
      try {
        admitted = await admission.admit(couponId, userId);
      } catch (error) {
        logger.warn({ err: error, couponId }, "coupon admission unavailable; the database decides alone");
        admitted = "skipped";
      }
      if (admitted === "sold_out") throw new DomainError("COUPON_SOLD_OUT", { couponId, remainingQuantity: 0 });
      // Redis remembers a holder; confirm in the database (a cheap indexed read) before saying no.
      if (admitted === "already_holder" && (await couponRepository.hasIssued(db, couponId, userId))) throw new DomainError("ALREADY_ISSUED", { couponId });
      if (admitted !== "admitted") return issueInDatabase(userId, couponId);
      try {
        return await issueInDatabase(userId, couponId);
      } catch (error) {
        const code = error instanceof DomainError ? error.domainCode : null;
        await giveBack(couponId, userId, code === "COUPON_SOLD_OUT" ? "sold_out" : code === "ALREADY_ISSUED" ? "unit_only" : "unit_and_holder");
        throw error;
      }
    },

    async resetAdmission(couponId: number): Promise<void> {
      await admission.reset(couponId);
    },

    async mine(userId: number, status?: "available" | "used" | "expired", page: CouponPage = { limit: 100 }): Promise<MyCoupon[]> {
      const now = clock.now();
      return (await couponRepository.listIssuedForUser(db, userId, { ...page, status, now })).map((row) => toMine(row, now));
    },

    /** What a coupon would take off an order amount, checked under a shared lock. */
    async validate(userId: number, userCouponId: number, orderAmount: number) {
      return inTransaction(db, async (trx) => {
        const row = await requireOwned(trx, userId, userCouponId, "share");
        const discountAmount = checkUsable(row, orderAmount, clock.now());
        return { userCouponId, couponName: row.name, orderAmount, discountAmount, finalAmount: orderAmount - discountAmount };
      });
    },

    async history(userId: number | null, userCouponId: number) {
      const row = userId === null ? await couponRepository.findIssued(db, userCouponId) : await requireOwned(db, userId, userCouponId, "none");
      if (!row) throw new DomainError("COUPON_NOT_FOUND", { userCouponId });
      const entries = await couponRepository.history(db, userCouponId);
      return { userCouponId, couponId: row.coupon_id, entries: entries.map((e) => ({ action: e.action, orderId: e.order_id, at: e.created_at })) };
    },

    // ── for the orders module, inside its transaction ───────────────────────

    /** The discount a coupon gives, without locking (the order locks it later with `use`). */
    async quote(executor: Db | Tx, userId: number, userCouponId: number, orderAmount: number): Promise<number> {
      return checkUsable(await requireOwned(executor, userId, userCouponId, "none"), orderAmount, clock.now());
    },

    /** The rule of a coupon the customer may use on an order of `orderAmount` (same checks as `quote`), for `orderTotals`. */
    async ruleFor(executor: Db | Tx, userId: number, userCouponId: number, orderAmount: number): Promise<DiscountRule> {
      const row = await requireOwned(executor, userId, userCouponId, "none");
      checkUsable(row, orderAmount, clock.now());
      return ruleOf(row);
    },

    /** Locks the coupon (rank IssuedCoupon), checks it again, marks it used by the order. */
    async use(trx: Tx, userId: number, userCouponId: number, orderAmount: number, orderId: number): Promise<number> {
      const row = await requireOwned(trx, userId, userCouponId, "update");
      const discount = checkUsable(row, orderAmount, clock.now());
      const now = clock.now();
      await couponRepository.markUsed(trx, userCouponId, orderId, now);
      await couponRepository.insertHistory(trx, { issuedCouponId: userCouponId, action: "used", orderId, at: now });
      return discount;
    },

    /** Gives a used coupon back after its order was cancelled, if it has not expired. */
    async restore(trx: Tx, userCouponId: number, orderId: number): Promise<boolean> {
      const row = await couponRepository.findIssued(trx, userCouponId, "update");
      const now = clock.now();
      if (row?.status !== "used" || row.order_id !== orderId || row.expires_at <= now) return false;
      await couponRepository.markAvailable(trx, userCouponId);
      await couponRepository.insertHistory(trx, { issuedCouponId: userCouponId, action: "restored", orderId, at: now });
      return true;
    },
  };
}
