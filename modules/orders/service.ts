import { z } from "zod";
import type { Db, Tx } from "../../db/index.ts";
import { deferring, inTransaction } from "../../db/index.ts";
import type { OrderTotals } from "../coupons/index.ts";
import {
  type AnswerReference,
  claimInTransaction,
  completeInTransaction,
  hashRequest,
  type IdempotentRequest,
  keyWasUsed,
  outcomeOfTakenKey,
  type Rebuild,
} from "../idempotency/index.ts";
import type { Clock, Logger, Page, Role } from "../kernel/index.ts";
import { createPiiCipher, decodeCursor, developmentPiiKeys, encodeCursor, isDomainError, MINUTE, periodicTask } from "../kernel/index.ts";
import { deliveryStates } from "../outbox/index.ts";
import { createPlacementBatcher } from "./batch.ts";
import { ordersErrors } from "./errors.ts";
import { orderCancelled, orderRefunded } from "./events.ts";
import type { OrderStatus } from "./lifecycle.ts";
import { assertTransition, canTransition, isPaid } from "./lifecycle.ts";
import { ORDER_REFERENCE, type OrderRow, orderRepository } from "./repository.ts";
import type {
  CancelledOrder,
  OrderDetail,
  OrderFilter,
  OrderLineView,
  OrderSummary,
  PendingOrder,
  PlacedOrder,
  PlaceOrderInput,
  RefundedOrder,
  ReorderResult,
  ShippableOrder,
} from "./schema.ts";
import {
  createOrderWorkflow,
  type Forward,
  type OrderDraft,
  type Outside,
  type PaymentChoice,
  type PaymentPlan,
  type Phase,
  planPayment,
  SHIPPING_ADDRESS_COLUMN,
  type WorkflowDeps,
} from "./workflow.ts";

export type { OrderCard, OrderWallet, PaymentChoice } from "./workflow.ts";

export interface OrdersConfig {
  /** How long a two-step (pending payment) order keeps its stock and coupon. */
  paymentWindowMs: number;
  sweepIntervalMs: number;
  /** Most orders placed at once in one transaction (batch.ts); 1 places every order on its own. */
  batchSize: number;
  /** Batches running at once, each on one pooled connection. */
  batchConcurrency: number;
  /** Longest wait for a batch before SERVICE_UNAVAILABLE (the pool's connection timeout). */
  batchMaxWaitMs: number;
}

const defaultOrdersConfig: OrdersConfig = { paymentWindowMs: 15 * MINUTE, sweepIntervalMs: 30_000, batchSize: 32, batchConcurrency: 2, batchMaxWaitMs: 15_000 };

export interface OrdersDeps extends WorkflowDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  config?: Partial<OrdersConfig>;
}

export interface Actor {
  userId: number;
  role: Role;
}

function toSummary(row: OrderRow, shippingAddress: string | null): OrderSummary {
  return {
    orderId: row.id,
    userId: row.user_id,
    status: row.status,
    subtotalAmount: row.subtotal_amount,
    discountAmount: row.discount_amount,
    finalAmount: row.final_amount,
    userCouponId: row.issued_coupon_id,
    createdAt: row.created_at,
    paidAt: row.paid_at,
    paymentDueAt: row.payment_due_at,
    cancelledAt: row.cancelled_at,
    cancelReason: row.cancel_reason,
    refundedAt: row.refunded_at,
    refundReason: row.refund_reason,
    shippingAddress,
  };
}

function toLineViews(lines: Awaited<ReturnType<typeof orderRepository.lines>>): OrderLineView[] {
  return lines.map((l) => ({ productId: l.product_id, productName: l.product_name, unitPrice: l.unit_price, quantity: l.quantity, lineAmount: l.line_amount }));
}

export type OrdersService = ReturnType<typeof createOrdersService>;

/** Thrown out of an order's transaction when its key was there first: rolls back (nothing was written) and answers `replay`. */
class EarlierAnswer {
  constructor(readonly replay: unknown) {}
}

/**
 * Thrown at the start of an order's first (unread-tail) transaction, before any statement, when
 * every product it was priced with has been read sold out since: at a sell-out, the orders priced
 * just before it and still waiting for a connection would each run a whole transaction only for
 * the stock take to refuse it. The order runs again the careful way, which prices it again.
 */
class SoldOutMeanwhile {}

export function createOrdersService(deps: OrdersDeps) {
  const { db, clock, logger } = deps;
  const config = { ...defaultOrdersConfig, ...deps.config };
  const cipher = deps.cipher ?? createPiiCipher(developmentPiiKeys);
  const workflow = createOrderWorkflow({ ...deps, cipher });
  const openAddress = (row: Pick<OrderRow, "shipping_address">) =>
    row.shipping_address === null ? Promise.resolve(null) : cipher.open(row.shipping_address, SHIPPING_ADDRESS_COLUMN);
  const summaryOf = async (row: OrderRow) => toSummary(row, await openAddress(row));

  async function detail(row: OrderRow): Promise<OrderDetail> {
    const [lines, payments, refunds, sync] = await Promise.all([
      orderRepository.lines(db, row.id),
      orderRepository.payments(db, row.id),
      orderRepository.refunds(db, row.id),
      deliveryStates(db, "order", [row.id], "order.paid", "data-platform"),
    ]);
    const state = sync.get(String(row.id));
    const [first] = payments;
    return {
      ...(await summaryOf(row)),
      lines: toLineViews(lines),
      payment: first
        ? {
            method: payments.length > 1 ? "split" : first.method,
            amount: payments.reduce((sum, p) => sum + p.amount, 0),
            status: first.status,
            createdAt: first.created_at,
          }
        : null,
      payments: payments.map((p) => ({ method: p.method, amount: p.amount, status: p.status, createdAt: p.created_at })),
      refunds: refunds.map((r) => ({
        kind: r.kind,
        walletAmount: r.wallet_amount,
        cardAmount: r.card_amount,
        reason: r.reason,
        actorId: r.actor_id,
        createdAt: r.created_at,
      })),
      sync: state
        ? {
            synced: state.synced,
            status: state.status,
            attempts: state.attempts,
            lastError: state.lastError,
            nextRetryAt: state.nextRetryAt,
            syncedAt: state.syncedAt,
          }
        : null,
    };
  }

  async function page(filter: Parameters<typeof orderRepository.list>[1] & { cursor?: string }): Promise<Page<OrderSummary>> {
    const beforeId = decodeCursor(filter.cursor, z.number().int());
    const rows = await orderRepository.list(db, { ...filter, beforeId, limit: filter.limit + 1 });
    const items = rows.slice(0, filter.limit);
    const last = items.at(-1);
    return { items: await Promise.all(items.map(summaryOf)), nextCursor: rows.length > filter.limit && last ? encodeCursor(last.id) : null };
  }

  /**
   * The edge of place, create and pay: one transaction, the idempotency key claimed first (rank
   * IdempotencyKey) and completed by `answer` — which the workflow calls before its hot step.
   * With `claimInFirstInsert` (an order priced before the transaction) the key is not claimed here:
   * the body gets it as `keyClaim`, and the order step claims it in the order's own insert (one
   * statement and one round trip fewer per keyed order). `rebuild` turns a key that stored a reference
   * (an order placed in a batch, batch.ts) back into its answer.
   */
  async function idempotently<T>(
    userId: number,
    scope: string,
    key: string | undefined,
    request: unknown,
    body: (trx: Tx, now: Date, answer: (result: T) => Promise<void>, keyClaim: Forward["keyClaim"]) => Promise<T>,
    { claimInFirstInsert = false, rebuild }: { claimInFirstInsert?: boolean; rebuild?: (trx: Tx) => Rebuild<T> } = {},
  ): Promise<T> {
    const claim: IdempotentRequest | null = key ? { userId, scope, key, requestHash: hashRequest(request) } : null;
    try {
      return await inTransaction(db, async (trx) => {
        const now = clock.now();
        let keyClaim: Forward["keyClaim"] = null;
        if (claim && claimInFirstInsert) {
          keyClaim = {
            scope,
            key: claim.key,
            requestHash: claim.requestHash,
            // A key the statement saw is replayed or refused; one its snapshot could not see (a
            // concurrent claim committed while it waited on it) is claimed again the plain way.
            async taken(existing) {
              const earlier = (await outcomeOfTakenKey<T>(claim, existing, rebuild?.(trx))) ?? (await claimInTransaction<T>(trx, claim, now, rebuild?.(trx)));
              if (earlier) throw new EarlierAnswer(earlier.replay);
            },
          };
        } else if (claim) {
          const earlier = await claimInTransaction<T>(trx, claim, now, rebuild?.(trx));
          if (earlier) return earlier.replay;
        }
        let answered = false;
        const answer = async (result: T) => {
          if (claim && !answered) await completeInTransaction(trx, claim, result, now);
          answered = true;
        };
        const result = await body(trx, now, answer, keyClaim);
        await answer(result);
        return result;
      });
    } catch (error) {
      // The key was there first: its answer, out of a transaction that wrote nothing.
      if (error instanceof EarlierAnswer) return error.replay as T;
      throw error;
    }
  }

  /**
   * Prices before the transaction: a refusal (sold out, say) costs one read and no transaction.
   * With an idempotency key used before, a refusal now is not the answer to give (the first
   * attempt may have succeeded): null, and the transaction's claim replays or prices again.
   */
  async function priceFirst(userId: number, scope: string, key: string | undefined, request: Omit<PlaceOrderInput, "idempotencyKey">) {
    try {
      return await workflow.price(db, userId, request);
    } catch (error) {
      if (key && isDomainError(error) && (await keyWasUsed(db, { userId, scope, key }))) return null;
      throw error;
    }
  }

  const nothingOutside = (): Outside => ({ card: null, cardTaken: false, afterCommit: [] });

  const forwardRun = (trx: Tx, now: Date, draft: OrderDraft, phases: Phase[], outside: Outside, unreadTail: boolean, orderId = 0): Forward => ({
    trx,
    now,
    draft,
    phases,
    orderId,
    balanceAfter: null,
    outside,
    unreadTail,
  });

  /**
   * Runs an order with its tail unread (sent with the COMMIT, workflow.ts `unreadTail`); when the
   * tail refused (short stock, or a low-stock crossing whose event needs the answer read), runs it
   * again from the start the careful way. The first attempt rolled back whole, its key included.
   * Every attempt prices first outside any transaction (`priceFirst`), so at a sell-out the careful
   * run refuses with INSUFFICIENT_STOCK from that read (or the catalog's memory of it), before any
   * second transaction opens. A first attempt whose products were read sold out after it was priced
   * does not open its transaction at all (`SoldOutMeanwhile`) and goes the careful way too.
   */
  async function tailWithCommit<T>(attempt: (unreadTail: boolean) => Promise<T>): Promise<T> {
    try {
      return await attempt(true);
    } catch (error) {
      if (!(error instanceof SoldOutMeanwhile) && !deps.catalog.mustTakeCarefully(error)) throw error;
    }
    return attempt(false);
  }

  /** See `SoldOutMeanwhile`: nothing is sent yet (BEGIN goes with the first statement), so nothing is spent. */
  function refuseIfSoldOutMeanwhile(priced: OrderDraft | null): void {
    if (priced && deps.catalog.soldOutFromMemory(priced.stockLines.map((line) => line.productId))) throw new SoldOutMeanwhile();
  }

  function placedAnswer(run: Forward, createdAt: Date): PlacedOrder {
    return paidAnswer(run.orderId, run.draft.totals, run.draft.payment, run.balanceAfter, createdAt);
  }

  function paidAnswer(orderId: number, totals: OrderTotals, paid: PaymentPlan, balanceAfter: number | null, createdAt: Date): PlacedOrder {
    const { wallet, card } = paid;
    return {
      orderId,
      status: "paid",
      subtotalAmount: totals.subtotalAmount,
      discountAmount: totals.discountAmount,
      finalAmount: totals.finalAmount,
      remainingBalance: balanceAfter ?? 0,
      payments: [
        ...(card > 0 ? [{ method: "card" as const, amount: card }] : []),
        ...(wallet > 0 || card === 0 ? [{ method: "wallet" as const, amount: wallet }] : []),
      ],
      createdAt,
    };
  }

  /**
   * The answer `place` gave for an order whose idempotency key names it (placed in a batch, batch.ts),
   * read back from what that order wrote: its totals, payments, creation time and its debit's balance.
   */
  const rebuildPlaced =
    (trx: Tx): Rebuild<PlacedOrder> =>
    async (reference: AnswerReference) => {
      const order = reference.kind === ORDER_REFERENCE ? await orderRepository.findOrder(trx, reference.id) : undefined;
      if (!order) throw new Error(`orders: an idempotency key names ${reference.kind} ${reference.id}, which is not there`);
      const payments = await orderRepository.payments(trx, order.id);
      const paidBy = (method: string) => payments.filter((p) => p.method === method).reduce((sum, p) => sum + p.amount, 0);
      const balanceAfter = await deps.wallet.balanceAfterPayment(trx, order.user_id, order.id);
      const totals = { subtotalAmount: order.subtotal_amount, discountAmount: order.discount_amount, finalAmount: order.final_amount };
      return paidAnswer(order.id, totals, { wallet: paidBy("wallet"), card: paidBy("card") }, balanceAfter, order.created_at);
    };

  /**
   * The outside calls before the transaction (the card authorization). Skipped when the key was used
   * before: the transaction replays that answer and needs nothing from outside.
   */
  async function prepareOutside(userId: number, scope: string, key: string | undefined, plan: PaymentPlan | undefined): Promise<Outside> {
    if (!plan || plan.card === 0) return nothingOutside();
    if (key && (await keyWasUsed(db, { userId, scope, key }))) return nothingOutside();
    return workflow.prepare(userId, plan);
  }

  /** Runs the transaction, then the after-commit work; an authorization it did not take is let go. */
  async function withOutside<T>(outside: Outside, transaction: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await transaction();
    } catch (error) {
      await workflow.finish(outside, false);
      throw error;
    }
    await workflow.finish(outside, true);
    return result;
  }

  async function runAfterCommit(work: Array<() => Promise<void>>): Promise<void> {
    for (const step of work) await step();
  }

  async function sweepExpired(batch = 100): Promise<number> {
    const now = clock.now();
    let released = 0;
    for (const orderId of await orderRepository.duePendingOrderIds(db, now, batch)) {
      const done = await inTransaction(db, async (trx) => {
        const order = await orderRepository.lockOrder(trx, orderId);
        // Paid or cancelled in the meantime: nothing to release.
        if (order?.status !== "pending_payment" || !order.payment_due_at || order.payment_due_at > now) return false;
        await workflow.backward(trx, order, "payment window lapsed", null);
        await orderRepository.setStatus(trx, orderId, "expired", now);
        return true;
      });
      if (done) released++;
    }
    return released;
  }

  const sweeper = periodicTask(config.sweepIntervalMs, sweepExpired, (error) => logger.error({ err: error }, "pending-order sweep failed"));

  const batcher =
    config.batchSize > 1
      ? createPlacementBatcher({
          db,
          clock,
          workflow,
          soldOutMeanwhile: (draft) => deps.catalog.soldOutFromMemory(draft.stockLines.map((line) => line.productId)) !== null,
          answerOf: placedAnswer,
          logger,
          maxBatch: config.batchSize,
          maxConcurrent: config.batchConcurrency,
          maxWaitMs: config.batchMaxWaitMs,
        })
      : null;

  return {
    /** What the placement batcher did (batch.ts); null when batches are off (`batchSize` 1). */
    batchStats: () => batcher?.stats() ?? null,

    /**
     * Places and pays an order in ONE transaction (seed 004 §2): every step of the workflow. A card
     * part is authorized before the transaction and captured after it (workflow.ts, `prepare`).
     * While the database is busy, an order paid from the wallet alone shares its transaction with
     * others placed at the same time (batch.ts); what it answers and writes is the same.
     */
    async place(userId: number, input: PlaceOrderInput): Promise<PlacedOrder> {
      const { idempotencyKey, ...request } = input;
      return tailWithCommit(async (unreadTail) => {
        const priced = await priceFirst(userId, "orders.place", idempotencyKey, request);
        // Paid from the wallet alone, no coupon, not from the cart: with other orders in one transaction when it can.
        if (unreadTail && batcher && priced && workflow.batchable(priced)) {
          const placed = await batcher.place({ userId, idempotencyKey, request, draft: priced });
          if (placed) return placed;
        }
        const outside = await prepareOutside(userId, "orders.place", idempotencyKey, priced?.payment);
        return withOutside(outside, () =>
          idempotently<PlacedOrder>(
            userId,
            "orders.place",
            idempotencyKey,
            request,
            async (trx, now, answer, keyClaim) => {
              if (unreadTail) refuseIfSoldOutMeanwhile(priced);
              const run = forwardRun(trx, now, priced ?? (await workflow.price(trx, userId, request)), ["reserve", "settle"], outside, unreadTail);
              run.keyClaim = keyClaim;
              await workflow.forward(run, () => answer(placedAnswer(run, now)));
              return placedAnswer(run, now);
            },
            // Priced already: the key can wait for the order's insert (unpriced, the key may hold the answer).
            { claimInFirstInsert: priced !== null, rebuild: rebuildPlaced },
          ),
        );
      });
    },

    /** Two-step flow (seed 003): the reserve steps now; `pay` runs the settle steps within the payment window. */
    async create(userId: number, input: PlaceOrderInput): Promise<PendingOrder> {
      const { idempotencyKey, ...request } = input;
      return tailWithCommit(async (unreadTail) => {
        const priced = await priceFirst(userId, "orders.create", idempotencyKey, request);
        return idempotently<PendingOrder>(
          userId,
          "orders.create",
          idempotencyKey,
          request,
          async (trx, now, answer, keyClaim) => {
            if (unreadTail) refuseIfSoldOutMeanwhile(priced);
            const paymentDueAt = new Date(now.getTime() + config.paymentWindowMs);
            const draft = { ...(priced ?? (await workflow.price(trx, userId, request))), paymentDueAt };
            const run = forwardRun(trx, now, draft, ["reserve"], nothingOutside(), unreadTail);
            run.keyClaim = keyClaim;
            const pending = (): PendingOrder => ({ orderId: run.orderId, status: "pending_payment", ...run.draft.totals, paymentDueAt, createdAt: now });
            await workflow.forward(run, () => answer(pending()));
            return pending();
          },
          { claimInFirstInsert: priced !== null },
        );
      });
    },

    /** Pays a pending order (the wallet unless `payment` says otherwise): the settle steps. */
    async pay(userId: number, orderId: number, idempotencyKey?: string, payment?: PaymentChoice): Promise<PlacedOrder> {
      // The request as before card payments when no method is given (same idempotency hash).
      const request = payment ? { orderId, payment } : { orderId };
      let outside = nothingOutside();
      if (payment && payment.method !== "wallet") {
        // Read without a lock to learn the amount; the transaction checks it all again under the lock.
        const order = await orderRepository.findOrder(db, orderId);
        const payable = order?.user_id === userId && order.status === "pending_payment" && !(order.payment_due_at && order.payment_due_at <= clock.now());
        if (order && payable) outside = await prepareOutside(userId, "orders.pay", idempotencyKey, planPayment(payment, order.final_amount));
      }
      return withOutside(outside, () =>
        idempotently<PlacedOrder>(userId, "orders.pay", idempotencyKey, request, async (trx, now, answer) => {
          const order = await orderRepository.lockOrder(trx, orderId);
          if (!order || order.user_id !== userId) throw ordersErrors.ORDER_NOT_FOUND.create({ orderId });
          assertTransition(orderId, order.status, "paid");
          if (order.payment_due_at && order.payment_due_at <= now)
            throw ordersErrors.ORDER_PAYMENT_EXPIRED.create({ orderId, paymentDueAt: order.payment_due_at });
          const draft = workflow.draftOf(order, await orderRepository.lines(trx, orderId), payment);
          // No hot step: the answer goes with the COMMIT; nothing in it can refuse.
          const run = forwardRun(trx, now, draft, ["settle"], outside, true, orderId);
          await workflow.forward(run, () => answer(placedAnswer(run, order.created_at)));
          return placedAnswer(run, order.created_at);
        }),
      );
    },

    /**
     * Cancels before shipping, in one transaction: the inverse of every step the order went
     * through (money back, coupon restored if still valid, stock back, the sale taken back), an outbox event.
     */
    async cancel(actor: Actor, orderId: number, reason: string | undefined): Promise<CancelledOrder> {
      const { cancelled, afterCommit } = await inTransaction(db, async (trx) => {
        const now = clock.now();
        const order = await orderRepository.lockOrder(trx, orderId);
        if (!order || (actor.role !== "admin" && order.user_id !== actor.userId)) throw ordersErrors.ORDER_NOT_FOUND.create({ orderId });
        assertTransition(orderId, order.status, "cancelled");
        const cancelReason = reason ?? (actor.role === "admin" ? "cancelled by an operator" : "cancelled by the customer");
        const { refundedAmount, refunded, couponRestored, afterCommit } = await workflow.backward(trx, order, cancelReason, actor.userId);
        await orderRepository.setStatus(trx, orderId, "cancelled", now, { cancelledAt: now, cancelReason });
        if (isPaid(order.status)) {
          await orderRepository.insertRefund(trx, {
            order_id: orderId,
            kind: "cancellation",
            wallet_amount: refunded.wallet,
            card_amount: refunded.card,
            reason: cancelReason,
            actor_id: actor.userId,
            created_at: now,
          });
        }
        await deps.events.publish(trx, now, [
          orderCancelled.event(orderId, {
            orderId,
            userId: order.user_id,
            refundedAmount,
            refunded,
            couponRestored,
            reason: cancelReason,
            cancelledAt: now.toISOString(),
          }),
        ]);
        const result: CancelledOrder = { orderId, status: "cancelled", refundedAmount, refunded, couponRestored, cancelledAt: now };
        return { cancelled: result, afterCommit };
      });
      // The card's money goes back after the commit (recovery finishes it if this process dies).
      await runAfterCommit(afterCommit);
      return cancelled;
    },

    /**
     * Refunds a delivered order (a return), admin only: the inverses of the settle steps (money
     * back, the sale taken back); the coupon stays used; the goods go back in stock only if they came back.
     */
    async refund(orderId: number, reason: string, restock: boolean, actorId: number): Promise<RefundedOrder> {
      const { returned, afterCommit } = await inTransaction(db, async (trx) => {
        const now = clock.now();
        const order = await orderRepository.lockOrder(trx, orderId);
        if (!order) throw ordersErrors.ORDER_NOT_FOUND.create({ orderId });
        assertTransition(orderId, order.status, "refunded");
        const back = await workflow.backward(trx, order, `returned: ${reason}`, actorId, restock ? ["coupon"] : ["coupon", "stock"]);
        // A refund is not a cancellation: its own fields and record.
        await orderRepository.setStatus(trx, orderId, "refunded", now, { refundedAt: now, refundReason: reason });
        await orderRepository.insertRefund(trx, {
          order_id: orderId,
          kind: "return",
          wallet_amount: back.refunded.wallet,
          card_amount: back.refunded.card,
          reason,
          actor_id: actorId,
          created_at: now,
        });
        await deps.events.publish(trx, now, [
          orderRefunded.event(orderId, {
            orderId,
            userId: order.user_id,
            refundedAmount: back.refundedAmount,
            refunded: back.refunded,
            restocked: restock,
            reason,
            refundedAt: now.toISOString(),
          }),
        ]);
        const result: RefundedOrder = {
          orderId,
          status: "refunded",
          refundedAmount: back.refundedAmount,
          refunded: back.refunded,
          restocked: restock,
          refundedAt: now,
        };
        return { returned: result, afterCommit: back.afterCommit };
      });
      await runAfterCommit(afterCommit);
      return returned;
    },

    /**
     * A new shipping address for an order not yet booked with the carrier (pending payment, or paid
     * and waiting for its booking). Once booked (preparing) the label exists: INVALID_ORDER_STATE,
     * cancel and order again. The shipping module compares the address it booked with under the
     * order's lock, so a change that lands while a booking is under way is not lost (see shipping).
     */
    async changeAddress(actor: Actor, orderId: number, to: { shippingAddress?: string; addressId?: number }): Promise<OrderSummary> {
      return inTransaction(db, async (trx) => {
        const now = clock.now();
        const order = await orderRepository.lockOrder(trx, orderId);
        if (!order || (actor.role !== "admin" && order.user_id !== actor.userId)) throw ordersErrors.ORDER_NOT_FOUND.create({ orderId });
        if (order.status !== "pending_payment" && order.status !== "paid")
          throw ordersErrors.INVALID_ORDER_STATE.create({ orderId, status: order.status, attempted: "changeAddress", allowed: ["pending_payment", "paid"] });
        // An address book entry is always the order owner's own (ADDRESS_NOT_FOUND otherwise).
        const sealed = await workflow.shippingAddressOf(trx, order.user_id, to);
        // The input names one or the other (changeAddressInput); an unknown entry is the address book's ADDRESS_NOT_FOUND.
        if (!sealed) throw new Error("changeAddress: neither an address nor an address book entry was given");
        await orderRepository.setShippingAddress(trx, orderId, sealed, now);
        return summaryOf({ ...order, shipping_address: sealed, updated_at: now });
      });
    },

    /**
     * An operator replaces an unpaid (two-step) order's lines: today's prices, stock taken or given
     * back for the difference, the held coupon checked against the new subtotal, all under the
     * order's lock and the reserve steps' locks (workflow.editReserved). The payment window stays.
     */
    async editLines(orderId: number, items: Array<{ productId: number; quantity: number }>, reason: string, actorId: number): Promise<OrderDetail> {
      const row = await inTransaction(db, async (trx) => {
        const now = clock.now();
        const order = await orderRepository.lockOrder(trx, orderId);
        if (!order) throw ordersErrors.ORDER_NOT_FOUND.create({ orderId });
        if (order.status !== "pending_payment")
          throw ordersErrors.INVALID_ORDER_STATE.create({ orderId, status: order.status, attempted: "editLines", allowed: ["pending_payment"] });
        if (order.payment_due_at && order.payment_due_at <= now)
          throw ordersErrors.ORDER_PAYMENT_EXPIRED.create({ orderId, paymentDueAt: order.payment_due_at });
        // The operator and the reason are written with each stock movement of the edit.
        await workflow.editReserved(trx, order, items, { actorId, reason: `order lines edited: ${reason}` }, now);
        return orderRepository.findOrder(trx, orderId);
      });
      if (!row) throw ordersErrors.ORDER_NOT_FOUND.create({ orderId });
      return detail(row);
    },

    /** A past order's lines back into the customer's cart, in one call (cart.addMany's rules). */
    async reorder(userId: number, orderId: number): Promise<ReorderResult> {
      const order = await orderRepository.findOrder(db, orderId);
      if (!order || order.user_id !== userId) throw ordersErrors.ORDER_NOT_FOUND.create({ orderId });
      const lines = await orderRepository.lines(db, orderId);
      return deps.cart.addMany(
        userId,
        lines.map((l) => ({ productId: l.product_id, productName: l.product_name, quantity: l.quantity })),
      );
    },

    // ── for erasing an account (customers module) ───────────────────────────

    /**
     * Inside the erasing transaction: locks the customer's orders (rank Order) and refuses while one
     * is still under way (unpaid, paid, preparing, shipped: the shipment and the payment need it);
     * otherwise erases the address copies. The orders, their lines and payments stay: the books.
     */
    async eraseInTransaction(trx: Tx, userId: number): Promise<{ orders: number }> {
      const rows = await orderRepository.lockOrdersOf(trx, userId);
      const open = rows.filter((r) => r.status === "pending_payment" || r.status === "paid" || r.status === "preparing" || r.status === "shipped");
      if (open.length > 0) throw ordersErrors.ACCOUNT_HAS_OPEN_ORDERS.create({ userId, orderIds: open.map((r) => r.id).slice(0, 20) });
      await orderRepository.eraseShippingAddresses(trx, userId);
      return { orders: rows.length };
    },

    // ── for the shipping module ─────────────────────────────────────────────

    /** An order as shipping sees it (no lock). */
    async shippable(executor: Db | Tx, orderId: number): Promise<ShippableOrder | null> {
      const row = await orderRepository.findShippable(executor, orderId);
      if (!row) return null;
      return { orderId: row.id, userId: row.user_id, status: row.status, shippingAddress: await openAddress(row), lines: toLineViews(row.lines) };
    },

    /**
     * Moves an order along with its shipment, inside the caller's transaction: locks the order
     * (rank Order, before the shipment) and moves it if the lifecycle allows. Returns the status it
     * had and whether it is now at `to`; a move the lifecycle refuses changes nothing (`reached`
     * false), and the caller decides from `from` (see canTransition, assertTransition).
     * Moving to where it already is, is a no-op (carrier updates may repeat).
     * `onlyIfShippingAddress`: move only while the order still ships there (the address a parcel was
     * booked to); otherwise nothing moves (`reached` false) and the caller sees `shippingAddress`.
     */
    async advanceForShipping(
      trx: Tx,
      orderId: number,
      to: "preparing" | "shipped" | "delivered",
      options: { onlyIfShippingAddress?: string } = {},
    ): Promise<{ from: OrderStatus; userId: number; reached: boolean; shippingAddress: string | null }> {
      const order = await orderRepository.lockForShipping(trx, orderId);
      if (!order) throw ordersErrors.ORDER_NOT_FOUND.create({ orderId });
      const from = order.status;
      // Read under the lock: the booking compares it with the address it booked (changeAddress).
      const shippingAddress = await openAddress(order);
      if (options.onlyIfShippingAddress !== undefined && shippingAddress !== options.onlyIfShippingAddress)
        return { from, userId: order.user_id, reached: false, shippingAddress };
      if (from === to) return { from, userId: order.user_id, reached: true, shippingAddress };
      if (!canTransition(from, to)) return { from, userId: order.user_id, reached: false, shippingAddress };
      // Nobody reads its answer: it goes out with the caller's next statement (db/pipeline.ts), which throws if it failed.
      await deferring(trx, () => orderRepository.setStatus(trx, orderId, to, clock.now()));
      return { from, userId: order.user_id, reached: true, shippingAddress };
    },

    sweepExpired,

    /** Sales per day for operators: takings net of cancellations and refunds. */
    async dailyTotals(from: Date, to: Date) {
      const rows = await orderRepository.dailyTotals(db, from, to);
      return rows.map((r) => ({
        day: r.day,
        paidOrders: Number(r.paid_orders),
        grossAmount: Number(r.gross_amount),
        discountAmount: Number(r.discount_amount),
        reversedOrders: Number(r.reversed_orders),
        reversedAmount: Number(r.reversed_amount),
        netAmount: Number(r.gross_amount) - Number(r.reversed_amount),
      }));
    },

    /** Buyers of a period for operators: new versus repeat, orders, takings, purchase frequency. */
    async buyerTotals(from: Date, to: Date) {
      const row = await orderRepository.buyerTotals(db, from, to);
      const n = (value: string | undefined) => Number(value ?? 0);
      return {
        buyers: n(row?.buyers),
        newBuyers: n(row?.new_buyers),
        orders: n(row?.orders),
        amount: n(row?.amount),
        frequency: [n(row?.once), n(row?.twice), n(row?.thrice), n(row?.four), n(row?.five_plus)],
      };
    },

    async mine(userId: number, filter: { status?: OrderSummary["status"]; cursor?: string; limit: number }): Promise<Page<OrderSummary>> {
      return page({ ...filter, userId });
    },

    async get(actor: Actor, orderId: number): Promise<OrderDetail> {
      const row = await orderRepository.findOrder(db, orderId);
      // Another customer's order is answered exactly like a missing one.
      if (!row || (actor.role !== "admin" && row.user_id !== actor.userId)) throw ordersErrors.ORDER_NOT_FOUND.create({ orderId });
      return detail(row);
    },

    adminList: (filter: OrderFilter) => page(filter),

    start: () => sweeper.start(),
    stop: () => sweeper.stop(),
  };
}
