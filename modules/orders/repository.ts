import { type Insertable, type Selectable, sql } from "kysely";
import type { Db, OrderOrdersTable, OrderRefundsTable, OrderStatus, PaymentMethod, Tx } from "../../db/index.ts";
import { compiledQuery, LockRank, noteLock } from "../../db/index.ts";
import { type KeyRow, keyStatementParts } from "../idempotency/index.ts";

type Executor = Db | Tx;
export type OrderRow = Selectable<OrderOrdersTable>;

export interface NewOrder {
  userId: number;
  status: OrderStatus;
  subtotalAmount: number;
  discountAmount: number;
  finalAmount: number;
  issuedCouponId: number | null;
  paidAt: Date | null;
  paymentDueAt: Date | null;
  shippingAddress: string | null;
  at: Date;
}

export interface NewPayment {
  method: PaymentMethod;
  amount: number;
  cardPaymentId: number | null;
}

/** The order path's first statement, compiled once (db/compiled.ts). */
const insertOrderWithLines = compiledQuery(
  (
    _db,
    userId: number,
    status: OrderStatus,
    subtotalAmount: number,
    discountAmount: number,
    finalAmount: number,
    issuedCouponId: number | null,
    paidAt: Date | null,
    paymentDueAt: Date | null,
    shippingAddress: string | null,
    at: Date,
    productIds: number[],
    productNames: string[],
    unitPrices: number[],
    quantities: number[],
    paymentMethods: string[],
    paymentAmounts: number[],
    cardPaymentIds: Array<number | null>,
  ) => sql<{ id: number }>`
      WITH o AS (
        INSERT INTO order_orders (user_id, status, subtotal_amount, discount_amount, final_amount, issued_coupon_id, paid_at, payment_due_at, shipping_address, created_at, updated_at)
        VALUES (${userId}, ${status}, ${subtotalAmount}, ${discountAmount}, ${finalAmount}, ${issuedCouponId},
                ${paidAt}, ${paymentDueAt}, ${shippingAddress}, ${at}, ${at})
        RETURNING id, created_at
      ), l AS (
        INSERT INTO order_lines (order_id, product_id, product_name, unit_price, quantity, line_amount)
        SELECT o.id, line.product_id, line.product_name, line.unit_price, line.quantity, line.unit_price * line.quantity
          FROM o, unnest(${productIds}::int8[], ${productNames}::text[], ${unitPrices}::int8[], ${quantities}::int4[])
               AS line(product_id, product_name, unit_price, quantity)
      ), p AS (
        INSERT INTO order_payments (order_id, method, amount, status, card_payment_id, created_at)
        SELECT o.id, pay.method, pay.amount, 'paid', pay.card_payment_id, o.created_at
          FROM o, unnest(${paymentMethods}::text[], ${paymentAmounts}::int8[], ${cardPaymentIds}::int8[]) AS pay(method, amount, card_payment_id)
      )
      SELECT id FROM o`,
);

/** The idempotency key an order's first statement claims (rank IdempotencyKey, before the order row). */
export interface OrderKeyClaim {
  scope: string;
  key: string;
  requestHash: string;
}

/**
 * The order path's first statement with its idempotency key claimed in it (one statement and one
 * round trip fewer per keyed order). The order is inserted FROM claim: no row when the key was there
 * first, and then `existing` is the key as the statement's snapshot shows it.
 */
const claimKeyAndInsertOrderWithLines = compiledQuery(
  (
    _db,
    userId: number,
    scope: string,
    key: string,
    requestHash: string,
    status: OrderStatus,
    subtotalAmount: number,
    discountAmount: number,
    finalAmount: number,
    issuedCouponId: number | null,
    paidAt: Date | null,
    paymentDueAt: Date | null,
    shippingAddress: string | null,
    at: Date,
    productIds: number[],
    productNames: string[],
    unitPrices: number[],
    quantities: number[],
    paymentMethods: string[],
    paymentAmounts: number[],
    cardPaymentIds: Array<number | null>,
  ) => sql<{ id: number | null; request_hash: string | null; status: KeyRow["status"] | null; response: unknown }>`
      WITH claim AS (${keyStatementParts.claim(userId, scope, key, requestHash, at)}),
      existing AS (${keyStatementParts.existing(userId, scope, key)}),
      o AS (
        INSERT INTO order_orders (user_id, status, subtotal_amount, discount_amount, final_amount, issued_coupon_id, paid_at, payment_due_at, shipping_address, created_at, updated_at)
        SELECT ${userId}, ${status}, ${subtotalAmount}, ${discountAmount}, ${finalAmount}, ${issuedCouponId},
               ${paidAt}::timestamptz, ${paymentDueAt}::timestamptz, ${shippingAddress}, ${at}::timestamptz, ${at}::timestamptz FROM claim
        RETURNING id, created_at
      ), l AS (
        INSERT INTO order_lines (order_id, product_id, product_name, unit_price, quantity, line_amount)
        SELECT o.id, line.product_id, line.product_name, line.unit_price, line.quantity, line.unit_price * line.quantity
          FROM o, unnest(${productIds}::int8[], ${productNames}::text[], ${unitPrices}::int8[], ${quantities}::int4[])
               AS line(product_id, product_name, unit_price, quantity)
      ), p AS (
        INSERT INTO order_payments (order_id, method, amount, status, card_payment_id, created_at)
        SELECT o.id, pay.method, pay.amount, 'paid', pay.card_payment_id, o.created_at
          FROM o, unnest(${paymentMethods}::text[], ${paymentAmounts}::int8[], ${cardPaymentIds}::int8[]) AS pay(method, amount, card_payment_id)
      )
      SELECT (SELECT id FROM o) AS id, existing.request_hash, existing.status, existing.response
        FROM (VALUES (1)) AS one (n) LEFT JOIN existing ON NOT EXISTS (SELECT 1 FROM claim)`,
);

/** What a batched order's idempotency key stores instead of its answer: the order (rebuilt on a replay). */
export const ORDER_REFERENCE = "order";

/**
 * Several customers' orders in ONE statement (a batch, modules/orders/batch.ts): each order's
 * idempotency key claimed (keyed ones), the orders whose key this statement claimed (or that have
 * none) inserted with their lines and payments. One customer per order in a batch, so the customer
 * joins an order to its input row. An order left out (its key was there first) gets no id.
 *
 * Each order's id is drawn first, so its key is written completed, its answer a reference to the
 * order (`ORDER_REFERENCE`): nothing updates the key later, and a replay rebuilds the answer from the
 * order. The key is still claimed first (rank IdempotencyKey): a concurrent retry waits on it.
 */
const claimKeysAndInsertOrders = compiledQuery(
  (
    _db,
    userIds: number[],
    scopes: Array<string | null>,
    keys: Array<string | null>,
    requestHashes: Array<string | null>,
    statuses: string[],
    subtotalAmounts: number[],
    discountAmounts: number[],
    finalAmounts: number[],
    paidAts: Array<Date | null>,
    paymentDueAts: Array<Date | null>,
    shippingAddresses: Array<string | null>,
    at: Date,
    lineUsers: number[],
    productIds: number[],
    productNames: string[],
    unitPrices: number[],
    quantities: number[],
    paymentUsers: number[],
    paymentMethods: string[],
    paymentAmounts: number[],
  ) => sql<{ user_id: number; id: number | null }>`
      WITH input AS MATERIALIZED (
        SELECT i.*, nextval(pg_get_serial_sequence('order_orders', 'id')) AS order_id
          FROM unnest(${userIds}::int8[], ${scopes}::text[], ${keys}::text[], ${requestHashes}::text[], ${statuses}::text[],
                      ${subtotalAmounts}::int8[], ${discountAmounts}::int8[], ${finalAmounts}::int8[], ${paidAts}::timestamptz[],
                      ${paymentDueAts}::timestamptz[], ${shippingAddresses}::text[]) WITH ORDINALITY
               AS i(user_id, scope, key, request_hash, status, subtotal_amount, discount_amount, final_amount, paid_at, payment_due_at, shipping_address, n)
      ), claim AS (
        INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status, response, created_at, updated_at)
        SELECT user_id, scope, key, request_hash, 'completed', ${keyStatementParts.reference(ORDER_REFERENCE, sql`order_id`)}, ${at}::timestamptz, ${at}::timestamptz
          FROM input WHERE key IS NOT NULL ORDER BY user_id
        ON CONFLICT (user_id, scope, key) DO NOTHING
        RETURNING user_id
      ), o AS (
        INSERT INTO order_orders (id, user_id, status, subtotal_amount, discount_amount, final_amount, issued_coupon_id, paid_at, payment_due_at, shipping_address, created_at, updated_at)
        OVERRIDING SYSTEM VALUE
        SELECT order_id, user_id, status, subtotal_amount, discount_amount, final_amount, NULL, paid_at, payment_due_at, shipping_address, ${at}::timestamptz, ${at}::timestamptz
          FROM input WHERE key IS NULL OR user_id IN (SELECT user_id FROM claim) ORDER BY n
        RETURNING id, user_id, created_at
      ), l AS (
        INSERT INTO order_lines (order_id, product_id, product_name, unit_price, quantity, line_amount)
        SELECT o.id, line.product_id, line.product_name, line.unit_price, line.quantity, line.unit_price * line.quantity
          FROM unnest(${lineUsers}::int8[], ${productIds}::int8[], ${productNames}::text[], ${unitPrices}::int8[], ${quantities}::int4[])
               AS line(user_id, product_id, product_name, unit_price, quantity)
          JOIN o ON o.user_id = line.user_id
      ), p AS (
        INSERT INTO order_payments (order_id, method, amount, status, card_payment_id, created_at)
        SELECT o.id, pay.method, pay.amount, 'paid', NULL, o.created_at
          FROM unnest(${paymentUsers}::int8[], ${paymentMethods}::text[], ${paymentAmounts}::int8[]) AS pay(user_id, method, amount)
          JOIN o ON o.user_id = pay.user_id
      )
      SELECT input.user_id, o.id FROM input LEFT JOIN o ON o.user_id = input.user_id ORDER BY input.n`,
);

/** An order line as shipping reads it (the columns of `lines`). */
export interface OrderLineRow {
  product_id: number;
  product_name: string;
  unit_price: number;
  quantity: number;
  line_amount: number;
}

/**
 * What shipping needs of an order (status, customer, sealed address) and its lines, in one
 * statement built once (Kysely's work skipped): every paid order's booking starts with it (was two).
 */
const shippableStatement = compiledQuery(
  (_db, orderId: number) => sql<{ id: number; user_id: number; status: OrderStatus; shipping_address: string | null; lines: OrderLineRow[] }>`
    SELECT o.id, o.user_id, o.status, o.shipping_address,
           coalesce((SELECT json_agg(json_build_object('product_id', l.product_id, 'product_name', l.product_name, 'unit_price', l.unit_price,
                                                       'quantity', l.quantity, 'line_amount', l.line_amount) ORDER BY l.id)
                       FROM order_lines l WHERE l.order_id = o.id), '[]'::json) AS lines
      FROM order_orders o
     WHERE o.id = ${orderId}::int8`,
  // Planned every time: a generic plan made while order_lines was small could read the lines by a scan, for good.
  { prepared: false },
);

/** The order row lock of a shipping step (rank Order), with what the step reads under it; compiled once. */
const lockForShippingStatement = compiledQuery(
  (_db, orderId: number) => sql<{ id: number; user_id: number; status: OrderStatus; shipping_address: string | null }>`
    SELECT id, user_id, status, shipping_address FROM order_orders WHERE id = ${orderId}::int8 FOR NO KEY UPDATE`,
);

/** A status change without further columns (shipping's steps, most of the lifecycle); compiled once. */
const setStatusOnlyStatement = compiledQuery(
  (_db, orderId: number, status: OrderStatus, at: Date) => sql`
    UPDATE order_orders SET status = ${status}, updated_at = ${at} WHERE id = ${orderId}::int8`,
);

export const orderRepository = {
  /**
   * The order, its lines and (when it is paid now) its payments, in ONE statement: these rows are
   * new and contended by nobody, so they go in with a single round trip before any lock is taken.
   */
  async insertWithLines(
    trx: Tx,
    order: NewOrder,
    lines: Array<{ productId: number; productName: string; unitPrice: number; quantity: number }>,
    payments: NewPayment[],
  ): Promise<number> {
    const result = await insertOrderWithLines(
      trx,
      order.userId,
      order.status,
      order.subtotalAmount,
      order.discountAmount,
      order.finalAmount,
      order.issuedCouponId,
      order.paidAt,
      order.paymentDueAt,
      order.shippingAddress,
      order.at,
      lines.map((l) => l.productId),
      lines.map((l) => l.productName),
      lines.map((l) => l.unitPrice),
      lines.map((l) => l.quantity),
      payments.map((p) => p.method),
      payments.map((p) => p.amount),
      payments.map((p) => p.cardPaymentId),
    );
    return Number(result.rows[0]?.id);
  },

  /**
   * `insertWithLines` with the order's idempotency key claimed in the same statement. The order id,
   * or (nothing inserted) the key that was there first as the statement saw it: undefined when its
   * snapshot predates the key (a concurrent claim committed while this one waited on it).
   */
  async claimKeyAndInsertWithLines(
    trx: Tx,
    claim: OrderKeyClaim,
    order: NewOrder,
    lines: Array<{ productId: number; productName: string; unitPrice: number; quantity: number }>,
    payments: NewPayment[],
  ): Promise<{ orderId: number } | { taken: KeyRow | undefined }> {
    noteLock(trx, LockRank.IdempotencyKey);
    const result = await claimKeyAndInsertOrderWithLines(
      trx,
      order.userId,
      claim.scope,
      claim.key,
      claim.requestHash,
      order.status,
      order.subtotalAmount,
      order.discountAmount,
      order.finalAmount,
      order.issuedCouponId,
      order.paidAt,
      order.paymentDueAt,
      order.shippingAddress,
      order.at,
      lines.map((l) => l.productId),
      lines.map((l) => l.productName),
      lines.map((l) => l.unitPrice),
      lines.map((l) => l.quantity),
      payments.map((p) => p.method),
      payments.map((p) => p.amount),
      payments.map((p) => p.cardPaymentId),
    );
    const row = result.rows[0];
    if (row?.id != null) return { orderId: Number(row.id) };
    return {
      taken: row?.request_hash != null ? { request_hash: row.request_hash, status: row.status as KeyRow["status"], response: row.response } : undefined,
    };
  },

  /**
   * `claimKeyAndInsertWithLines` for a batch of orders, one per customer (no card payments, no
   * coupons): the new order's id per entry, in order; null where the key was there first (the
   * caller runs that order on its own, which replays or refuses it).
   */
  async claimKeysAndInsertMany(
    trx: Tx,
    entries: Array<{
      claim: OrderKeyClaim | null;
      order: NewOrder;
      lines: Array<{ productId: number; productName: string; unitPrice: number; quantity: number }>;
      payments: NewPayment[];
    }>,
    at: Date,
  ): Promise<Array<number | null>> {
    const users = new Set(entries.map((e) => e.order.userId));
    if (users.size !== entries.length) throw new Error("orders: a batch holds one order per customer");
    if (entries.some((e) => e.order.issuedCouponId !== null || e.payments.some((p) => p.cardPaymentId !== null))) {
      throw new Error("orders: a batch holds no coupons and no card payments");
    }
    noteLock(trx, LockRank.IdempotencyKey);
    const lines = entries.flatMap((e) => e.lines.map((line) => ({ userId: e.order.userId, ...line })));
    const payments = entries.flatMap((e) => e.payments.map((payment) => ({ userId: e.order.userId, ...payment })));
    const result = await claimKeysAndInsertOrders(
      trx,
      entries.map((e) => e.order.userId),
      entries.map((e) => e.claim?.scope ?? null),
      entries.map((e) => e.claim?.key ?? null),
      entries.map((e) => e.claim?.requestHash ?? null),
      entries.map((e) => e.order.status),
      entries.map((e) => e.order.subtotalAmount),
      entries.map((e) => e.order.discountAmount),
      entries.map((e) => e.order.finalAmount),
      entries.map((e) => e.order.paidAt),
      entries.map((e) => e.order.paymentDueAt),
      entries.map((e) => e.order.shippingAddress),
      at,
      lines.map((l) => l.userId),
      lines.map((l) => l.productId),
      lines.map((l) => l.productName),
      lines.map((l) => l.unitPrice),
      lines.map((l) => l.quantity),
      payments.map((p) => p.userId),
      payments.map((p) => p.method),
      payments.map((p) => p.amount),
    );
    return result.rows.map((row) => (row.id == null ? null : Number(row.id)));
  },

  /** A pending order (locked by the caller) becomes paid, with its payment rows: ONE statement. */
  async markPaid(trx: Tx, orderId: number, payments: NewPayment[], at: Date): Promise<void> {
    noteLock(trx, LockRank.Order, orderId);
    await sql`
      WITH paid AS (
        UPDATE order_orders SET status = 'paid', paid_at = ${at}, updated_at = ${at} WHERE id = ${orderId} RETURNING id
      )
      INSERT INTO order_payments (order_id, method, amount, status, card_payment_id, created_at)
      SELECT paid.id, pay.method, pay.amount, 'paid', pay.card_payment_id, ${at}
        FROM paid, unnest(${payments.map((p) => p.method)}::text[], ${payments.map((p) => p.amount)}::int8[],
                          ${payments.map((p) => p.cardPaymentId)}::int8[]) AS pay(method, amount, card_payment_id)`.execute(trx);
  },

  /** The order's payment row counts as part of the order (rank Order): it is only written under the order's lock. */
  async markPaymentRefunded(trx: Tx, orderId: number): Promise<void> {
    noteLock(trx, LockRank.Order, orderId);
    await trx.updateTable("order_payments").set({ status: "refunded" }).where("order_id", "=", orderId).execute();
  },

  /**
   * Exclusive lock on the order row (rank Order): pay, cancel, refund and ship serialize on it.
   * FOR NO KEY UPDATE, not FOR UPDATE: rows that reference the order (a new shipment, a payment)
   * take FOR KEY SHARE through their foreign key, which must not wait on us nor we on them.
   */
  lockOrder(trx: Tx, orderId: number): Promise<OrderRow | undefined> {
    noteLock(trx, LockRank.Order, orderId);
    return trx.selectFrom("order_orders").selectAll().where("id", "=", orderId).forNoKeyUpdate().executeTakeFirst();
  },

  /** An unpaid order's lines replaced and its totals with them (the order locked by the caller). */
  async replaceLines(
    trx: Tx,
    orderId: number,
    lines: Array<{ productId: number; productName: string; unitPrice: number; quantity: number }>,
    totals: { subtotalAmount: number; discountAmount: number; finalAmount: number },
    at: Date,
  ): Promise<void> {
    await trx.deleteFrom("order_lines").where("order_id", "=", orderId).execute();
    await trx
      .insertInto("order_lines")
      .values(
        lines.map((l) => ({
          order_id: orderId,
          product_id: l.productId,
          product_name: l.productName,
          unit_price: l.unitPrice,
          quantity: l.quantity,
          line_amount: l.unitPrice * l.quantity,
        })),
      )
      .execute();
    await trx
      .updateTable("order_orders")
      .set({ subtotal_amount: totals.subtotalAmount, discount_amount: totals.discountAmount, final_amount: totals.finalAmount, updated_at: at })
      .where("id", "=", orderId)
      .execute();
  },

  async setShippingAddress(trx: Tx, orderId: number, sealedAddress: string, at: Date): Promise<void> {
    await trx.updateTable("order_orders").set({ shipping_address: sealedAddress, updated_at: at }).where("id", "=", orderId).execute();
  },

  /** Every order of a customer, locked (rank Order, ascending id): erasing the account waits for pay, cancel and ship. */
  lockOrdersOf(trx: Tx, userId: number) {
    noteLock(trx, LockRank.Order, 0);
    return trx.selectFrom("order_orders").select(["id", "status"]).where("user_id", "=", userId).orderBy("id").forNoKeyUpdate().execute();
  },

  /** The customer's address copies on their orders erased (the orders themselves stay: the books need them). */
  async eraseShippingAddresses(trx: Tx, userId: number): Promise<number> {
    const result = await trx.updateTable("order_orders").set({ shipping_address: null }).where("user_id", "=", userId).executeTakeFirst();
    return Number(result.numUpdatedRows);
  },

  /** The order and its lines for shipping (shippableStatement); undefined when there is no such order. */
  async findShippable(db: Executor, orderId: number) {
    return (await shippableStatement(db, orderId)).rows[0];
  },

  /** Exclusive lock on the order row (rank Order) for a shipping step: only the columns it reads. */
  async lockForShipping(trx: Tx, orderId: number) {
    noteLock(trx, LockRank.Order, orderId);
    return (await lockForShippingStatement(trx, orderId)).rows[0];
  },

  findOrder(db: Executor, orderId: number): Promise<OrderRow | undefined> {
    return db.selectFrom("order_orders").selectAll().where("id", "=", orderId).executeTakeFirst();
  },

  lines(db: Executor, orderId: number) {
    return db
      .selectFrom("order_lines")
      .select(["product_id", "product_name", "unit_price", "quantity", "line_amount"])
      .where("order_id", "=", orderId)
      .orderBy("id")
      .execute();
  },

  /** The order's payment rows, card first (the lock order when they are given back). */
  payments(db: Executor, orderId: number) {
    return db
      .selectFrom("order_payments")
      .select(["method", "amount", "status", "card_payment_id", "created_at"])
      .where("order_id", "=", orderId)
      .orderBy("method")
      .execute();
  },

  async insertRefund(trx: Tx, refund: Insertable<OrderRefundsTable>): Promise<void> {
    await trx.insertInto("order_refunds").values(refund).execute();
  },

  refunds(db: Executor, orderId: number) {
    return db
      .selectFrom("order_refunds")
      .select(["kind", "wallet_amount", "card_amount", "reason", "actor_id", "created_at"])
      .where("order_id", "=", orderId)
      .orderBy("id")
      .execute();
  },

  async setStatus(
    trx: Tx,
    orderId: number,
    status: OrderStatus,
    at: Date,
    extra: { paidAt?: Date; cancelledAt?: Date; cancelReason?: string | null; refundedAt?: Date; refundReason?: string } = {},
  ): Promise<void> {
    noteLock(trx, LockRank.Order, orderId);
    if (!extra.paidAt && !extra.cancelledAt && !extra.refundedAt) {
      await setStatusOnlyStatement(trx, orderId, status, at);
      return;
    }
    await trx
      .updateTable("order_orders")
      .set({
        status,
        updated_at: at,
        ...(extra.paidAt ? { paid_at: extra.paidAt } : {}),
        ...(extra.cancelledAt ? { cancelled_at: extra.cancelledAt, cancel_reason: extra.cancelReason ?? null } : {}),
        ...(extra.refundedAt ? { refunded_at: extra.refundedAt, refund_reason: extra.refundReason ?? null } : {}),
      })
      .where("id", "=", orderId)
      .execute();
  },

  list(db: Executor, filter: { userId?: number; status?: OrderStatus; from?: Date; to?: Date; beforeId?: number; limit: number }): Promise<OrderRow[]> {
    let q = db.selectFrom("order_orders").selectAll().orderBy("id", "desc").limit(filter.limit);
    if (filter.userId !== undefined) q = q.where("user_id", "=", filter.userId);
    if (filter.status) q = q.where("status", "=", filter.status);
    if (filter.from) q = q.where("created_at", ">=", filter.from);
    if (filter.to) q = q.where("created_at", "<", filter.to);
    if (filter.beforeId !== undefined) q = q.where("id", "<", filter.beforeId);
    return q.execute();
  },

  duePendingOrderIds(db: Executor, now: Date, limit: number): Promise<number[]> {
    return db
      .selectFrom("order_orders")
      .select("id")
      .where("status", "=", "pending_payment")
      .where("payment_due_at", "<=", now)
      .orderBy("payment_due_at")
      .limit(limit)
      .execute()
      .then((rows) => rows.map((r) => r.id));
  },

  /** Per UTC day of payment: paid orders, takings, discounts, and what was later cancelled or refunded. */
  dailyTotals(db: Executor, from: Date, to: Date) {
    return db
      .selectFrom("order_orders")
      .select([
        sql<string>`to_char(paid_at at time zone 'UTC', 'YYYY-MM-DD')`.as("day"),
        sql<number>`count(*)::int8`.as("paid_orders"),
        sql<number>`sum(final_amount)::int8`.as("gross_amount"),
        sql<number>`sum(discount_amount)::int8`.as("discount_amount"),
        sql<number>`(count(*) filter (where status in ('cancelled', 'refunded')))::int8`.as("reversed_orders"),
        sql<number>`coalesce(sum(final_amount) filter (where status in ('cancelled', 'refunded')), 0)::int8`.as("reversed_amount"),
      ])
      .where("paid_at", ">=", from)
      .where("paid_at", "<", to)
      .groupBy(sql`1`)
      .orderBy(sql`1`)
      .execute();
  },

  /**
   * Buyers of a period (paid orders not cancelled or refunded): how many, how many bought for the first
   * time (no kept paid order before `from`), their orders and takings, and how many bought 1, 2, 3, 4, 5+ times.
   */
  async buyerTotals(db: Executor, from: Date, to: Date) {
    const result = await sql<{
      buyers: string;
      new_buyers: string;
      orders: string;
      amount: string;
      once: string;
      twice: string;
      thrice: string;
      four: string;
      five_plus: string;
    }>`
      with kept as (
        select user_id, paid_at, final_amount from order_orders
        where paid_at is not null and status not in ('cancelled', 'refunded')
      ), buyers as (
        select user_id, count(*) as orders, sum(final_amount) as amount,
          not exists (select 1 from kept earlier where earlier.user_id = kept.user_id and earlier.paid_at < ${from}) as is_new
        from kept where paid_at >= ${from} and paid_at < ${to}
        group by user_id
      )
      select count(*)::int8 as buyers, (count(*) filter (where is_new))::int8 as new_buyers,
        coalesce(sum(orders), 0)::int8 as orders, coalesce(sum(amount), 0)::int8 as amount,
        (count(*) filter (where orders = 1))::int8 as once, (count(*) filter (where orders = 2))::int8 as twice,
        (count(*) filter (where orders = 3))::int8 as thrice, (count(*) filter (where orders = 4))::int8 as four,
        (count(*) filter (where orders >= 5))::int8 as five_plus
      from buyers`.execute(db);
    return result.rows[0];
  },
};
