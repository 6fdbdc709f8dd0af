import { z } from "zod";
import type { Db, Tx } from "../../db/index.ts";
import { inTransaction } from "../../db/index.ts";
import type { CartService } from "../cart/index.ts";
import type { CatalogService, InsufficientItem, Product, StockLine } from "../catalog/index.ts";
import { normalizeLines } from "../catalog/index.ts";
import type { CouponService } from "../coupons/index.ts";
import { claimInTransaction, completeInTransaction, hashRequest, type IdempotentRequest } from "../idempotency/index.ts";
import type { Clock, Logger, Page, Role } from "../kernel/index.ts";
import { DomainError, decodeCursor, encodeCursor, MINUTE } from "../kernel/index.ts";
import { deliveryStates, enqueueEvents } from "../outbox/index.ts";
import type { SalesService } from "../sales/index.ts";
import type { OrderStatus } from "./lifecycle.ts";
import { assertTransition, isPaid } from "./lifecycle.ts";
import { type OrderRow, orderRepository } from "./repository.ts";
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
  ShippableOrder,
} from "./schema.ts";

/** What orders need of the wallet: debit and refund inside the order's transaction. */
export interface OrderWallet {
  debit(trx: Tx, userId: number, amount: number, ref: { orderId: number }): Promise<{ previousBalance: number; balanceAfter: number }>;
  refund(trx: Tx, userId: number, amount: number, ref: { orderId: number }): Promise<{ balanceAfter: number }>;
}

export interface OrdersConfig {
  /** How long a two-step (pending payment) order keeps its stock and coupon. */
  paymentWindowMs: number;
  sweepIntervalMs: number;
}

export const defaultOrdersConfig: OrdersConfig = { paymentWindowMs: 15 * MINUTE, sweepIntervalMs: 30_000 };

export interface OrdersDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  catalog: CatalogService;
  cart: CartService;
  coupons: CouponService;
  wallet: OrderWallet;
  sales: SalesService;
  config?: Partial<OrdersConfig>;
}

export interface Actor {
  userId: number;
  role: Role;
}

interface PricedOrder {
  lines: Array<{ productId: number; productName: string; unitPrice: number; quantity: number }>;
  stockLines: StockLine[];
  subtotalAmount: number;
  discountAmount: number;
  finalAmount: number;
  fromCart: boolean;
}

function toSummary(row: OrderRow): OrderSummary {
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
    shippingAddress: row.shipping_address,
  };
}

function toLineViews(lines: Awaited<ReturnType<typeof orderRepository.lines>>): OrderLineView[] {
  return lines.map((l) => ({ productId: l.product_id, productName: l.product_name, unitPrice: l.unit_price, quantity: l.quantity, lineAmount: l.line_amount }));
}

function shortLines(lines: StockLine[], products: Map<number, Product>): InsufficientItem[] {
  return lines
    .filter((line) => (products.get(line.productId)?.stock ?? 0) < line.quantity)
    .map((line) => ({
      productId: line.productId,
      productName: products.get(line.productId)?.name ?? "",
      requestedQuantity: line.quantity,
      availableStock: products.get(line.productId)?.stock ?? 0,
    }));
}

export type OrdersService = ReturnType<typeof createOrdersService>;

export function createOrdersService(deps: OrdersDeps) {
  const { db, clock, logger, catalog, cart, coupons, wallet, sales } = deps;
  const config = { ...defaultOrdersConfig, ...deps.config };

  /**
   * Prices what the customer asked for: explicit items or the cart, current prices, the coupon's
   * discount. Takes no locks; a plain stock read turns a sold-out crowd away before any lock.
   */
  async function price(trx: Tx, userId: number, input: PlaceOrderInput): Promise<PricedOrder> {
    const fromCart = input.items === undefined;
    const requested = normalizeLines(input.items ?? (await cart.linesFor(trx, userId)));
    if (requested.length === 0) throw new DomainError("CART_EMPTY");
    const products = await catalog.productsForSale(
      trx,
      requested.map((l) => l.productId),
    );
    const missing = requested.filter((l) => !products.has(l.productId)).map((l) => l.productId);
    if (missing.length) throw new DomainError("PRODUCT_NOT_FOUND", { productId: missing[0], productIds: missing });
    const short = shortLines(requested, products);
    if (short.length) throw new DomainError("INSUFFICIENT_STOCK", { insufficientItems: short });

    const lines = requested.map((l) => {
      const product = products.get(l.productId) as Product;
      return { productId: l.productId, productName: product.name, unitPrice: product.price, quantity: l.quantity };
    });
    const subtotalAmount = lines.reduce((sum, l) => sum + l.unitPrice * l.quantity, 0);
    const discountAmount = input.userCouponId ? await coupons.quote(trx, userId, input.userCouponId, subtotalAmount) : 0;
    return { lines, stockLines: requested, subtotalAmount, discountAmount, finalAmount: subtotalAmount - discountAmount, fromCart };
  }

  function keyFor(userId: number, scope: string, key: string | undefined, request: unknown): IdempotentRequest | null {
    return key ? { userId, scope, key, requestHash: hashRequest(request) } : null;
  }

  function paidEvent(
    orderId: number,
    userId: number,
    order: { subtotalAmount: number; discountAmount: number; finalAmount: number },
    lines: PricedOrder["lines"],
    paidAt: Date,
  ) {
    return {
      aggregateType: "order",
      aggregateId: orderId,
      type: "order.paid",
      payload: {
        orderId,
        userId,
        // Named one by one: the priced order carries internal fields that are nobody else's business.
        subtotalAmount: order.subtotalAmount,
        discountAmount: order.discountAmount,
        finalAmount: order.finalAmount,
        paidAt: paidAt.toISOString(),
        items: lines.map((l) => ({ productId: l.productId, productName: l.productName, unitPrice: l.unitPrice, quantity: l.quantity })),
      },
    };
  }

  async function detail(row: OrderRow): Promise<OrderDetail> {
    const [lines, payment, sync] = await Promise.all([
      orderRepository.lines(db, row.id),
      orderRepository.payment(db, row.id),
      deliveryStates(db, "order", [row.id], "order.paid", "data-platform"),
    ]);
    const state = sync.get(String(row.id));
    return {
      ...toSummary(row),
      lines: toLineViews(lines),
      payment: payment ? { method: payment.method, amount: payment.amount, status: payment.status, createdAt: payment.created_at } : null,
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
    return { items: items.map(toSummary), nextCursor: rows.length > filter.limit && last ? encodeCursor(last.id) : null };
  }

  /** Puts back what an unpaid or cancelled order held: stock, coupon, and (if paid) money and the sales count. */
  async function unwind(
    trx: Tx,
    order: OrderRow,
    reason: string,
    actorId: number | null,
    give: { coupon: boolean; stock: boolean } = { coupon: true, stock: true },
  ): Promise<{ refundedAmount: number; couponRestored: boolean }> {
    const lines = await orderRepository.lines(trx, order.id);
    const stockLines = lines.map((l) => ({ productId: l.product_id, quantity: l.quantity }));
    let refundedAmount = 0;
    if (isPaid(order.status)) {
      if (order.final_amount > 0) await wallet.refund(trx, order.user_id, order.final_amount, { orderId: order.id });
      await orderRepository.markPaymentRefunded(trx, order.id);
      refundedAmount = order.final_amount;
    }
    const couponRestored = give.coupon && order.issued_coupon_id ? await coupons.restore(trx, order.issued_coupon_id, order.id) : false;
    if (give.stock) await catalog.releaseStock(trx, stockLines, { orderId: order.id, reason, actorId });
    if (isPaid(order.status) && order.paid_at) await sales.reverseSale(trx, order.paid_at, stockLines);
    return { refundedAmount, couponRestored };
  }

  async function sweepExpired(batch = 100): Promise<number> {
    const now = clock.now();
    let released = 0;
    for (const orderId of await orderRepository.duePendingOrderIds(db, now, batch)) {
      const done = await inTransaction(db, async (trx) => {
        const order = await orderRepository.lockOrder(trx, orderId);
        // Paid or cancelled in the meantime: nothing to release.
        if (order?.status !== "pending_payment" || !order.payment_due_at || order.payment_due_at > now) return false;
        await unwind(trx, order, "payment window lapsed", null);
        await orderRepository.setStatus(trx, orderId, "expired", now);
        return true;
      });
      if (done) released++;
    }
    return released;
  }

  let sweeper: ReturnType<typeof setInterval> | null = null;

  return {
    /**
     * Places and pays an order in ONE transaction (seed 004 §2). Lock order: idempotency key,
     * wallet, coupon, stock (ascending), sales aggregate, cart. Rows nobody else touches (the new
     * order, its lines and payment) are written first so the hot stock row is held briefly.
     */
    async place(userId: number, input: PlaceOrderInput): Promise<PlacedOrder> {
      const { idempotencyKey, ...request } = input;
      const claim = keyFor(userId, "orders.place", idempotencyKey, request);
      return inTransaction(db, async (trx) => {
        const now = clock.now();
        if (claim) {
          const earlier = await claimInTransaction<PlacedOrder>(trx, claim, now);
          if (earlier) return earlier.replay;
        }
        const priced = await price(trx, userId, request);
        // Rows nobody else touches first (order, lines, payment, outbox), in as few round trips as
        // possible; then the locks in the global order, the hot stock row as late as it can be.
        const orderId = await orderRepository.insertWithLines(
          trx,
          {
            userId,
            status: "paid",
            subtotalAmount: priced.subtotalAmount,
            discountAmount: priced.discountAmount,
            finalAmount: priced.finalAmount,
            issuedCouponId: request.userCouponId ?? null,
            paidAt: now,
            paymentDueAt: null,
            shippingAddress: request.shippingAddress ?? null,
            at: now,
          },
          priced.lines,
          priced.finalAmount,
        );
        await enqueueEvents(trx, now, [paidEvent(orderId, userId, priced, priced.lines, now)]);
        const { balanceAfter } = await wallet.debit(trx, userId, priced.finalAmount, { orderId });
        if (request.userCouponId) await coupons.use(trx, userId, request.userCouponId, priced.subtotalAmount, orderId);
        await catalog.deductStock(trx, priced.stockLines, { orderId });
        await sales.recordSale(trx, now, priced.stockLines);
        if (priced.fromCart)
          await cart.removeBought(
            trx,
            userId,
            priced.stockLines.map((l) => l.productId),
          );
        const result: PlacedOrder = {
          orderId,
          status: "paid",
          subtotalAmount: priced.subtotalAmount,
          discountAmount: priced.discountAmount,
          finalAmount: priced.finalAmount,
          remainingBalance: balanceAfter,
          createdAt: now,
        };
        if (claim) await completeInTransaction(trx, claim, result, now);
        return result;
      });
    },

    /** Two-step flow (seed 003): reserves stock and coupon now; `pay` settles within the payment window. */
    async create(userId: number, input: PlaceOrderInput): Promise<PendingOrder> {
      const { idempotencyKey, ...request } = input;
      const claim = keyFor(userId, "orders.create", idempotencyKey, request);
      return inTransaction(db, async (trx) => {
        const now = clock.now();
        if (claim) {
          const earlier = await claimInTransaction<PendingOrder>(trx, claim, now);
          if (earlier) return earlier.replay;
        }
        const priced = await price(trx, userId, request);
        const paymentDueAt = new Date(now.getTime() + config.paymentWindowMs);
        const orderId = await orderRepository.insertWithLines(
          trx,
          {
            userId,
            status: "pending_payment",
            subtotalAmount: priced.subtotalAmount,
            discountAmount: priced.discountAmount,
            finalAmount: priced.finalAmount,
            issuedCouponId: request.userCouponId ?? null,
            paidAt: null,
            paymentDueAt,
            shippingAddress: request.shippingAddress ?? null,
            at: now,
          },
          priced.lines,
          null,
        );
        if (request.userCouponId) await coupons.use(trx, userId, request.userCouponId, priced.subtotalAmount, orderId);
        await catalog.deductStock(trx, priced.stockLines, { orderId });
        if (priced.fromCart)
          await cart.removeBought(
            trx,
            userId,
            priced.stockLines.map((l) => l.productId),
          );
        const result: PendingOrder = {
          orderId,
          status: "pending_payment",
          subtotalAmount: priced.subtotalAmount,
          discountAmount: priced.discountAmount,
          finalAmount: priced.finalAmount,
          paymentDueAt,
          createdAt: now,
        };
        if (claim) await completeInTransaction(trx, claim, result, now);
        return result;
      });
    },

    /** Pays a pending order from the wallet. */
    async pay(userId: number, orderId: number, idempotencyKey?: string): Promise<PlacedOrder> {
      const claim = keyFor(userId, "orders.pay", idempotencyKey, { orderId });
      return inTransaction(db, async (trx) => {
        const now = clock.now();
        if (claim) {
          const earlier = await claimInTransaction<PlacedOrder>(trx, claim, now);
          if (earlier) return earlier.replay;
        }
        const order = await orderRepository.lockOrder(trx, orderId);
        if (!order || order.user_id !== userId) throw new DomainError("ORDER_NOT_FOUND", { orderId });
        assertTransition(orderId, order.status, "paid");
        if (order.payment_due_at && order.payment_due_at <= now)
          throw new DomainError("ORDER_PAYMENT_EXPIRED", { orderId, paymentDueAt: order.payment_due_at });
        const { balanceAfter } = await wallet.debit(trx, userId, order.final_amount, { orderId });
        await orderRepository.setStatus(trx, orderId, "paid", now, { paidAt: now });
        await orderRepository.insertPayment(trx, orderId, order.final_amount, now);
        const lines = await orderRepository.lines(trx, orderId);
        const priced = lines.map((l) => ({ productId: l.product_id, productName: l.product_name, unitPrice: l.unit_price, quantity: l.quantity }));
        await sales.recordSale(trx, now, priced);
        await enqueueEvents(trx, now, [
          paidEvent(
            orderId,
            userId,
            { subtotalAmount: order.subtotal_amount, discountAmount: order.discount_amount, finalAmount: order.final_amount },
            priced,
            now,
          ),
        ]);
        const result: PlacedOrder = {
          orderId,
          status: "paid",
          subtotalAmount: order.subtotal_amount,
          discountAmount: order.discount_amount,
          finalAmount: order.final_amount,
          remainingBalance: balanceAfter,
          createdAt: order.created_at,
        };
        if (claim) await completeInTransaction(trx, claim, result, now);
        return result;
      });
    },

    /**
     * Cancels before shipping, in one transaction: money back to the wallet, the coupon restored
     * if still valid, stock back (movement log), the sales aggregate reversed, an outbox event.
     */
    async cancel(actor: Actor, orderId: number, reason: string | undefined): Promise<CancelledOrder> {
      return inTransaction(db, async (trx) => {
        const now = clock.now();
        const order = await orderRepository.lockOrder(trx, orderId);
        if (!order || (actor.role !== "admin" && order.user_id !== actor.userId)) throw new DomainError("ORDER_NOT_FOUND", { orderId });
        assertTransition(orderId, order.status, "cancelled");
        const cancelReason = reason ?? (actor.role === "admin" ? "cancelled by an operator" : "cancelled by the customer");
        const { refundedAmount, couponRestored } = await unwind(trx, order, cancelReason, actor.userId);
        await orderRepository.setStatus(trx, orderId, "cancelled", now, { cancelledAt: now, cancelReason });
        await enqueueEvents(trx, now, [
          {
            aggregateType: "order",
            aggregateId: orderId,
            type: "order.cancelled",
            payload: { orderId, userId: order.user_id, refundedAmount, couponRestored, reason: cancelReason, cancelledAt: now.toISOString() },
          },
        ]);
        return { orderId, status: "cancelled", refundedAmount, couponRestored, cancelledAt: now };
      });
    },

    /**
     * Refunds a delivered order (a return), admin only: money back to the wallet, the sales
     * aggregate reversed, and the goods back in stock when they came back.
     */
    async refund(orderId: number, reason: string, restock: boolean, actorId: number): Promise<RefundedOrder> {
      return inTransaction(db, async (trx) => {
        const now = clock.now();
        const order = await orderRepository.lockOrder(trx, orderId);
        if (!order) throw new DomainError("ORDER_NOT_FOUND", { orderId });
        assertTransition(orderId, order.status, "refunded");
        // A return: the money and the sales count go back; the coupon stays used; the goods only if they came back.
        await unwind(trx, order, `returned: ${reason}`, actorId, { coupon: false, stock: restock });
        await orderRepository.setStatus(trx, orderId, "refunded", now, { cancelledAt: now, cancelReason: reason });
        await enqueueEvents(trx, now, [
          {
            aggregateType: "order",
            aggregateId: orderId,
            type: "order.refunded",
            payload: { orderId, userId: order.user_id, refundedAmount: order.final_amount, restocked: restock, reason, refundedAt: now.toISOString() },
          },
        ]);
        return { orderId, status: "refunded", refundedAmount: order.final_amount, restocked: restock, refundedAt: now };
      });
    },

    // ── for the shipping module ─────────────────────────────────────────────

    /** An order as shipping sees it (no lock). */
    async shippable(executor: Db | Tx, orderId: number): Promise<ShippableOrder | null> {
      const row = await orderRepository.findOrder(executor, orderId);
      if (!row) return null;
      return {
        orderId: row.id,
        userId: row.user_id,
        status: row.status,
        shippingAddress: row.shipping_address,
        lines: toLineViews(await orderRepository.lines(executor, orderId)),
      };
    },

    /**
     * Moves an order along with its shipment, inside the caller's transaction: locks the order
     * (rank Order, before the shipment), checks the move, and returns the status it had.
     * Moving to where it already is, is a no-op (carrier updates may repeat).
     */
    async advanceForShipping(trx: Tx, orderId: number, to: "preparing" | "shipped" | "delivered"): Promise<{ from: OrderStatus; userId: number }> {
      const order = await orderRepository.lockOrder(trx, orderId);
      if (!order) throw new DomainError("ORDER_NOT_FOUND", { orderId });
      if (order.status !== to) {
        assertTransition(orderId, order.status, to);
        await orderRepository.setStatus(trx, orderId, to, clock.now());
      }
      return { from: order.status, userId: order.user_id };
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
      if (!row || (actor.role !== "admin" && row.user_id !== actor.userId)) throw new DomainError("ORDER_NOT_FOUND", { orderId });
      return detail(row);
    },

    adminList: (filter: OrderFilter) => page(filter),

    start(): void {
      if (sweeper) return;
      sweeper = setInterval(() => {
        sweepExpired().catch((error) => logger.error({ err: error }, "pending-order sweep failed"));
      }, config.sweepIntervalMs);
    },

    stop(): void {
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
    },
  };
}
