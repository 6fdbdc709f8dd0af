import { z } from "zod";
import type { Db, Tx } from "../../db/index.ts";
import { pgErrorCode } from "../../db/index.ts";
import type { CatalogService, StockLine } from "../catalog/index.ts";
import type { Cache, Clock, Logger } from "../kernel/index.ts";
import { DAY, periodicTask, utcDay } from "../kernel/index.ts";
import { salesRepository } from "./repository.ts";

export const popularInput = z
  .strictObject({ days: z.number().int().min(1).max(30).default(3), limit: z.number().int().min(1).max(50).default(5) })
  .default({ days: 3, limit: 5 });

export interface PopularProducts {
  period: { days: number; startDate: string; endDate: string };
  products: Array<{ rank: number; productId: number; name: string; price: number; soldQuantity: number; orderCount: number }>;
}

export interface SalesDeps {
  db: Db;
  clock: Clock;
  cache: Cache;
  catalog: CatalogService;
  popularTtlMs?: number;
  /**
   * How long this process serves a popular list it read from the shared cache without asking the cache
   * again (default 1 s): a crowd on the list costs one cache read a second, not one per request. An
   * answer may so be up to this much older than the cache's own TTL.
   */
  popularMemoMs?: number;
  /**
   * Below this many product-days in a window, aggregating them all beats reading each day's head.
   * Aggregating costs ~0.4 µs a row (2.8 ms for the 7,300 rows of 100k order lines); the heads and
   * their probes ~0.5 ms whatever the size. It was 20,000 while the probes could turn into a hash
   * join over the window, which made the heads no cheaper at 100k lines.
   */
  aggregateBelowRows?: number;
  /** How often the in-process roll-up moves pending sales into sales_daily (`start()`); default 250 ms. */
  rollUpIntervalMs?: number;
  /** Pending sales moved per roll-up statement; default 5,000. */
  rollUpBatch?: number;
  logger?: Logger;
}

interface SellerTotal {
  product_id: number;
  sold: number;
  orders: number;
}

/** A ranking read, or `pending` when sales waited to be rolled up in the snapshot it was read in. */
type Ranking = { pending: true } | { pending: false; sellers: SellerTotal[] };

const bySales = (a: SellerTotal, b: SellerTotal) => b.sold - a.sold || b.orders - a.orders || a.product_id - b.product_id;

/**
 * The exact top `n` sellers of the window, usually without aggregating every product-day.
 *
 * Each day's best sellers are read first (the heads, with their order counts). A product outside a
 * full head sold at most that head's last value on that day; a product missing from a head that is
 * not full sold nothing that day. So every product has a known part (its head rows) and an upper
 * bound (known part + the last values of the full heads it is missing from), and a product in no
 * head at all sold at most `bound`, the sum of the full heads' last values. Only the candidates that
 * could still reach the top n (upper bound ≥ the n-th largest known part) are completed with key
 * probes of their missing days; with a popular head, as real sales have, that is a handful of
 * probes, where probing every candidate on every day was ~250. The answer is certain once the n-th
 * exact total beats `bound`; for flat sales it is not, and the plain aggregate follows (growing the
 * heads measured slower than aggregating at 10k and 100k order lines).
 */
async function topFromHeads(db: Db, days: string[], n: number, stopIfPending: boolean): Promise<Ranking | null> {
  const perDay = Math.max(4 * n, 32);
  const { pending, heads } = await salesRepository.headsOfDays(db, days, perDay);
  if (pending && stopIfPending) return { pending };
  const headSize = new Map<string, number>();
  const lastOfDay = new Map<string, number>();
  const known = new Map<number, SellerTotal & { days: Set<string> }>();
  for (const row of heads) {
    headSize.set(row.day, (headSize.get(row.day) ?? 0) + 1);
    lastOfDay.set(row.day, Math.min(lastOfDay.get(row.day) ?? Number.POSITIVE_INFINITY, row.sold_quantity));
    const seller = known.get(row.product_id) ?? { product_id: row.product_id, sold: 0, orders: 0, days: new Set<string>() };
    seller.sold += row.sold_quantity;
    seller.orders += row.order_count;
    seller.days.add(row.day);
    known.set(row.product_id, seller);
  }
  // Days whose head was cut off: the only days where a product may have sold more than we saw.
  const fullDays = days.filter((day) => headSize.get(day) === perDay);
  let bound = 0;
  for (const day of fullDays) bound += lastOfDay.get(day) ?? 0;
  const candidates = [...known.values()].map((seller) => {
    const missing = fullDays.filter((day) => !seller.days.has(day));
    let upper = seller.sold;
    for (const day of missing) upper += lastOfDay.get(day) ?? 0;
    return { seller, missing, upper };
  });
  const nthKnown = candidates.length >= n ? (candidates.map((c) => c.seller.sold).sort((a, b) => b - a)[n - 1] ?? 0) : Number.NEGATIVE_INFINITY;
  // A candidate whose upper bound is below n known parts cannot be in the top n: left out unprobed.
  const contenders = candidates.filter((c) => c.missing.length === 0 || c.upper >= nthKnown);
  const probeDays: string[] = [];
  const probeProducts: number[] = [];
  for (const c of contenders) {
    for (const day of c.missing) {
      probeDays.push(day);
      probeProducts.push(c.seller.product_id);
    }
  }
  for (const row of await salesRepository.salesOf(db, probeDays, probeProducts)) {
    const seller = known.get(row.product_id);
    if (!seller) continue;
    seller.sold += row.sold_quantity;
    seller.orders += row.order_count;
  }
  const sellers = contenders
    .map(({ seller }) => ({ product_id: seller.product_id, sold: seller.sold, orders: seller.orders }))
    .filter((r) => r.sold > 0)
    .sort(bySales);
  // bound 0: no product outside the heads sold anything in the window.
  if (bound === 0 || (sellers.length >= n && (sellers[n - 1]?.sold ?? 0) > bound)) return { pending: false, sellers: sellers.slice(0, n) };
  return null;
}

async function aggregateAll(db: Db, fromDay: string, n: number, stopIfPending: boolean): Promise<Ranking> {
  const { pending, sellers } = await salesRepository.top(db, fromDay, n);
  return pending && stopIfPending ? { pending } : { pending: false, sellers };
}

/**
 * The top `n` sellers of the window: from the heads for a big window, else (or when the heads do
 * not settle it) the plain aggregate. With `stopIfPending`, `{ pending }` as soon as the first read
 * saw sales waiting to be rolled up (its answer would miss them).
 */
async function topSellers(db: Db, days: string[], fromDay: string, n: number, useHeads: boolean, stopIfPending: boolean): Promise<Ranking> {
  if (!useHeads) return aggregateAll(db, fromDay, n, stopIfPending);
  // After the heads' read said nothing was pending, the aggregate need not ask again.
  return (await topFromHeads(db, days, n, stopIfPending)) ?? aggregateAll(db, fromDay, n, false);
}

export type SalesService = ReturnType<typeof createSalesService>;

export function createSalesService({
  db,
  clock,
  cache,
  catalog,
  popularTtlMs = 5 * 60_000,
  popularMemoMs = 1_000,
  aggregateBelowRows = 4_000,
  rollUpIntervalMs = 250,
  rollUpBatch = 5_000,
  logger,
}: SalesDeps) {
  /**
   * Moves every pending sale into sales_daily (several statements when the backlog is bigger than
   * a batch). Returns how many it moved; 0 also when another roll-up (here or on another instance)
   * holds the roll-up lock at that moment; that one is moving them. With `waitForLock`, it waits for
   * that one to commit instead, then moves what is left: afterwards, every sale committed before the
   * call is in sales_daily.
   */
  async function rollUp({ waitForLock = false } = {}): Promise<number> {
    let moved = 0;
    for (let raced = 0; ; ) {
      let n: number;
      try {
        n = await salesRepository.rollUp(db, rollUpBatch, { waitForLock });
      } catch (error) {
        // A roll-up that committed between this statement's snapshot and its lock inserted a row
        // this one could not see (unique violation); nothing was moved: a new statement sees it.
        if (pgErrorCode(error) !== "23505" || ++raced > 3) throw error;
        continue;
      }
      moved += n;
      if (n < rollUpBatch) return moved;
    }
  }

  // An idle shop's worker only asks whether anything is pending (the roll-up statement, even with
  // nothing to move, is ~1 ms of PostgreSQL planning, four times a second per instance).
  const roller = periodicTask(
    rollUpIntervalMs,
    async () => (await salesRepository.anyPending(db)) && rollUp(),
    (error) => logger?.error({ err: error }, "sales roll-up failed"),
  );

  // The pg_stats lookup costs about a millisecond: read it at most every ten seconds, often
  // enough that a table which just grew tenfold is not ranked the small-table way for long.
  let estimate: { rowsPerDay: number | null; readAt: number } | null = null;
  async function rowsPerDay(): Promise<number | null> {
    const at = Date.now();
    if (!estimate || at - estimate.readAt > 10_000) estimate = { rowsPerDay: await salesRepository.rowsPerDayEstimate(db), readAt: at };
    return estimate.rowsPerDay;
  }

  async function computePopular(days: number, limit: number): Promise<PopularProducts> {
    const now = clock.now();
    const perDayRows = await rowsPerDay();
    const useHeads = perDayRows !== null && perDayRows * days >= aggregateBelowRows;
    const endDate = utcDay(now);
    const startDate = utcDay(new Date(now.getTime() - (days - 1) * DAY));
    const windowDays = Array.from({ length: days }, (_, i) => utcDay(new Date(now.getTime() - i * DAY)));
    // A few extra rows so hidden or deleted products can be skipped; fetch deeper only when many were.
    let fetch = limit + 10;
    // Read your writes: the sales committed before this request count, not only those rolled up. The
    // first read tells whether any wait in sales_pending (in its own snapshot); only then is the
    // roll-up run (waiting for one in flight, whose rows this read could not see yet) and the ranking
    // read again. A failed catch-up is not the reader's failure: the worker retries it, the answer is
    // just older.
    let ranking = await topSellers(db, windowDays, startDate, fetch, useHeads, true);
    if (ranking.pending) {
      await rollUp({ waitForLock: true }).catch((error) => logger?.warn({ err: error }, "sales roll-up before a popular read failed"));
      ranking = await topSellers(db, windowDays, startDate, fetch, useHeads, false);
    }
    let rows = ranking.pending ? [] : ranking.sellers;
    let products = await catalog.productsForSale(
      db,
      rows.map((r) => r.product_id),
    );
    while (rows.filter((r) => products.has(r.product_id)).length < limit && rows.length === fetch) {
      fetch *= 4;
      const deeper = await topSellers(db, windowDays, startDate, fetch, useHeads, false);
      rows = deeper.pending ? [] : deeper.sellers;
      products = await catalog.productsForSale(
        db,
        rows.map((r) => r.product_id),
      );
    }
    const ranked = rows.filter((r) => products.has(r.product_id)).slice(0, limit);
    return {
      period: { days, startDate, endDate },
      products: ranked.map((r, i) => {
        const product = products.get(r.product_id);
        return {
          rank: i + 1,
          productId: r.product_id,
          name: product?.name ?? "",
          price: product?.price ?? 0,
          soldQuantity: Number(r.sold),
          orderCount: Number(r.orders),
        };
      }),
    };
  }

  /** Popular lists read from the shared cache, per key, until `until` (the clock's ms). */
  const memo = new Map<string, { answer: PopularProducts; until: number }>();

  return {
    /**
     * Top sellers of the last `days` days (today included), cached for five minutes per (days, limit).
     * A TTL ≤ 0 (POPULAR_CACHE_SECONDS=0) means "do not cache": Redis refuses `SET … PX 0`.
     */
    async popular(days: number, limit: number): Promise<PopularProducts> {
      if (popularTtlMs <= 0) return computePopular(days, limit);
      const key = `popular:${days}days:${limit}`;
      const now = clock.now().getTime();
      const held = memo.get(key);
      if (held && held.until > now) return held.answer;
      // The same frozen answer while the cached one is unchanged: not decoded nor serialized again per reader.
      const cached = await cache.getShared<PopularProducts>(key);
      if (cached) {
        if (popularMemoMs > 0) {
          if (memo.size >= 1_000) memo.clear();
          memo.set(key, { answer: cached, until: now + popularMemoMs });
        }
        return cached;
      }
      const fresh = await computePopular(days, limit);
      await cache.set(key, fresh, popularTtlMs);
      return fresh;
    },

    /** Uncached, for operators and benchmarks. */
    popularUncached: computePopular,

    // ── for the orders module, inside its transaction ───────────────────────
    /**
     * Counts a paid order's lines on the day it was paid. Appended to the pending sales (no lock);
     * the roll-up adds them to sales_daily shortly after the order commits.
     */
    recordSale: (trx: Tx, at: Date, lines: StockLine[]) => salesRepository.appendPending(trx, utcDay(at), lines, 1),
    /** Takes a cancelled or refunded order back out of the day it was paid on (the inverse of `recordSale`). */
    reverseSale: (trx: Tx, paidAt: Date, lines: StockLine[]) => salesRepository.appendPending(trx, utcDay(paidAt), lines, -1),

    // ── the roll-up ─────────────────────────────────────────────────────────
    rollUp,
    /** Sales committed but not yet in sales_daily: 0 means the aggregate is caught up. */
    pendingSales: () => salesRepository.pendingCount(db),

    /** Starts the in-process roll-up (every `rollUpIntervalMs`; several instances may run it). */
    start: () => roller.start(),

    /** Stops the roll-up and waits for a running one (what is left is rolled up by the next start or read). */
    stop: () => roller.stop(),
  };
}
