import type { Db, Tx } from "../../db/index.ts";
import { inTransaction, pgConstraint, pgErrorCode } from "../../db/index.ts";
import type { Clock, Infra, Logger } from "../kernel/index.ts";
import { DAY, type DomainError } from "../kernel/index.ts";
import {
  type Admission,
  type AdmissionKeys,
  type AdmissionTiming,
  type CouponAdmission,
  createRedisAdmission,
  defaultAdmissionTiming,
  noAdmission,
} from "./admission.ts";
import { type DiscountRule, discountFor } from "./discount.ts";
import { couponsErrors } from "./errors.ts";
import { type CouponRow, couponRepository } from "./repository.ts";
import type { CouponPage, CouponView, CreateCouponInput, IssuedCoupon, IssuedCouponEntry, MyCoupon } from "./schema.ts";

export interface CouponDeps {
  db: Db;
  clock: Clock;
  infra: Infra;
  logger: Logger;
  /** Set false to send every issue request to the database even with Redis present. */
  redisAdmission?: boolean;
  /** How often Redis admission audits a sold-out state against the database, and when it calls it stale. */
  admissionTiming?: Partial<AdmissionTiming>;
}

/** Attempts at a fresh Redis slot when the handed one turned out taken (a stale Redis), before the database path. */
const SLOT_ATTEMPTS = 3;
/** Attempts at a free slot on the database path while Redis winners take the ones it finds. */
const FREE_SLOT_ATTEMPTS = 50;

const isUniqueViolation = (error: unknown, constraint: string) => pgErrorCode(error) === "23505" && pgConstraint(error) === constraint;

/**
 * Runs `work` for a key at most once at a time, and lets callers wait for a run that starts after
 * they asked: many winners share one roll-up instead of queueing on the coupon row one by one.
 */
function coalescer(work: (key: number) => Promise<void>) {
  const running = new Map<number, Promise<void>>();
  const queued = new Map<number, Promise<void>>();
  const start = (key: number) => {
    const run = work(key).finally(() => {
      if (running.get(key) === run) running.delete(key);
    });
    running.set(key, run);
    return run;
  };
  return (key: number): Promise<void> => {
    const waiting = queued.get(key);
    if (waiting) return waiting;
    const current = running.get(key);
    if (!current) return start(key);
    const next = current
      .catch(() => {})
      .then(() => {
        queued.delete(key);
        return start(key);
      });
    queued.set(key, next);
    return next;
  };
}

type SlotIssue = { userId: number; slot: number; now: Date };
type SlotRow = Awaited<ReturnType<typeof couponRepository.insertAtSlots>>[number];

/** Winners written in one statement at most; the rest wait for the next batch. */
const SLOT_BATCH_LIMIT = 500;

/**
 * Group commit for the winners of a coupon: the winners who arrive while one batch is being written
 * go together in the next, one statement and one commit for all of them. A storm's 1,000 winners
 * cost PostgreSQL a few dozen commits instead of 1,000 and do not queue for the pool one by one; a
 * lone winner is written at once. Each waiter gets its row, or undefined when it did not go in (or
 * the batch failed): it is then written alone.
 */
function slotWriter(write: (couponId: number, issues: SlotIssue[]) => Promise<SlotRow[]>, failed: (error: unknown, couponId: number, winners: number) => void) {
  type Waiter = SlotIssue & { resolve(row: SlotRow | undefined): void };
  const waiting = new Map<number, Waiter[]>();
  const writing = new Set<number>();

  async function flush(couponId: number): Promise<void> {
    writing.add(couponId);
    try {
      for (let queue = waiting.get(couponId); queue && queue.length > 0; queue = waiting.get(couponId)) {
        // In slot order, as another instance's batch would take them: two batches never wait on each other crosswise.
        const batch = queue.splice(0, SLOT_BATCH_LIMIT).sort((a, b) => a.slot - b.slot);
        if (queue.length === 0) waiting.delete(couponId);
        try {
          const rows = await write(couponId, batch);
          const byWinner = new Map(rows.map((row) => [`${row.user_id}:${row.slot}`, row]));
          for (const waiter of batch) waiter.resolve(byWinner.get(`${waiter.userId}:${waiter.slot}`));
        } catch (error) {
          failed(error, couponId, batch.length);
          // One winner's row (or a deadlock, a dropped connection) must not fail the others: each is
          // then decided alone, as without batching, and only its own failure is its answer.
          for (const waiter of batch) waiter.resolve(undefined);
        }
      }
    } finally {
      writing.delete(couponId);
    }
  }

  return (couponId: number, issue: SlotIssue): Promise<SlotRow | undefined> =>
    new Promise((resolve) => {
      const queue = waiting.get(couponId);
      if (queue) queue.push({ ...issue, resolve });
      else waiting.set(couponId, [{ ...issue, resolve }]);
      if (!writing.has(couponId)) void flush(couponId);
    });
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
  const remainingQuantity = row.total_quantity - row.issued_count;
  const state = now >= row.issue_ends_at ? "ended" : now < row.issue_starts_at ? "upcoming" : remainingQuantity <= 0 ? "sold_out" : "open";
  return {
    couponId: row.id,
    name: row.name,
    discountType: row.discount_type,
    discountValue: row.discount_value,
    maxDiscountAmount: row.max_discount_amount,
    minOrderAmount: row.min_order_amount,
    totalQuantity: row.total_quantity,
    issuedQuantity: row.issued_count,
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

export function createCouponService({ db, clock, infra, logger, redisAdmission = true, admissionTiming }: CouponDeps) {
  const admission: CouponAdmission =
    infra.redis && redisAdmission
      ? createRedisAdmission(
          infra.redis,
          infra.prefix,
          {
            epoch: () => couponRepository.admissionEpoch(db),
            async load(couponId) {
              const coupon = await couponRepository.findCoupon(db, couponId);
              if (!coupon) return null;
              return {
                total: coupon.total_quantity,
                taken: await couponRepository.takenSlots(db, couponId),
                issueStartsAt: coupon.issue_starts_at,
                issueEndsAt: coupon.issue_ends_at,
              };
            },
          },
          clock,
          { ...defaultAdmissionTiming, ...admissionTiming },
        )
      : noAdmission;

  const writeAtSlot = slotWriter(
    (couponId, issues) => couponRepository.insertAtSlots(db, couponId, issues),
    (error, couponId, winners) => logger.warn({ err: error, couponId, winners }, "coupon winners' batch failed; each is written alone"),
  );

  /** issued_quantity follows the rows: one roll-up at a time per coupon, shared by every winner waiting for it. */
  const rollUp = coalescer((couponId) => couponRepository.rollUpIssued(db, couponId));

  /**
   * Why an issue took nothing: no coupon, the customer already holds it, window not open or closed,
   * or none left. `executor` is the issuing transaction where there is one: asking the pool for a
   * second connection while holding one starves the pool when every connection is a refused issuer.
   * A holder hears ALREADY_ISSUED whatever else is true, as Redis admission answers.
   */
  async function refusal(executor: Db | Tx, couponId: number, userId: number, now: Date): Promise<DomainError> {
    const coupon = await couponRepository.findCoupon(executor, couponId);
    if (!coupon) return couponsErrors.COUPON_NOT_FOUND.create({ couponId });
    if (await couponRepository.hasIssued(executor, couponId, userId)) return couponsErrors.ALREADY_ISSUED.create({ couponId });
    if (now < coupon.issue_starts_at) return couponsErrors.COUPON_NOT_OPEN.create({ couponId, issueStartsAt: coupon.issue_starts_at });
    if (now >= coupon.issue_ends_at) return couponsErrors.COUPON_CLOSED.create({ couponId, issueEndsAt: coupon.issue_ends_at });
    return couponsErrors.COUPON_SOLD_OUT.create({ couponId, remainingQuantity: 0 });
  }

  /**
   * The database path (no Redis, admission off, or Redis unsure): one unit off the coupon row under
   * its lock, the customer's coupon at a free slot, its history.
   */
  async function issueInDatabase(userId: number, couponId: number): Promise<IssuedCoupon> {
    const now = clock.now();
    return inTransaction(db, async (trx) => {
      const taken = await couponRepository.takeOne(trx, couponId, now);
      if (!taken) throw await refusal(trx, couponId, userId, now);
      const expiresAt = new Date(now.getTime() + taken.valid_days * DAY);
      let slot: number | null = taken.slot;
      for (let attempt = 0; attempt < FREE_SLOT_ATTEMPTS; attempt++) {
        if (slot === null) throw await refusal(trx, couponId, userId, now);
        let issued: Awaited<ReturnType<typeof couponRepository.insertIssued>>;
        try {
          issued = await couponRepository.insertIssued(trx, { couponId, userId, slot, couponQuantity: taken.total_quantity, issuedAt: now, expiresAt });
        } catch (error) {
          if (isUniqueViolation(error, "coupon_issued_one_per_customer")) throw couponsErrors.ALREADY_ISSUED.create({ couponId });
          throw error;
        }
        if (issued) {
          await couponRepository.insertHistory(trx, { issuedCouponId: issued.id, action: "issued", orderId: null, at: now });
          // The count was behind the rows Redis winners inserted: bring it up to them.
          if (attempt > 0) await couponRepository.rollUpIssued(trx, couponId);
          return { userCouponId: issued.id, couponId, couponName: taken.name, issuedAt: issued.issued_at, expiresAt: issued.expires_at };
        }
        // A Redis winner holds this slot: the roll-up lags behind the rows.
        slot = await couponRepository.freeSlot(trx, couponId, taken.total_quantity);
      }
      throw new Error(`coupon ${couponId}: no free slot found in ${FREE_SLOT_ATTEMPTS} attempts while slots remain`);
    });
  }

  async function giveBack(couponId: number, userId: number, slot: number, keepHolder: boolean): Promise<void> {
    await admission
      .giveBack(couponId, userId, slot, keepHolder)
      .catch((error) => logger.warn({ err: error, couponId, userId, slot }, "coupon admission give-back failed"));
  }

  /** Redis says sold out and an audit is due: compare with the database, drop a state that lost slots. */
  async function audit(couponId: number): Promise<void> {
    try {
      const coupon = await couponRepository.findCoupon(db, couponId);
      if (!coupon || coupon.issued_count >= coupon.total_quantity) return;
      if (await admission.audit(couponId, coupon.issued_count)) {
        logger.warn({ couponId, issued: coupon.issued_count, total: coupon.total_quantity }, "coupon admission lost slots; rebuilt from the database");
      }
    } catch (error) {
      logger.warn({ err: error, couponId }, "coupon admission audit failed");
    }
  }

  async function admit(couponId: number, userId: number, replacing = false): Promise<Admission> {
    try {
      return await admission.admit(couponId, userId, { replacing });
    } catch (error) {
      logger.warn({ err: error, couponId }, "coupon admission unavailable; the database decides alone");
      return { kind: "skipped" };
    }
  }

  /**
   * The winners' path: the customer's coupon at the slot Redis handed out. Null when the slot was
   * taken already (Redis was stale): the caller asks for another.
   */
  async function issueAtSlot(userId: number, couponId: number, slot: number): Promise<IssuedCoupon | null> {
    const now = clock.now();
    let issued: Awaited<ReturnType<typeof couponRepository.insertAtSlot>>;
    try {
      // With the other winners of the moment; one that did not go in is tried alone, which names why.
      issued = (await writeAtSlot(couponId, { userId, slot, now })) ?? (await couponRepository.insertAtSlot(db, { couponId, userId, slot, now }));
    } catch (error) {
      const holds = isUniqueViolation(error, "coupon_issued_one_per_customer");
      await giveBack(couponId, userId, slot, holds);
      if (holds) throw couponsErrors.ALREADY_ISSUED.create({ couponId });
      throw error;
    }
    if (issued) {
      // The answer waits for a roll-up that includes this coupon, so issued_quantity is exact for every answered issue.
      await rollUp(couponId).catch((error) => logger.warn({ err: error, couponId }, "coupon issued-count roll-up failed"));
      return { userCouponId: issued.id, couponId, couponName: issued.name, issuedAt: issued.issued_at, expiresAt: issued.expires_at };
    }
    const refused = await refusal(db, couponId, userId, now);
    if (refused.domainCode !== "COUPON_SOLD_OUT") {
      await giveBack(couponId, userId, slot, refused.domainCode === "ALREADY_ISSUED");
      throw refused;
    }
    // Open, and the customer holds none: the slot is taken (not handed back: a row holds it), or past the quantity.
    const coupon = await couponRepository.findCoupon(db, couponId);
    if (coupon && slot > coupon.total_quantity) await admission.reset(couponId).catch(() => {});
    return null;
  }

  /** The customer's own coupon; another customer's is answered exactly like a missing one. */
  function owned(row: IssuedRow | undefined, userId: number, userCouponId: number): IssuedRow {
    if (!row || row.user_id !== userId) throw couponsErrors.COUPON_NOT_OWNED.create({ userCouponId });
    return row;
  }

  /** The checks every use of a coupon passes; returns the discount on `orderAmount`. */
  function checkUsable(row: IssuedRow, orderAmount: number, now: Date): number {
    if (row.status === "used") throw couponsErrors.COUPON_ALREADY_USED.create({ userCouponId: row.id, orderId: row.order_id });
    if (row.expires_at <= now) throw couponsErrors.COUPON_EXPIRED.create({ userCouponId: row.id, expiresAt: row.expires_at });
    if (orderAmount < row.min_order_amount)
      throw couponsErrors.COUPON_MIN_ORDER_NOT_MET.create({ userCouponId: row.id, minOrderAmount: row.min_order_amount, orderAmount });
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
      if (!row) throw couponsErrors.COUPON_NOT_FOUND.create({ couponId });
      const usage = await couponRepository.usageCounts(db, couponId);
      return { ...toView(row, clock.now()), usedQuantity: Number(usage.used) };
    },

    /**
     * First come, first served: at most the coupon's quantity in total, at most one per customer.
     * Redis admission turns the crowd away early and hands each winner a slot; the database decides.
     */
    async issue(userId: number, couponId: number): Promise<IssuedCoupon> {
      let admitted = await admit(couponId, userId);
      for (let attempt = 1; ; attempt++) {
        switch (admitted.kind) {
          case "sold_out":
            if (admitted.auditDue) await audit(couponId);
            throw couponsErrors.COUPON_SOLD_OUT.create({ couponId, remainingQuantity: 0 });
          case "not_open":
            throw couponsErrors.COUPON_NOT_OPEN.create({ couponId, issueStartsAt: admitted.issueStartsAt });
          case "closed":
            throw couponsErrors.COUPON_CLOSED.create({ couponId, issueEndsAt: admitted.issueEndsAt });
          case "already_holder":
            // Redis remembers a holder; confirm in the database (a cheap indexed read) before saying no.
            // Not there: an issue in flight, or a slot lost with its process. The database path decides.
            if (await couponRepository.hasIssued(db, couponId, userId)) throw couponsErrors.ALREADY_ISSUED.create({ couponId });
            return issueInDatabase(userId, couponId);
          case "skipped":
            return issueInDatabase(userId, couponId);
          case "slot": {
            const issued = await issueAtSlot(userId, couponId, admitted.slot);
            if (issued) return issued;
            if (attempt >= SLOT_ATTEMPTS) return issueInDatabase(userId, couponId);
            admitted = await admit(couponId, userId, true);
          }
        }
      }
    },

    /** The Redis keys of a coupon's admission state; null without Redis admission. */
    async admissionKeys(couponId: number): Promise<AdmissionKeys | null> {
      return admission === noAdmission ? null : admission.keys(couponId);
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
        const row = owned(await couponRepository.lockIssued(trx, userCouponId, "share"), userId, userCouponId);
        const discountAmount = checkUsable(row, orderAmount, clock.now());
        return { userCouponId, couponName: row.name, orderAmount, discountAmount, finalAmount: orderAmount - discountAmount };
      });
    },

    /** Who got the coupon, in slot order (first come first), a page at a time. */
    async listIssued(input: { couponId: number; used?: boolean; limit: number; after?: number }): Promise<IssuedCouponEntry[]> {
      const rows = await couponRepository.listIssuedForCoupon(db, input.couponId, input);
      // An empty page of a coupon that does not exist is an unknown coupon, not an empty list.
      if (rows.length === 0 && !(await couponRepository.findCoupon(db, input.couponId)))
        throw couponsErrors.COUPON_NOT_FOUND.create({ couponId: input.couponId });
      const now = clock.now();
      return rows.map((row) => ({
        userCouponId: row.id,
        userId: row.user_id,
        slot: row.slot,
        status: row.status === "used" ? "used" : row.expires_at <= now ? "expired" : "available",
        issuedAt: row.issued_at,
        expiresAt: row.expires_at,
        usedAt: row.used_at,
        orderId: row.order_id,
      }));
    },

    async history(userId: number | null, userCouponId: number) {
      const found = await couponRepository.findIssued(db, userCouponId);
      const row = userId === null ? found : owned(found, userId, userCouponId);
      if (!row) throw couponsErrors.COUPON_NOT_FOUND.create({ userCouponId });
      const entries = await couponRepository.history(db, userCouponId);
      return { userCouponId, couponId: row.coupon_id, entries: entries.map((e) => ({ action: e.action, orderId: e.order_id, at: e.created_at })) };
    },

    // ── for the orders module, inside its transaction ───────────────────────

    /** The rule of a coupon the customer may use on an order of `orderAmount` (same checks as `quote`), for `orderTotals`. */
    async ruleFor(executor: Db | Tx, userId: number, userCouponId: number, orderAmount: number): Promise<DiscountRule> {
      const row = owned(await couponRepository.findIssued(executor, userCouponId), userId, userCouponId);
      checkUsable(row, orderAmount, clock.now());
      return ruleOf(row);
    },

    /**
     * Locks the coupon (rank IssuedCoupon), checks it again, marks it used by the order. The order's
     * discount is not recomputed here: the order priced it once, with `ruleFor` and `orderTotals`.
     */
    async use(trx: Tx, userId: number, userCouponId: number, orderAmount: number, orderId: number): Promise<void> {
      const row = owned(await couponRepository.lockIssued(trx, userCouponId, "update"), userId, userCouponId);
      const now = clock.now();
      checkUsable(row, orderAmount, now);
      await couponRepository.markUsed(trx, userCouponId, orderId, now);
      await couponRepository.insertHistory(trx, { issuedCouponId: userCouponId, action: "used", orderId, at: now });
    },

    /**
     * The rule of a coupon an unpaid order holds, when its lines change: locked (rank IssuedCoupon),
     * still held by that order, and the new subtotal still reaching its minimum. Its expiry was
     * checked when the order took it; the order keeps it until paid, cancelled or lapsed.
     */
    async ruleForHeld(trx: Tx, userCouponId: number, orderId: number, orderAmount: number): Promise<DiscountRule> {
      const row = await couponRepository.lockIssued(trx, userCouponId, "update");
      if (row?.status !== "used" || row.order_id !== orderId) throw couponsErrors.COUPON_NOT_OWNED.create({ userCouponId });
      if (orderAmount < row.min_order_amount)
        throw couponsErrors.COUPON_MIN_ORDER_NOT_MET.create({ userCouponId, minOrderAmount: row.min_order_amount, orderAmount });
      return ruleOf(row);
    },

    /** Gives a used coupon back after its order was cancelled, if it has not expired. */
    async restore(trx: Tx, userCouponId: number, orderId: number): Promise<boolean> {
      const row = await couponRepository.lockIssued(trx, userCouponId, "update");
      const now = clock.now();
      if (row?.status !== "used" || row.order_id !== orderId || row.expires_at <= now) return false;
      await couponRepository.markAvailable(trx, userCouponId);
      await couponRepository.insertHistory(trx, { issuedCouponId: userCouponId, action: "restored", orderId, at: now });
      return true;
    },
  };
}

/**
 * After a database is restored from a backup it holds the backup's admission epoch, so Redis state
 * written since the backup would look like its own: a new epoch makes admission start fresh.
 */
export function renewAdmissionEpoch(db: Db): Promise<void> {
  return couponRepository.renewAdmissionEpoch(db);
}
