/**
 * What must hold after a chaos scenario, beyond the benchmark's invariant checker
 * (scripts/bench/invariants.ts, run first with the gateway's captured amount):
 *
 *   money      captured by the gateway = credited to wallets (Σ "charge" ledger entries), once no
 *              charge attempt is left pending or voiding; every charge a customer was told ok is credited
 *   orders     every order a customer was told ok is present, paid, or cancelled when its
 *              cancellation was acknowledged (cancelled or paid when the answer was lost)
 *   coupons    every customer told it holds the coupon holds it; ≤ quantity; none twice (checker);
 *              nobody told COUPON_SOLD_OUT while units remained (first come, first served)
 *   events     every paid order's order.paid, and every cancelled paid order's order.cancelled,
 *              applied exactly once by the data platform (its own records), none left undelivered
 *   answers    every step got a definite answer; 5xx and transport errors only inside a fault window
 *   process    no server exit the scenario did not cause
 */
import { sql } from "kysely";
import type { Db } from "../../db/index.ts";
import type { CheckResult } from "../bench/invariants.ts";
import type { ServerExit } from "./environment.ts";
import type { Attempt, StormRecord } from "./storm.ts";

export interface FaultWindow {
  label: string;
  startMs: number;
  endMs: number;
}

/** After a fault ends, answers already on their way may still carry it for this long. */
export const WINDOW_GRACE_MS = 2_000;

export interface Tally {
  requests: number;
  answersByCode: Record<string, number>;
  fiveXxInside: number;
  fiveXxOutside: number;
  transportInside: number;
  transportOutside: number;
  capturedNotCredited: number;
  oversold: number;
  couponsOverQuantity: number;
  couponsTwice: number;
  acknowledgedOrdersMissing: number;
  eventsMoreThanOnce: number;
  eventsLessThanOnce: number;
  stepsWithoutAnswer: number;
  unplannedExits: number;
}

export function insideWindow(attempt: Attempt, windows: FaultWindow[]): boolean {
  return windows.some((w) => attempt.endMs >= w.startMs && attempt.startMs <= w.endMs + WINDOW_GRACE_MS);
}

export interface AppliedEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

export interface ChaosFacts {
  db: Db;
  storm: StormRecord;
  windows: FaultWindow[];
  gatewayCaptured: number;
  applied: AppliedEvent[];
  exits: ServerExit[];
  couponId: number;
  hotProductId: number;
}

async function one<T>(db: Db, query: ReturnType<typeof sql<T>>): Promise<T> {
  const result = await query.execute(db);
  return result.rows[0] as T;
}

export async function chaosChecks(
  facts: ChaosFacts,
): Promise<{ checks: CheckResult[]; tally: Omit<Tally, "oversold" | "couponsOverQuantity" | "couponsTwice"> }> {
  const { db, storm, windows } = facts;
  const checks: CheckResult[] = [];

  // ── answers ───────────────────────────────────────────────────────────
  const answersByCode: Record<string, number> = {};
  let fiveXxInside = 0;
  let fiveXxOutside = 0;
  let transportInside = 0;
  let transportOutside = 0;
  const outsideSamples: Attempt[] = [];
  for (const a of storm.attempts) {
    const key = a.status === 0 ? "transport error" : a.code === "ok" ? "ok" : `${a.status} ${a.code}`;
    answersByCode[key] = (answersByCode[key] ?? 0) + 1;
    const inside = insideWindow(a, windows);
    if (a.status >= 500) {
      if (inside) fiveXxInside++;
      else {
        fiveXxOutside++;
        outsideSamples.push(a);
      }
    }
    if (a.status === 0) {
      if (inside) transportInside++;
      else {
        transportOutside++;
        outsideSamples.push(a);
      }
    }
  }
  checks.push({
    name: "answers: 5xx and transport errors only inside a fault window",
    ok: fiveXxOutside === 0 && transportOutside === 0,
    detail: `5xx inside ${fiveXxInside}, outside ${fiveXxOutside}; transport errors inside ${transportInside}, outside ${transportOutside}; windows ${
      windows.map((w) => `${w.label} ${(w.startMs / 1000).toFixed(1)}–${(w.endMs / 1000).toFixed(1)} s`).join(", ") || "none"
    } (+${WINDOW_GRACE_MS / 1000} s grace)`,
    ...(outsideSamples.length > 0 ? { sample: outsideSamples.slice(0, 5) } : {}),
  });
  const unanswered = storm.steps.filter((s) => s.code === null);
  checks.push({
    name: "answers: every step got a definite answer",
    ok: unanswered.length === 0,
    detail: `${storm.steps.length} steps, ${unanswered.length} given up`,
    ...(unanswered.length > 0 ? { sample: unanswered.slice(0, 5) } : {}),
  });

  // ── money ─────────────────────────────────────────────────────────────
  const attempts = await one<{ open: number; credited: number }>(
    db,
    sql`SELECT count(*) FILTER (WHERE status IN ('pending', 'voiding'))::int AS open, coalesce(sum(amount) FILTER (WHERE status = 'credited'), 0)::bigint AS credited FROM wallet_charge_attempts`,
  );
  checks.push({
    name: "money: no charge attempt left pending or voiding",
    ok: Number(attempts.open) === 0,
    detail: `${attempts.open} open attempts`,
  });
  const ledger = await one<{ charges: number }>(db, sql`SELECT coalesce(sum(amount), 0)::bigint AS charges FROM wallet_ledger WHERE kind = 'charge'`);
  const credited = Number(ledger.charges);
  const capturedNotCredited = Math.max(0, facts.gatewayCaptured - credited);
  checks.push({
    name: "money: captured by the gateway = credited to wallets",
    ok: facts.gatewayCaptured === credited,
    detail: `gateway captured ${facts.gatewayCaptured} won, wallets credited ${credited} won (attempts credited ${Number(attempts.credited)})`,
  });
  const keys = storm.charges.map((c) => c.key);
  const creditedKeys = new Set(
    keys.length === 0
      ? []
      : (
          await sql<{
            idempotency_key: string;
          }>`SELECT idempotency_key FROM wallet_charge_attempts WHERE status = 'credited' AND idempotency_key = ANY(${keys}::text[])`.execute(db)
        ).rows.map((r) => r.idempotency_key),
  );
  const uncredited = storm.charges.filter((c) => !creditedKeys.has(c.key));
  checks.push({
    name: "money: every acknowledged charge credited",
    ok: uncredited.length === 0,
    detail: `${storm.charges.length} acknowledged, ${uncredited.length} not credited`,
    ...(uncredited.length > 0 ? { sample: uncredited.slice(0, 5) } : {}),
  });

  // ── orders ────────────────────────────────────────────────────────────
  const ids = storm.orders.map((o) => o.orderId);
  const rows =
    ids.length === 0
      ? []
      : (
          await sql<{ id: number; user_id: number; status: string; final_amount: number }>`
            SELECT id::int AS id, user_id::int AS user_id, status, final_amount::int AS final_amount FROM order_orders WHERE id = ANY(${ids}::bigint[])`.execute(
            db,
          )
        ).rows;
  const byId = new Map(rows.map((r) => [Number(r.id), r]));
  const paidStates = new Set(["paid", "preparing", "shipped", "delivered"]);
  const wrong: unknown[] = [];
  let missing = 0;
  for (const order of storm.orders) {
    const row = byId.get(order.orderId);
    if (!row || Number(row.user_id) !== order.customerId || Number(row.final_amount) !== order.finalAmount) {
      missing++;
      wrong.push({ ...order, found: row ?? null });
      continue;
    }
    const ok =
      order.cancel === "acknowledged"
        ? row.status === "cancelled"
        : order.cancel === "unknown"
          ? row.status === "cancelled" || paidStates.has(row.status)
          : paidStates.has(row.status);
    if (!ok) wrong.push({ ...order, status: row.status });
  }
  checks.push({
    name: "orders: every acknowledged order present, in the state the customer was told",
    ok: wrong.length === 0,
    detail: `${storm.orders.length} acknowledged, ${missing} missing, ${wrong.length - missing} in another state`,
    ...(wrong.length > 0 ? { sample: wrong.slice(0, 5) } : {}),
  });

  // ── coupons ───────────────────────────────────────────────────────────
  const holders =
    storm.couponHolders.length === 0
      ? new Set<number>()
      : new Set(
          (
            await sql<{
              user_id: number;
            }>`SELECT user_id::int AS user_id FROM coupon_issued WHERE coupon_id = ${facts.couponId} AND user_id = ANY(${storm.couponHolders}::bigint[])`.execute(
              db,
            )
          ).rows.map((r) => Number(r.user_id)),
        );
  const notHolding = storm.couponHolders.filter((id) => !holders.has(id));
  checks.push({
    name: "coupons: every customer told it holds the coupon holds it",
    ok: notHolding.length === 0,
    detail: `${storm.couponHolders.length} told so, ${notHolding.length} without it`,
  });

  // Units never return to the pool (a cancellation gives the coupon back to its holder), so a
  // COUPON_SOLD_OUT answer is only true if every unit is issued by the end.
  const coupon = await one<{ total_quantity: number; issued_quantity: number }>(
    db,
    sql`SELECT total_quantity::int AS total_quantity, issued_quantity::int AS issued_quantity FROM coupon_coupons WHERE id = ${facts.couponId}`,
  );
  const unitsLeft = Number(coupon.total_quantity) - Number(coupon.issued_quantity);
  checks.push({
    name: "coupons: nobody told sold out while units remained",
    ok: storm.soldOutAnswers === 0 || unitsLeft === 0,
    detail: `${storm.soldOutAnswers} customers told COUPON_SOLD_OUT; ${coupon.issued_quantity} of ${coupon.total_quantity} issued, ${unitsLeft} never handed out`,
  });

  // ── events downstream ─────────────────────────────────────────────────
  const expected = (
    await sql<{ id: number; paid: boolean; cancelled: boolean }>`
      SELECT id::int AS id, true AS paid, (status = 'cancelled') AS cancelled FROM order_orders WHERE paid_at IS NOT NULL`.execute(db)
  ).rows;
  const appliedCount = new Map<string, number>();
  for (const event of facts.applied) {
    const orderId = Number(event.data.orderId);
    if (!Number.isFinite(orderId)) continue;
    const k = `${event.type}:${orderId}`;
    appliedCount.set(k, (appliedCount.get(k) ?? 0) + 1);
  }
  let more = 0;
  let less = 0;
  const eventSamples: unknown[] = [];
  const expectedKeys = new Set<string>();
  for (const order of expected) {
    for (const type of order.cancelled ? ["order.paid", "order.cancelled"] : ["order.paid"]) {
      const k = `${type}:${order.id}`;
      expectedKeys.add(k);
      const n = appliedCount.get(k) ?? 0;
      if (n > 1) more++;
      if (n < 1) less++;
      if (n !== 1) eventSamples.push({ orderId: order.id, type, applied: n });
    }
  }
  for (const [k, n] of appliedCount) {
    if ((k.startsWith("order.paid:") || k.startsWith("order.cancelled:")) && !expectedKeys.has(k)) {
      more += n;
      eventSamples.push({ event: k, applied: n, note: "no such paid order" });
    }
  }
  const undelivered = await one<{ pending: number; dead: number }>(
    db,
    sql`SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending, count(*) FILTER (WHERE status = 'dead')::int AS dead FROM outbox_events WHERE destination = 'data-platform'`,
  );
  checks.push({
    name: "events: every paid order's event applied exactly once downstream",
    ok: more === 0 && less === 0 && Number(undelivered.pending) === 0 && Number(undelivered.dead) === 0,
    detail: `${expected.length} paid orders, ${expectedKeys.size} order events expected, ${more} applied more than once, ${less} not applied; outbox to the data platform: ${undelivered.pending} pending, ${undelivered.dead} dead`,
    ...(eventSamples.length > 0 ? { sample: eventSamples.slice(0, 5) } : {}),
  });

  // ── the process ───────────────────────────────────────────────────────
  const unplanned = facts.exits.filter((e) => !e.planned);
  checks.push({
    name: "process: no unplanned exit",
    ok: unplanned.length === 0,
    detail: `${facts.exits.length} exits, ${unplanned.length} unplanned`,
    ...(unplanned.length > 0 ? { sample: unplanned } : {}),
  });

  return {
    checks,
    tally: {
      requests: storm.attempts.length,
      answersByCode,
      fiveXxInside,
      fiveXxOutside,
      transportInside,
      transportOutside,
      capturedNotCredited,
      acknowledgedOrdersMissing: missing,
      eventsMoreThanOnce: more,
      eventsLessThanOnce: less,
      stepsWithoutAnswer: unanswered.length,
      unplannedExits: unplanned.length,
    },
  };
}

/** Oversold units and coupon over-issues, from the database (the checker says whether they hold; these are the numbers). */
export async function overIssueNumbers(db: Db): Promise<{ oversold: number; couponsOverQuantity: number; couponsTwice: number }> {
  const oversold = await one<{ units: number }>(
    db,
    sql`WITH initial AS (
          SELECT product_id, sum(quantity_change) AS units FROM inventory_movements WHERE kind IN ('inbound', 'outbound', 'adjustment') GROUP BY product_id),
        sold AS (
          SELECT l.product_id, sum(l.quantity) AS units FROM order_lines l JOIN order_orders o ON o.id = l.order_id
           WHERE o.status NOT IN ('cancelled', 'expired') GROUP BY l.product_id)
        SELECT coalesce(sum(greatest(0, s.units - coalesce(i.units, 0))), 0)::int AS units FROM sold s LEFT JOIN initial i ON i.product_id = s.product_id`,
  );
  const over = await one<{ units: number }>(
    db,
    sql`SELECT coalesce(sum(greatest(0, n - c.total_quantity)), 0)::int AS units
          FROM coupon_coupons c JOIN (SELECT coupon_id, count(*) AS n FROM coupon_issued GROUP BY coupon_id) i ON i.coupon_id = c.id`,
  );
  const twice = await one<{ n: number }>(
    db,
    sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM coupon_issued GROUP BY coupon_id, user_id HAVING count(*) > 1) t`,
  );
  return { oversold: Number(oversold.units), couponsOverQuantity: Number(over.units), couponsTwice: Number(twice.n) };
}
