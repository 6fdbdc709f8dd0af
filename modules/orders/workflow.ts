/**
 * The order path as one workflow. Every order goes through these steps, in this order, and each
 * step's inverse is written beside it:
 *
 *   step      phase    forward                                        inverse (cancel, expiry, refund)
 *   order     reserve  the order and its lines (paid at once: + payment)  — the caller sets the final status
 *   sale      settle   counts the lines on the day paid; order.paid event  takes them back out of that day
 *   payment   settle   takes the card authorization, debits the wallet   money back to where it came from
 *                      (the card held BEFORE the transaction, captured   (card refunded or let go after the
 *                      after it; see `prepare`)                          commit; wallet credited)
 *   coupon    reserve  marks the coupon used by the order                gives it back if still valid
 *   stock     reserve  takes the stock (the flash-sale row: hot)         puts it back
 *   cart      reserve  removes what was bought from the cart             —
 *
 * `create` runs the reserve steps, `pay` the settle steps, `place` all of them in one transaction;
 * cancellation and expiry run the inverses of what the order did, refund those of a return.
 * The list is also the global lock order (db/unit-of-work.ts): steps that lock nothing first, then
 * wallet, issued coupon, stock, cart. The answer (and its idempotency key) is recorded before the
 * hot step, so the flash-sale product's stock row is held for that statement and the commit only
 * (a batch writes each key completed with its order instead, naming it: batch.ts).
 *
 * Round trips (db/pipeline.ts): steps that only write (`writesOnly`: the sale) are sent without
 * waiting for their answers; with `unreadTail`, so are the answer and every step from the hot one
 * on, which leave together with the COMMIT. A tail step that could refuse has an `applyUnread` form
 * that fails its statement instead (the stock: short, or crossing its low-stock threshold), and the
 * order then runs again with the careful forms, which read their answers. A keyed order placed
 * from the wallet is four round trips: BEGIN + key claim, order insert, sale + wallet debit, tail + COMMIT.
 *
 * Payment methods are a port with two adapters: the wallet (inside the transaction) and the card
 * (modules/payments: an outside call, so it is authorized in `prepare`, before the transaction and
 * its locks, and captured, let go or refunded in the `afterCommit` work the run collects). A split
 * payment is both, its wallet part chosen by the customer. Every payment row says its method.
 *
 * Batches (batch.ts): orders placed at once while the database is busy share one transaction, and
 * a step with a batch form (`applyMany`) writes all of them in one statement (`forwardMany`). An
 * order goes in a batch only if every step has a batch form that takes it or does nothing for it
 * (`batchable`); a refusal in a batch sends the orders concerned back to `forward` (`BatchRefusal`).
 *
 * Adding a step (loyalty points, say) is one entry in `createOrderWorkflow`, placed at its lock
 * rank, calling the new module; the edges (place, create, pay, cancel, refund) do not change. Until
 * it has a batch form, orders it acts on are simply placed one per transaction.
 */
import type { Db, Tx } from "../../db/index.ts";
import { deferring } from "../../db/index.ts";
import type { CartService } from "../cart/index.ts";
import { cartErrors } from "../cart/index.ts";
import type { CatalogService, InsufficientItem, Product, SoldOutProduct, StockLine } from "../catalog/index.ts";
import { catalogErrors, normalizeLines } from "../catalog/index.ts";
import type { CouponService, OrderTotals } from "../coupons/index.ts";
import { orderTotals } from "../coupons/index.ts";
import type { KeyRow } from "../idempotency/index.ts";
import { createPiiCipher, developmentPiiKeys, type PiiCipher } from "../kernel/index.ts";
import type { EventPublisher } from "../outbox/index.ts";
import type { SalesService } from "../sales/index.ts";
import { walletErrors } from "../wallet/index.ts";
import { ordersErrors } from "./errors.ts";
import { orderPaid } from "./events.ts";
import { isPaid } from "./lifecycle.ts";
import { type NewOrder, type NewPayment, type OrderKeyClaim, type OrderRow, orderRepository } from "./repository.ts";
import type { PlaceOrderInput } from "./schema.ts";

/** What orders need of the wallet: debit and refund inside the order's transaction. */
export interface OrderWallet {
  debit(trx: Tx, userId: number, amount: number, ref: { orderId: number }): Promise<{ previousBalance: number; balanceAfter: number }>;
  refund(trx: Tx, userId: number, amount: number, ref: { orderId: number }): Promise<{ balanceAfter: number }>;
  /** A batch's debits (one per customer, each > 0) in one statement: the balance after each covered one, by customer. */
  debitMany(trx: Tx, debits: Array<{ userId: number; amount: number; orderId: number }>): Promise<Map<number, number>>;
  /** The balance an order's debit left (null: the wallet paid nothing of it), for a replay rebuilt from the order. */
  balanceAfterPayment(executor: Db | Tx, userId: number, orderId: number): Promise<number | null>;
}

/**
 * What orders need of card payments (modules/payments): an authorization held before the order's
 * transaction, taken inside it, captured after it; and a reversal marked inside the cancelling
 * transaction and settled after it. The after-commit calls never throw (recovery finishes them).
 */
export interface OrderCard {
  authorize(userId: number, amount: number): Promise<{ cardPaymentId: number; amount: number }>;
  attach(trx: Tx, cardPaymentId: number, orderId: number): Promise<void>;
  capture(cardPaymentId: number): Promise<void>;
  release(cardPaymentId: number): Promise<void>;
  reverse(trx: Tx, cardPaymentId: number): Promise<void>;
  settleReversal(cardPaymentId: number): Promise<void>;
}

/** How the customer pays: absent means the wallet (the API before card payments). */
export type PaymentChoice = { method: "wallet" } | { method: "card" } | { method: "split"; walletAmount: number };

/** What each source pays, won; they add up to the order's final amount. */
export interface PaymentPlan {
  wallet: number;
  card: number;
}

/** The outside half of a run: the card held before the transaction, and what to do after the commit. */
export interface Outside {
  card: { cardPaymentId: number; amount: number } | null;
  /** Set when the transaction took the card authorization. */
  cardTaken: boolean;
  afterCommit: Array<() => Promise<void>>;
}

/** Splits the final amount between the sources. PAYMENT_SPLIT_INVALID: the wallet part is more than the order. */
export function planPayment(choice: PaymentChoice | undefined, finalAmount: number): PaymentPlan {
  switch (choice?.method ?? "wallet") {
    case "wallet":
      return { wallet: finalAmount, card: 0 };
    case "card":
      return { wallet: 0, card: finalAmount };
    default: {
      const walletAmount = (choice as { walletAmount: number }).walletAmount;
      if (walletAmount > finalAmount) throw ordersErrors.PAYMENT_SPLIT_INVALID.create({ walletAmount, finalAmount });
      return { wallet: walletAmount, card: finalAmount - walletAmount };
    }
  }
}

/**
 * What orders need of the customer's address book: the text of a named entry (the customer's own),
 * or without one the default (null when there is none).
 */
export interface OrderAddressBook {
  shippingAddressFor(executor: Db | Tx, userId: number, addressId?: number): Promise<string | null>;
}

/** The column the shipping address is sealed under (modules/kernel/pii.ts). */
export const SHIPPING_ADDRESS_COLUMN = "order_orders.shipping_address";

export interface WorkflowDeps {
  /** Seals the shipping address at rest (default: the development keys). */
  cipher?: PiiCipher;
  catalog: CatalogService;
  cart: CartService;
  coupons: CouponService;
  wallet: OrderWallet;
  card: OrderCard;
  sales: SalesService;
  /** Publishes the order's events (events.ts) to their subscribers. */
  events: EventPublisher;
  /** Without it, an order ships only to an address given with it. */
  addressBook?: OrderAddressBook;
}

export interface OrderLine {
  productId: number;
  productName: string;
  unitPrice: number;
  quantity: number;
}

/** An order as priced: what the steps write. */
export interface OrderDraft {
  userId: number;
  lines: OrderLine[];
  /** One line per product, ascending: the stock lock order. */
  stockLines: StockLine[];
  totals: OrderTotals;
  userCouponId: number | null;
  shippingAddress: string | null;
  fromCart: boolean;
  /** Two-step orders: when the reservation lapses (set by `create`). */
  paymentDueAt: Date | null;
  /** What each source pays (settle phase). */
  payment: PaymentPlan;
}

export type Phase = "reserve" | "settle";

/** One run of steps forward, inside the order's transaction. */
export interface Forward {
  trx: Tx;
  now: Date;
  draft: OrderDraft;
  phases: readonly Phase[];
  /** Set by the order step, or the existing order's id when paying it. */
  orderId: number;
  /** Set by the payment step. */
  balanceAfter: number | null;
  outside: Outside;
  /**
   * Send the tail (the answer and every step from the hot one on) with the COMMIT, reading nothing
   * back (db/pipeline.ts): the hot row is held for its statement and the commit only. A refusal in
   * the tail is then an error (`catalog.mustTakeCarefully`), and the caller runs the order again
   * with this off: the steps' careful forms read their answers (exact refusals, low-stock events).
   */
  unreadTail: boolean;
  /**
   * The idempotency key, for the order step to claim in its own statement (placing and creating a
   * priced order). `taken` settles a key that was there first: it throws (the earlier answer, or a
   * refusal), or returns once this run holds the key after all and the order is still to be written.
   */
  keyClaim?: (OrderKeyClaim & { taken(existing: KeyRow | undefined): Promise<void> }) | null;
}

/** One run of inverses, inside the cancelling transaction (the order row is locked). */
export interface Backward {
  trx: Tx;
  order: OrderRow;
  lines: StockLine[];
  reason: string;
  actorId: number | null;
  refundedAmount: number;
  /** What went back to each source. */
  refunded: PaymentPlan;
  couponRestored: boolean;
  afterCommit: Array<() => Promise<void>>;
}

export interface OrderStep {
  name: "order" | "sale" | "payment" | "coupon" | "stock" | "cart" | (string & {});
  phase: Phase;
  /** Locks the flash-sale row: runs after the answer is recorded, with nothing but the commit after it. */
  hot?: boolean;
  apply(run: Forward): Promise<void>;
  /** Reads nothing back: its statements are sent without waiting for their answers (db/pipeline.ts `deferring`). */
  writesOnly?: boolean;
  /** The step without reading anything back, for an unread tail: what it would refuse fails the statement instead. */
  applyUnread?(run: Forward): Promise<void>;
  /** Absent: nothing to give back. */
  undo?(run: Backward): Promise<void>;
  /**
   * The step for a batch of orders in one transaction (modules/orders/batch.ts), one statement for
   * all of them; `batches(draft)` says which drafts it can take. A refusal of some orders throws
   * `BatchRefusal` naming them. A step without it keeps an order out of batches unless `inert`.
   */
  applyMany?(runs: Forward[]): Promise<void>;
  batches?(draft: OrderDraft): boolean;
  /** The step does nothing for this draft (no coupon, not from the cart): a batch may skip it. */
  inert?(draft: OrderDraft): boolean;
}

/**
 * Thrown inside a batch's transaction when some of its orders cannot go on (a balance that does
 * not cover, stock short or about to cross its low-stock threshold, a key that was there first):
 * the batch rolls back, those orders run on their own (the careful forms: exact refusals, events),
 * and the others are batched again.
 */
export class BatchRefusal extends Error {
  override name = "BatchRefusal";
  constructor(readonly runs: ReadonlySet<Forward>) {
    super(`${runs.size} order(s) of the batch run on their own`);
  }
}

/** The payment rows a paid order gets: one per source that pays something (the wallet row also for a zero total). */
function paymentRows(plan: PaymentPlan, outside: Outside): NewPayment[] {
  const rows: NewPayment[] = [];
  if (plan.card > 0 && outside.card) rows.push({ method: "card", amount: plan.card, cardPaymentId: outside.card.cardPaymentId });
  if (plan.wallet > 0 || rows.length === 0) rows.push({ method: "wallet", amount: plan.wallet, cardPaymentId: null });
  return rows;
}

function shortLines(lines: StockLine[], products: Map<number, SoldOutProduct>): InsufficientItem[] {
  return lines
    .filter((line) => (products.get(line.productId)?.stock ?? 0) < line.quantity)
    .map((line) => ({
      productId: line.productId,
      productName: products.get(line.productId)?.name ?? "",
      requestedQuantity: line.quantity,
      availableStock: products.get(line.productId)?.stock ?? 0,
    }));
}

/** The order row and its payment rows as the order step writes them. */
function orderRows(run: Forward): { order: NewOrder; payments: NewPayment[] } {
  const { draft, now } = run;
  const paidNow = run.phases.includes("settle");
  const order: NewOrder = {
    userId: draft.userId,
    status: paidNow ? "paid" : "pending_payment",
    subtotalAmount: draft.totals.subtotalAmount,
    discountAmount: draft.totals.discountAmount,
    finalAmount: draft.totals.finalAmount,
    issuedCouponId: draft.userCouponId,
    paidAt: paidNow ? now : null,
    paymentDueAt: paidNow ? null : draft.paymentDueAt,
    shippingAddress: draft.shippingAddress,
    at: now,
  };
  return { order, payments: paidNow ? paymentRows(draft.payment, run.outside) : [] };
}

function paidEvent(orderId: number, draft: Pick<OrderDraft, "userId" | "lines" | "totals" | "payment">, paidAt: Date) {
  const { userId, totals, lines, payment } = draft;
  return orderPaid.event(orderId, {
    orderId,
    userId,
    subtotalAmount: totals.subtotalAmount,
    discountAmount: totals.discountAmount,
    finalAmount: totals.finalAmount,
    paidAt: paidAt.toISOString(),
    items: lines.map((l) => ({ productId: l.productId, productName: l.productName, unitPrice: l.unitPrice, quantity: l.quantity })),
    payments: [
      ...(payment.card > 0 ? [{ method: "card" as const, amount: payment.card }] : []),
      ...(payment.wallet > 0 || payment.card === 0 ? [{ method: "wallet" as const, amount: payment.wallet }] : []),
    ],
  });
}

export type OrderWorkflow = ReturnType<typeof createOrderWorkflow>;

export function createOrderWorkflow({
  catalog,
  cart,
  coupons,
  wallet,
  card,
  sales,
  events,
  addressBook,
  cipher = createPiiCipher(developmentPiiKeys),
}: WorkflowDeps) {
  /** The address given, else the named address book entry, else the default one; sealed as soon as it is read. */
  async function shippingAddressOf(executor: Db | Tx, userId: number, input: { shippingAddress?: string; addressId?: number }): Promise<string | null> {
    const text = input.shippingAddress ?? (addressBook ? await addressBook.shippingAddressFor(executor, userId, input.addressId) : null);
    return text ? cipher.seal(text, SHIPPING_ADDRESS_COLUMN) : null;
  }

  /**
   * Lines at today's prices for what is asked, products on sale only (PRODUCT_NOT_FOUND otherwise).
   * No stock check: an order being edited already holds some of it; the stock step decides.
   */
  async function priceLines(executor: Db | Tx, requested: StockLine[]): Promise<OrderLine[]> {
    const products = await catalog.productsForSale(
      executor,
      requested.map((l) => l.productId),
    );
    const missing = requested.filter((l) => !products.has(l.productId)).map((l) => l.productId);
    if (missing.length) throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId: missing[0] as number, productIds: missing });
    return requested.map((l) => {
      const product = products.get(l.productId) as Product;
      return { productId: l.productId, productName: product.name, unitPrice: product.price, quantity: l.quantity };
    });
  }

  const steps: OrderStep[] = [
    {
      name: "order",
      phase: "reserve",
      // Rows nobody else touches, in one statement before any lock. Placed and paid at once, the
      // order is written paid with its payment rows (the payment step then only takes the money).
      async apply(run) {
        const { draft } = run;
        const { order, payments } = orderRows(run);
        if (run.keyClaim) {
          const inserted = await orderRepository.claimKeyAndInsertWithLines(run.trx, run.keyClaim, order, draft.lines, payments);
          if ("orderId" in inserted) {
            run.orderId = inserted.orderId;
            return;
          }
          await run.keyClaim.taken(inserted.taken);
        }
        run.orderId = await orderRepository.insertWithLines(run.trx, order, draft.lines, payments);
      },
      batches: (draft) => draft.userCouponId === null && draft.payment.card === 0,
      async applyMany(runs) {
        const [first] = runs;
        if (!first) return;
        const ids = await orderRepository.claimKeysAndInsertMany(
          first.trx,
          runs.map((run) => ({ claim: run.keyClaim ?? null, ...orderRows(run), lines: run.draft.lines })),
          first.now,
        );
        // A key that was there first: that order replays or refuses on its own.
        const taken = new Set<Forward>();
        runs.forEach((run, i) => {
          const id = ids[i];
          if (id == null) taken.add(run);
          else run.orderId = id;
        });
        if (taken.size > 0) throw new BatchRefusal(taken);
      },
    },
    {
      name: "sale",
      phase: "settle",
      // Appends only (sales_daily is rolled up after commit), so it takes no lock and reads nothing.
      writesOnly: true,
      async apply(run) {
        await sales.recordSale(run.trx, run.now, run.draft.stockLines);
        await events.publish(run.trx, run.now, [paidEvent(run.orderId, run.draft, run.now)]);
      },
      async applyMany(runs) {
        const [first] = runs;
        if (!first) return;
        await sales.recordSale(
          first.trx,
          first.now,
          runs.flatMap((run) => run.draft.stockLines),
        );
        await events.publish(
          first.trx,
          first.now,
          runs.map((run) => paidEvent(run.orderId, run.draft, run.now)),
        );
      },
      async undo(run) {
        if (run.order.paid_at) await sales.reverseSale(run.trx, run.order.paid_at, run.lines);
      },
    },
    {
      name: "payment",
      phase: "settle",
      async apply(run) {
        const { trx, draft, orderId, now, outside } = run;
        // The card first: its row ranks before the wallet in the lock order.
        if (draft.payment.card > 0) {
          if (outside.card?.amount !== draft.payment.card) throw walletErrors.PAYMENT_GATEWAY_UNAVAILABLE.create({ failure: "unknown", retryable: true });
          const { cardPaymentId } = outside.card;
          await card.attach(trx, cardPaymentId, orderId);
          outside.cardTaken = true;
          outside.afterCommit.push(() => card.capture(cardPaymentId));
        }
        // A zero wallet part debits nothing and reads the balance the answer reports.
        const { balanceAfter } = await wallet.debit(trx, draft.userId, draft.payment.wallet, { orderId });
        run.balanceAfter = balanceAfter;
        // Paying an order created earlier: it becomes paid here (placed at once, the order step wrote it paid).
        if (!run.phases.includes("reserve")) await orderRepository.markPaid(trx, orderId, paymentRows(draft.payment, outside), now);
      },
      // Placed at once from the wallet alone, something to pay: one debit per customer in one statement.
      batches: (draft) => draft.payment.card === 0 && draft.payment.wallet > 0,
      async applyMany(runs) {
        const [first] = runs;
        if (!first) return;
        const balances = await wallet.debitMany(
          first.trx,
          runs.map((run) => ({ userId: run.draft.userId, amount: run.draft.payment.wallet, orderId: run.orderId })),
        );
        const short = new Set<Forward>();
        for (const run of runs) {
          const balanceAfter = balances.get(run.draft.userId);
          if (balanceAfter === undefined) short.add(run);
          else run.balanceAfter = balanceAfter;
        }
        if (short.size > 0) throw new BatchRefusal(short);
      },
      async undo(run) {
        const { trx, order } = run;
        // Back to where the money came from: the card row first (lock order), then the wallet.
        const payments = await orderRepository.payments(trx, order.id);
        for (const payment of payments.filter((p) => p.status === "paid")) {
          if (payment.method === "card" && payment.card_payment_id !== null) {
            const cardPaymentId = payment.card_payment_id;
            await card.reverse(trx, cardPaymentId);
            run.afterCommit.push(() => card.settleReversal(cardPaymentId));
            run.refunded.card += payment.amount;
          }
        }
        const walletAmount = payments.filter((p) => p.status === "paid" && p.method === "wallet").reduce((sum, p) => sum + p.amount, 0);
        if (walletAmount > 0) await wallet.refund(trx, order.user_id, walletAmount, { orderId: order.id });
        run.refunded.wallet += walletAmount;
        await orderRepository.markPaymentRefunded(trx, order.id);
        run.refundedAmount = run.refunded.wallet + run.refunded.card;
      },
    },
    {
      name: "coupon",
      phase: "reserve",
      async apply(run) {
        const { trx, draft, orderId } = run;
        if (draft.userCouponId) await coupons.use(trx, draft.userId, draft.userCouponId, draft.totals.subtotalAmount, orderId);
      },
      inert: (draft) => draft.userCouponId === null,
      async undo(run) {
        if (run.order.issued_coupon_id) run.couponRestored = await coupons.restore(run.trx, run.order.issued_coupon_id, run.order.id);
      },
    },
    {
      name: "stock",
      phase: "reserve",
      hot: true,
      apply: (run) => catalog.deductStock(run.trx, run.draft.stockLines, { orderId: run.orderId }),
      applyUnread: (run) => catalog.takeStockOrFail(run.trx, run.draft.stockLines, { orderId: run.orderId }),
      async applyMany(runs) {
        const [first] = runs;
        if (!first) return;
        const refused = new Set(
          await catalog.takeStockForOrders(
            first.trx,
            runs.map((run) => ({ orderId: run.orderId, lines: run.draft.stockLines })),
          ),
        );
        const short = runs.filter((run) => run.draft.stockLines.some((line) => refused.has(line.productId)));
        if (short.length > 0) throw new BatchRefusal(new Set(short));
      },
      undo: (run) => catalog.releaseStock(run.trx, run.lines, { orderId: run.order.id, reason: run.reason, actorId: run.actorId }),
    },
    {
      name: "cart",
      phase: "reserve",
      writesOnly: true,
      inert: (draft) => !draft.fromCart,
      async apply(run) {
        if (run.draft.fromCart)
          await cart.removeBought(
            run.trx,
            run.draft.userId,
            run.draft.stockLines.map((l) => l.productId),
          );
      },
    },
  ];

  return {
    steps,

    /**
     * Prices what the customer asked for: explicit items or the cart, current prices, the coupon's
     * rule, totals by `orderTotals`. Takes no locks (plain reads, as inside a READ COMMITTED
     * transaction), so it runs before the order's transaction: a sold-out crowd is turned away with
     * one statement and no transaction, or none while the catalog remembers the sell-out.
     */
    async price(executor: Db | Tx, userId: number, input: Omit<PlaceOrderInput, "idempotencyKey">): Promise<OrderDraft> {
      const fromCart = input.items === undefined;
      const requested = normalizeLines(input.items ?? (await cart.linesFor(executor, userId)));
      if (requested.length === 0) throw cartErrors.CART_EMPTY.create();
      const productIds = requested.map((l) => l.productId);
      // Before a transaction, a product read sold out a moment ago is refused from memory (the flash
      // sale's crowd after the sell-out); inside one, and for anything else, the products are read.
      const products = (executor.isTransaction ? null : catalog.soldOutFromMemory(productIds)) ?? (await catalog.productsForSale(executor, productIds));
      const missing = requested.filter((l) => !products.has(l.productId)).map((l) => l.productId);
      const [firstMissing] = missing;
      if (firstMissing !== undefined) throw catalogErrors.PRODUCT_NOT_FOUND.create({ productId: firstMissing, productIds: missing });
      const short = shortLines(requested, products);
      if (short.length) throw catalogErrors.INSUFFICIENT_STOCK.create({ insufficientItems: short });

      const lines = requested.map((l) => {
        const product = products.get(l.productId) as Product;
        return { productId: l.productId, productName: product.name, unitPrice: product.price, quantity: l.quantity };
      });
      const rule = input.userCouponId ? await coupons.ruleFor(executor, userId, input.userCouponId, orderTotals(lines, null).subtotalAmount) : null;
      const totals = orderTotals(lines, rule);
      return {
        userId,
        lines,
        stockLines: requested,
        totals,
        userCouponId: input.userCouponId ?? null,
        // Sealed as soon as it is read: the draft carries what the row stores.
        shippingAddress: await shippingAddressOf(executor, userId, input),
        fromCart,
        paymentDueAt: null,
        payment: planPayment(input.payment, totals.finalAmount),
      };
    },

    shippingAddressOf,

    /**
     * An unpaid order's lines replaced (an operator's edit), through the reserve steps' own rules
     * and under their locks, in the lock order: the order (locked by the caller), the coupon
     * (checked again against the new subtotal, still held by this order), the stock (the
     * difference only, ascending product id). Prices are today's. Returns the new draft.
     */
    async editReserved(trx: Tx, order: OrderRow, items: StockLine[], by: { actorId: number; reason: string }, now: Date): Promise<OrderDraft> {
      const requested = normalizeLines(items);
      const lines = await priceLines(trx, requested);
      const subtotal = orderTotals(lines, null).subtotalAmount;
      const rule = order.issued_coupon_id ? await coupons.ruleForHeld(trx, order.issued_coupon_id, order.id, subtotal) : null;
      const totals = orderTotals(lines, rule);
      // Positive: units the order gives back; negative: units it takes.
      const changes = new Map<number, number>();
      for (const l of await orderRepository.lines(trx, order.id)) changes.set(l.product_id, (changes.get(l.product_id) ?? 0) + l.quantity);
      for (const l of requested) changes.set(l.productId, (changes.get(l.productId) ?? 0) - l.quantity);
      await catalog.changeStockForOrder(
        trx,
        [...changes].filter(([, change]) => change !== 0).map(([productId, change]) => ({ productId, change })),
        { orderId: order.id, actorId: by.actorId, reason: by.reason },
      );
      await orderRepository.replaceLines(trx, order.id, lines, totals, now);
      return {
        userId: order.user_id,
        lines,
        stockLines: requested,
        totals,
        userCouponId: order.issued_coupon_id,
        shippingAddress: order.shipping_address,
        fromCart: false,
        // Unpaid: how it is paid is chosen when it is paid (pay re-plans with the customer's choice).
        payment: planPayment(undefined, totals.finalAmount),
        paymentDueAt: order.payment_due_at,
      };
    },

    /** An order already written (to pay it), as the steps see it. */
    draftOf(
      order: OrderRow,
      lines: Array<{ product_id: number; product_name: string; unit_price: number; quantity: number }>,
      payment: PaymentChoice | undefined,
    ): OrderDraft {
      const orderLines = lines.map((l) => ({ productId: l.product_id, productName: l.product_name, unitPrice: l.unit_price, quantity: l.quantity }));
      return {
        userId: order.user_id,
        lines: orderLines,
        stockLines: normalizeLines(orderLines),
        totals: { subtotalAmount: order.subtotal_amount, discountAmount: order.discount_amount, finalAmount: order.final_amount },
        userCouponId: order.issued_coupon_id,
        shippingAddress: order.shipping_address,
        fromCart: false,
        paymentDueAt: order.payment_due_at,
        payment: planPayment(payment, order.final_amount),
      };
    },

    /**
     * Before the transaction: the outside calls the settle steps need (the card part is authorized
     * here, so no lock waits on the gateway). Throws PAYMENT_DECLINED or PAYMENT_GATEWAY_UNAVAILABLE,
     * having changed nothing else.
     */
    async prepare(userId: number, plan: PaymentPlan): Promise<Outside> {
      const held = plan.card > 0 ? await card.authorize(userId, plan.card) : null;
      return { card: held, cardTaken: false, afterCommit: [] };
    },

    /**
     * After the transaction, committed or not: runs the after-commit work if it committed, and lets
     * go of an authorization the transaction did not take (it failed, or replayed an earlier answer).
     */
    async finish(outside: Outside, committed: boolean): Promise<void> {
      if (committed) for (const work of outside.afterCommit) await work();
      if (outside.card && !(committed && outside.cardTaken)) await card.release(outside.card.cardPaymentId);
    },

    /**
     * Runs the steps of `phases` forward, in order. `beforeHot` runs once, before the first hot
     * step (or at the end when none runs): the caller records its answer there (a write, read by
     * nobody). Steps that only write are sent without waiting for their answers; with
     * `run.unreadTail` the answer and every step from the hot one on are, too, so they leave with
     * the COMMIT.
     */
    async forward(run: Forward, beforeHot: () => Promise<void>): Promise<void> {
      const active = steps.filter((step) => run.phases.includes(step.phase));
      const firstHot = active.findIndex((step) => step.hot);
      const head = firstHot < 0 ? active : active.slice(0, firstHot);
      const tail = firstHot < 0 ? [] : active.slice(firstHot);
      for (const step of head) await (step.writesOnly ? deferring(run.trx, () => step.apply(run)) : step.apply(run));
      const unread = run.unreadTail && tail.every((step) => step.writesOnly || step.applyUnread);
      if (!unread) {
        await beforeHot();
        for (const step of tail) await step.apply(run);
        return;
      }
      await deferring(run.trx, async () => {
        await beforeHot();
        for (const step of tail) await (step.applyUnread ?? step.apply)(run);
      });
    },

    /**
     * Whether an order placed at once can go in a batch (modules/orders/batch.ts): every step of
     * `place` either has a batch form that takes this draft, or does nothing for it.
     */
    batchable(draft: OrderDraft): boolean {
      return steps.every((step) => step.inert?.(draft) || (step.applyMany !== undefined && (step.batches?.(draft) ?? true)));
    },

    /**
     * `forward` for a batch of orders placed at once (`batchable`), all in `runs[0].trx`: each step
     * once for all of them, in the same order. Nothing is recorded before the hot step: each key was
     * written completed with the order, naming it (repository.ts, `claimKeysAndInsertMany`). The stock
     * is read back (a refusal must name its orders), so the batch sends its COMMIT on its own.
     */
    async forwardMany(runs: Forward[]): Promise<void> {
      const [first] = runs;
      if (!first) return;
      const active = steps.filter((step) => !runs.every((run) => step.inert?.(run.draft)));
      const missing = active.find((step) => !step.applyMany);
      if (missing) throw new Error(`orders: the ${missing.name} step has no batch form (check workflow.batchable first)`);
      for (const step of active) {
        const apply = () => step.applyMany?.(runs) ?? Promise.resolve();
        await (step.writesOnly ? deferring(first.trx, apply) : apply());
      }
    },

    /**
     * Gives back what `order` still holds, in the same order (the lock order): its reservations, and
     * its settlement if it was paid. `keep` names steps whose effect stays (a return keeps the
     * coupon used, and the goods unless they came back).
     */
    async backward(
      trx: Tx,
      order: OrderRow,
      reason: string,
      actorId: number | null,
      keep: readonly OrderStep["name"][] = [],
    ): Promise<{ refundedAmount: number; refunded: PaymentPlan; couponRestored: boolean; afterCommit: Backward["afterCommit"] }> {
      const lines = (await orderRepository.lines(trx, order.id)).map((l) => ({ productId: l.product_id, quantity: l.quantity }));
      const run: Backward = {
        trx,
        order,
        lines: normalizeLines(lines),
        reason,
        actorId,
        refundedAmount: 0,
        refunded: { wallet: 0, card: 0 },
        couponRestored: false,
        afterCommit: [],
      };
      const phases: Phase[] = isPaid(order.status) ? ["reserve", "settle"] : ["reserve"];
      for (const step of steps) {
        if (step.undo && phases.includes(step.phase) && !keep.includes(step.name)) await step.undo(run);
      }
      return { refundedAmount: run.refundedAmount, refunded: run.refunded, couponRestored: run.couponRestored, afterCommit: run.afterCommit };
    },
  };
}
