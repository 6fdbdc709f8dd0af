/**
 * The invariants a benchmark run must leave intact, checked from the database after every
 * scenario (and, on tiny numbers, by tests/integration/bench-smoke.test.ts).
 *
 * Each check is one SQL query that returns the offending rows (empty = holds). Global checks:
 *
 *   coupons   issued_quantity = rows issued; never above total_quantity; one per customer;
 *             one "issued" history entry per issued coupon
 *   stock     never negative; equals the sum of its movement log; equals initial stock
 *             (inbound/outbound/adjustment movements) minus the units of orders holding stock
 *             (every order not cancelled or expired, nor returned with the goods put back)
 *   wallet    every balance = the sum of its ledger, and = the balance_after of its last entry
 *   money     Σ balances + Σ wallet order payments still held (order_payments 'wallet', 'paid')
 *               = Σ card charges credited (ledger 'charge')            (money is conserved)
 *             every wallet order payment has its ledger entry (−amount), every refunded one its refund;
 *             and, when the fake gateway's numbers are given, Σ charges = what the gateway captured
 *             for wallets, and Σ card order payments held = what it captured from cards − refunded
 *   card      every card order payment matches its card record (amount; paid ↔ captured, refunded ↔
 *             reversed); no card record left owing the gateway a call (recovery has caught up)
 *   orders    lines sum to the subtotal; an order that was paid has payment rows adding up to its
 *             amount; a refund record gives back exactly what its refunded payments took, per source
 *   outbox    an order that was ever paid has exactly one order.paid event per destination, and
 *             an order never paid has none
 *   sales     the roll-up has caught up (nothing left in sales_pending, waited for up to 15 s);
 *             then sales_daily per product = units of the paid (not cancelled nor refunded) orders' lines
 *   idempotency  no key left in progress
 *
 * Scenario expectations (exact coupon counts, exact stock) are added through `CheckOptions`.
 * The "fixtures" scope (read scenarios: bulk-loaded history, no money flows) checks only what
 * the fixture promises: stock and sales_daily against the order lines.
 */
import { type RawBuilder, sql } from "kysely";
import type { Db } from "../../db/index.ts";

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** Up to five offending rows. */
  sample?: unknown[];
}

export interface CheckOptions {
  /** "all" (default) or "fixtures" (bulk-loaded read data: no money, no outbox). */
  scope?: "all" | "fixtures";
  /** Coupons whose issued count must be exactly this. */
  coupons?: Array<{ couponId: number; expectedIssued: number }>;
  /** Products whose stock must be exactly this. */
  products?: Array<{ productId: number; expectedStock: number }>;
  /** What the card gateway captured for wallet charges (approved minus voided), to compare with the ledger's charges. */
  gatewayCapturedAmount?: number;
  /** What the gateway captured from cards for orders, minus what it refunded to them. */
  gatewayCardNetAmount?: number;
}

/** Orders whose goods are out of stock: not cancelled or expired, nor returned with the goods put back (a 'release' movement). */
const HOLDS_STOCK = sql`o.status NOT IN ('cancelled', 'expired')
  AND NOT (o.status = 'refunded' AND EXISTS (SELECT 1 FROM inventory_movements r WHERE r.order_id = o.id AND r.kind = 'release'))`;
/** Statuses in which a paid order counts as sold (orders/lifecycle.ts isPaid): a refund takes the sale back out, like a cancellation. */
const COUNTS_AS_SOLD = sql`o.status IN ('paid', 'preparing', 'shipped', 'delivered')`;

async function violations(db: Db, name: string, query: RawBuilder<Record<string, unknown>>, describe: (n: number) => string): Promise<CheckResult> {
  const counted = await sql<{ total: number; sample: unknown[] | null }>`
    SELECT count(*)::int AS total, (SELECT json_agg(s) FROM (SELECT * FROM (${query}) q LIMIT 5) s) AS sample FROM (${query}) v`.execute(db);
  const row = counted.rows[0];
  const total = Number(row?.total ?? 0);
  return { name, ok: total === 0, detail: total === 0 ? "holds" : describe(total), ...(total > 0 ? { sample: row?.sample ?? [] } : {}) };
}

async function hasColumn(db: Db, table: string, column: string): Promise<boolean> {
  const r = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = ${table} AND column_name = ${column}`.execute(db);
  return Number(r.rows[0]?.n ?? 0) > 0;
}

async function stockChecks(db: Db, againstOrders: boolean): Promise<CheckResult[]> {
  const results = [
    await violations(db, "stock: never negative", sql`SELECT product_id, quantity FROM inventory_stock WHERE quantity < 0`, (n) => `${n} products below zero`),
    await violations(
      db,
      "stock: equals its movement log",
      sql`SELECT s.product_id, s.quantity, m.total FROM inventory_stock s
            JOIN (SELECT product_id, sum(quantity_change) AS total FROM inventory_movements GROUP BY product_id) m ON m.product_id = s.product_id
           WHERE s.quantity <> m.total`,
      (n) => `${n} products whose stock differs from the sum of their movements`,
    ),
  ];
  if (!againstOrders) return results;
  results.push(
    await violations(
      db,
      "stock: initial − sold",
      sql`WITH initial AS (
            SELECT product_id, sum(quantity_change) AS units FROM inventory_movements
             WHERE kind IN ('inbound', 'outbound', 'adjustment') GROUP BY product_id),
          sold AS (
            SELECT l.product_id, sum(l.quantity) AS units FROM order_lines l JOIN order_orders o ON o.id = l.order_id
             WHERE ${HOLDS_STOCK} GROUP BY l.product_id)
          SELECT s.product_id, s.quantity, coalesce(i.units, 0) AS initial, coalesce(d.units, 0) AS sold
            FROM inventory_stock s LEFT JOIN initial i ON i.product_id = s.product_id LEFT JOIN sold d ON d.product_id = s.product_id
           WHERE s.quantity <> coalesce(i.units, 0) - coalesce(d.units, 0)`,
      (n) => `${n} products whose stock is not initial − sold`,
    ),
  );
  return results;
}

/**
 * sales_daily is rolled up from sales_pending after each order commits (modules/sales), so it
 * equals the paid order lines once the roll-up has caught up: wait until nothing is pending
 * (the server's roll-up runs every 250 ms), at most `timeoutMs`. Null when there is no roll-up.
 */
async function waitForSalesRollUp(db: Db, timeoutMs = 15_000): Promise<{ waitedMs: number; pending: number } | null> {
  if (!(await hasColumn(db, "sales_pending", "id"))) return null;
  const started = performance.now();
  for (;;) {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM sales_pending`.execute(db);
    const pending = Number(r.rows[0]?.n ?? 0);
    const waitedMs = performance.now() - started;
    if (pending === 0 || waitedMs >= timeoutMs) return { waitedMs, pending };
    await Bun.sleep(100);
  }
}

async function salesCheck(db: Db): Promise<CheckResult[]> {
  const rollUp = await waitForSalesRollUp(db);
  const caughtUp: CheckResult[] = rollUp
    ? [
        {
          name: "sales: roll-up caught up",
          ok: rollUp.pending === 0,
          detail:
            rollUp.pending === 0
              ? `nothing pending (waited ${Math.round(rollUp.waitedMs)} ms)`
              : `${rollUp.pending} sales still pending after ${Math.round(rollUp.waitedMs)} ms`,
        },
      ]
    : [];
  return [...caughtUp, await salesTotalsCheck(db)];
}

async function salesTotalsCheck(db: Db): Promise<CheckResult> {
  return violations(
    db,
    "sales: sales_daily = paid order lines",
    sql`WITH daily AS (
          SELECT product_id, sum(sold_quantity) AS units, sum(order_count) AS orders FROM sales_daily GROUP BY product_id),
        sold AS (
          SELECT l.product_id, sum(l.quantity) AS units, count(DISTINCT o.id) AS orders
            FROM order_lines l JOIN order_orders o ON o.id = l.order_id
           WHERE ${COUNTS_AS_SOLD} GROUP BY l.product_id)
        SELECT coalesce(d.product_id, s.product_id) AS product_id, d.units AS daily_units, s.units AS sold_units, d.orders AS daily_orders, s.orders AS sold_orders
          FROM daily d FULL JOIN sold s ON s.product_id = d.product_id
         WHERE coalesce(d.units, 0) <> coalesce(s.units, 0) OR coalesce(d.orders, 0) <> coalesce(s.orders, 0)`,
    (n) => `${n} products whose sales_daily totals differ from their paid order lines`,
  );
}

export async function checkInvariants(db: Db, options: CheckOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const scope = options.scope ?? "all";

  if (scope === "all") {
    results.push(
      await violations(
        db,
        "coupons: issued count = rows, ≤ quantity",
        sql`SELECT c.id, c.total_quantity, c.issued_quantity, count(i.id)::int AS rows
              FROM coupon_coupons c LEFT JOIN coupon_issued i ON i.coupon_id = c.id
             GROUP BY c.id HAVING c.issued_quantity <> count(i.id) OR count(i.id) > c.total_quantity`,
        (n) => `${n} coupons whose issued count is off`,
      ),
      await violations(
        db,
        "coupons: none issued twice to a customer",
        sql`SELECT coupon_id, user_id, count(*)::int AS times FROM coupon_issued GROUP BY coupon_id, user_id HAVING count(*) > 1`,
        (n) => `${n} customers hold a coupon twice`,
      ),
      await violations(
        db,
        "coupons: one 'issued' history entry each",
        sql`SELECT i.id, count(h.id)::int AS entries FROM coupon_issued i
              LEFT JOIN coupon_history h ON h.issued_coupon_id = i.id AND h.action = 'issued'
             GROUP BY i.id HAVING count(h.id) <> 1`,
        (n) => `${n} issued coupons without exactly one 'issued' history entry`,
      ),
    );
  }

  // Fixture history predates the fixture's stock count, so only the full scope compares stock with orders.
  results.push(...(await stockChecks(db, scope === "all")));

  if (scope === "all") {
    results.push(
      await violations(
        db,
        "wallet: balance = sum of its ledger",
        sql`SELECT a.user_id, a.balance, coalesce(l.total, 0) AS ledger_sum, l.last_after
              FROM wallet_accounts a
              LEFT JOIN (SELECT user_id, sum(amount) AS total, (array_agg(balance_after ORDER BY id DESC))[1] AS last_after
                           FROM wallet_ledger GROUP BY user_id) l ON l.user_id = a.user_id
             WHERE a.balance <> coalesce(l.total, 0) OR a.balance <> coalesce(l.last_after, 0)`,
        (n) => `${n} wallets whose balance is not the sum of their ledger`,
      ),
    );

    const money = await sql<{ balances: number; held: number; charges: number; payments: number; refunds: number; paid_out: number; refunded: number }>`
      SELECT (SELECT coalesce(sum(balance), 0) FROM wallet_accounts) AS balances,
             (SELECT coalesce(sum(amount), 0) FROM order_payments WHERE status = 'paid' AND method = 'wallet') AS held,
             (SELECT coalesce(sum(amount), 0) FROM wallet_ledger WHERE kind = 'charge') AS charges,
             (SELECT coalesce(-sum(amount), 0) FROM wallet_ledger WHERE kind = 'payment') AS payments,
             (SELECT coalesce(sum(amount), 0) FROM wallet_ledger WHERE kind = 'refund') AS refunds,
             (SELECT coalesce(sum(amount), 0) FROM order_payments WHERE method = 'wallet') AS paid_out,
             (SELECT coalesce(sum(amount), 0) FROM order_payments WHERE status = 'refunded' AND method = 'wallet') AS refunded`.execute(db);
    const m = money.rows[0] ?? { balances: 0, held: 0, charges: 0, payments: 0, refunds: 0, paid_out: 0, refunded: 0 };
    const [balances, held, charges, payments, refunds, paidOut, refunded] = [m.balances, m.held, m.charges, m.payments, m.refunds, m.paid_out, m.refunded].map(
      Number,
    ) as [number, number, number, number, number, number, number];
    results.push({
      name: "money: balances + held by orders = charges",
      ok: balances + held === charges,
      detail: `Σ balances ${balances} + Σ payments held ${held} = ${balances + held}; Σ charges ${charges}${balances + held === charges ? "" : ` (off by ${balances + held - charges})`}`,
    });
    results.push({
      name: "money: ledger payments/refunds = wallet order payments",
      ok: payments === paidOut && refunds === refunded,
      detail: `ledger payments ${payments} vs order payments ${paidOut}; ledger refunds ${refunds} vs refunded payments ${refunded}`,
    });
    if (options.gatewayCapturedAmount !== undefined) {
      results.push({
        name: "money: charges = captured by the gateway",
        ok: charges === options.gatewayCapturedAmount,
        detail: `ledger charges ${charges}, gateway captured ${options.gatewayCapturedAmount}`,
      });
    }
    if (options.gatewayCardNetAmount !== undefined) {
      const r = await sql<{ held: number }>`
        SELECT coalesce(sum(amount), 0) AS held FROM order_payments WHERE method = 'card' AND status = 'paid'`.execute(db);
      const cardHeld = Number(r.rows[0]?.held ?? 0);
      results.push({
        name: "money: card payments held = captured − refunded by the gateway",
        ok: cardHeld === options.gatewayCardNetAmount,
        detail: `card order payments held ${cardHeld}, gateway captured − refunded ${options.gatewayCardNetAmount}`,
      });
    }
    results.push(
      await violations(
        db,
        "money: each payment has its ledger entry",
        sql`SELECT p.order_id, p.amount, count(l.id)::int AS entries FROM order_payments p
              LEFT JOIN wallet_ledger l ON l.order_id = p.order_id AND l.kind = 'payment' AND l.amount = -p.amount
             WHERE p.amount > 0 AND p.method = 'wallet' GROUP BY p.order_id, p.amount HAVING count(l.id) <> 1`,
        (n) => `${n} order payments without exactly one matching ledger entry`,
      ),
      await violations(
        db,
        "orders: lines sum to the subtotal",
        sql`SELECT o.id, o.subtotal_amount, sum(l.line_amount) AS lines FROM order_orders o JOIN order_lines l ON l.order_id = o.id
             GROUP BY o.id HAVING o.subtotal_amount <> sum(l.line_amount)`,
        (n) => `${n} orders whose lines do not add up`,
      ),
      await violations(
        db,
        "orders: a paid order has its payment",
        sql`SELECT o.id, o.status, o.final_amount, p.amount, p.statuses FROM order_orders o
              LEFT JOIN (SELECT order_id, sum(amount) AS amount, array_agg(DISTINCT status) AS statuses FROM order_payments GROUP BY order_id) p
                ON p.order_id = o.id
             WHERE o.paid_at IS NOT NULL AND (p.order_id IS NULL OR p.amount <> o.final_amount OR cardinality(p.statuses) <> 1
                OR (p.statuses[1] = 'paid') <> (o.status IN ('paid', 'preparing', 'shipped', 'delivered')))`,
        (n) => `${n} paid orders without matching payments`,
      ),
      await violations(
        db,
        "orders: a refund gives back its refunded payments, per source",
        sql`SELECT r.order_id, r.wallet_amount, r.card_amount, p.wallet, p.card FROM order_refunds r
              LEFT JOIN (SELECT order_id, sum(amount) FILTER (WHERE method = 'wallet') AS wallet, sum(amount) FILTER (WHERE method = 'card') AS card
                           FROM order_payments WHERE status = 'refunded' GROUP BY order_id) p ON p.order_id = r.order_id
             WHERE r.wallet_amount <> coalesce(p.wallet, 0) OR r.card_amount <> coalesce(p.card, 0)`,
        (n) => `${n} refund records that do not match their refunded payments`,
      ),
    );
    if (await hasColumn(db, "payment_card_payments", "id")) {
      results.push(
        await violations(
          db,
          "card: every card order payment matches its card record",
          sql`SELECT p.order_id, p.amount, p.status, c.amount AS card_amount, c.status AS card_status, c.order_id AS card_order_id
                FROM order_payments p LEFT JOIN payment_card_payments c ON c.id = p.card_payment_id
               WHERE p.method = 'card' AND (c.id IS NULL OR c.amount <> p.amount OR c.order_id <> p.order_id
                  OR (p.status = 'paid' AND c.status NOT IN ('capturing', 'captured'))
                  OR (p.status = 'refunded' AND c.status NOT IN ('reversing', 'reversed')))`,
          (n) => `${n} card order payments whose card record disagrees`,
        ),
        await violations(
          db,
          "card: no card payment left owing the gateway a call",
          sql`SELECT id, status, amount, order_id FROM payment_card_payments
               WHERE status IN ('authorizing', 'authorized', 'voiding', 'capturing', 'reversing')`,
          (n) => `${n} card payments not settled with the gateway`,
        ),
      );
    }

    // One row per (event, destination) once the outbox has destinations; one row per event before.
    // An event written once (destination 'fan-out') stands for each of its destinations until the
    // poller fans it out (then it is sent and its rows per destination stand for themselves); right
    // after a rush some are fanned out and some not. With none fanned out yet, the row itself is expected.
    const perDestination = await hasColumn(db, "outbox_events", "destination");
    const paidEvents = sql`aggregate_type = 'order' AND type = 'order.paid'`;
    results.push(
      await violations(
        db,
        "outbox: one order.paid per paid order (per destination)",
        perDestination
          ? sql`WITH events AS (
              SELECT aggregate_id, destination, count(*) AS n FROM outbox_events
               WHERE ${paidEvents} AND destination <> 'fan-out' GROUP BY 1, 2),
            waiting AS (
              SELECT aggregate_id, count(*) AS n FROM outbox_events
               WHERE ${paidEvents} AND destination = 'fan-out' AND status <> 'sent' GROUP BY 1),
            destinations AS (
              SELECT DISTINCT destination FROM events
              UNION ALL
              SELECT 'fan-out' WHERE NOT EXISTS (SELECT 1 FROM events) AND EXISTS (SELECT 1 FROM waiting)),
            expected AS (
              SELECT o.id::text AS aggregate_id, d.destination FROM order_orders o CROSS JOIN destinations d WHERE o.paid_at IS NOT NULL),
            counted AS (
              SELECT x.aggregate_id, x.destination, coalesce(e.n, 0) + coalesce(w.n, 0) AS n
                FROM expected x LEFT JOIN events e USING (aggregate_id, destination) LEFT JOIN waiting w USING (aggregate_id))
            SELECT aggregate_id AS order_id, destination, n AS events FROM counted WHERE n <> 1
            UNION ALL
            SELECT e.aggregate_id, e.destination, e.n FROM events e WHERE NOT EXISTS (SELECT 1 FROM expected x WHERE x.aggregate_id = e.aggregate_id)
            UNION ALL
            SELECT w.aggregate_id, 'fan-out', w.n FROM waiting w WHERE NOT EXISTS (SELECT 1 FROM expected x WHERE x.aggregate_id = w.aggregate_id)`
          : sql`WITH events AS (SELECT aggregate_id, count(*) AS n FROM outbox_events WHERE ${paidEvents} GROUP BY 1)
            SELECT coalesce(o.id::text, e.aggregate_id) AS order_id, coalesce(e.n, 0) AS events
              FROM (SELECT id FROM order_orders WHERE paid_at IS NOT NULL) o FULL JOIN events e ON e.aggregate_id = o.id::text
             WHERE coalesce(e.n, 0) <> 1 OR o.id IS NULL`,
        (n) => `${n} (order, destination) pairs without exactly one order.paid event`,
      ),
      ...(await salesCheck(db)),
      await violations(
        db,
        "idempotency: no key left in progress",
        sql`SELECT user_id, scope, key FROM idempotency_keys WHERE status = 'in_progress'`,
        (n) => `${n} keys still in progress`,
      ),
    );
  } else {
    results.push(...(await salesCheck(db)));
  }

  for (const expected of options.coupons ?? []) {
    const r = await sql<{ issued_quantity: number; rows: number; users: number }>`
      SELECT c.issued_quantity, (SELECT count(*)::int FROM coupon_issued i WHERE i.coupon_id = c.id) AS rows,
             (SELECT count(DISTINCT user_id)::int FROM coupon_issued i WHERE i.coupon_id = c.id) AS users
        FROM coupon_coupons c WHERE c.id = ${expected.couponId}`.execute(db);
    const row = r.rows[0];
    const ok = !!row && row.issued_quantity === expected.expectedIssued && row.rows === expected.expectedIssued && row.users === expected.expectedIssued;
    results.push({
      name: `coupon ${expected.couponId}: exactly ${expected.expectedIssued} issued, to distinct customers`,
      ok,
      detail: row ? `issued_quantity ${row.issued_quantity}, rows ${row.rows}, distinct customers ${row.users}` : "no such coupon",
    });
  }
  if (options.products && options.products.length > 0) {
    const ids = options.products.map((p) => p.productId);
    const expected = options.products.map((p) => p.expectedStock);
    const label = options.products.length === 1 ? `product ${ids[0]}: stock ${expected[0]}` : `${ids.length} products: stock as expected`;
    results.push(
      await violations(
        db,
        label,
        sql`SELECT e.product_id, e.expected, s.quantity FROM unnest(${ids}::bigint[], ${expected}::int[]) AS e(product_id, expected)
              LEFT JOIN inventory_stock s ON s.product_id = e.product_id WHERE s.quantity IS DISTINCT FROM e.expected`,
        (n) => `${n} products with unexpected stock`,
      ),
    );
  }
  return results;
}

export function failedChecks(results: CheckResult[]): CheckResult[] {
  return results.filter((r) => !r.ok);
}
