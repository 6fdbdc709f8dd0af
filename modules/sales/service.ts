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

const bySales = (a: SellerTotal, b: SellerTotal) => b.sold - a.sold || b.orders - a.orders || a.product_id - b.product_id;

/**
 * The exact top `n` sellers of the window, usually without aggregating every product-day.
 * Each day's best sellers are read first (the threshold algorithm): a product outside every
 * day's head sold at most the head's last value on each day, so once the n-th candidate's exact
 * total beats the sum of those values, no other product can reach the top n. Sales follow a
 * popular head in practice, so a few heads settle it; for flat sales it falls back to the full
 * aggregate.
 */
async function topSellers(db: Db, days: string[], fromDay: string, n: number, rowsPerDay: number | null, aggregateBelowRows: number): Promise<SellerTotal[]> {
  if (rowsPerDay === null || rowsPerDay * days.length < aggregateBelowRows) return aggregateAll(db, fromDay, n);
  // One pass of heads: when it does not settle the answer, sales are flat, and the plain aggregate
  // follows (growing the heads measured slower than aggregating at 10k and 100k order lines).
  const perDay = Math.max(4 * n, 32);
  const heads = await salesRepository.topOfEachDay(db, days, perDay);
  const headOfDay = new Map<string, number[]>();
  for (const row of heads) {
    const sold = headOfDay.get(row.day);
    if (sold) sold.push(row.sold_quantity);
    else headOfDay.set(row.day, [row.sold_quantity]);
  }
  let bound = 0;
  for (const sold of headOfDay.values()) if (sold.length === perDay) bound += sold.at(-1) ?? 0;
  const candidates = [...new Set(heads.map((r) => r.product_id))];
  const totals = (await salesRepository.totalsOf(db, days, candidates))
    .map((r) => ({ product_id: r.product_id, sold: Number(r.sold), orders: Number(r.orders) }))
    .filter((r) => r.sold > 0)
    .sort(bySales);
  // bound 0: every row of every day was read.
  if (bound === 0 || (totals.length >= n && (totals[n - 1]?.sold ?? 0) > bound)) return totals.slice(0, n);
  return aggregateAll(db, fromDay, n);
}

async function aggregateAll(db: Db, fromDay: string, n: number): Promise<SellerTotal[]> {
  const all = await salesRepository.top(db, fromDay, n);
  return all.map((r) => ({ product_id: r.product_id, sold: Number(r.sold), orders: Number(r.orders) }));
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
   * holds the roll-up lock at that moment; that one is moving them.
   */
  async function rollUp(): Promise<number> {
    let moved = 0;
    for (let raced = 0; ; ) {
      let n: number;
      try {
        n = await salesRepository.rollUp(db, rollUpBatch);
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

  const roller = periodicTask(rollUpIntervalMs, rollUp, (error) => logger?.error({ err: error }, "sales roll-up failed"));

  // The pg_stats lookup costs about a millisecond: read it at most every ten seconds, often
  // enough that a table which just grew tenfold is not ranked the small-table way for long.
  let estimate: { rowsPerDay: number | null; readAt: number } | null = null;
  async function rowsPerDay(): Promise<number | null> {
    const at = Date.now();
    if (!estimate || at - estimate.readAt > 10_000) estimate = { rowsPerDay: await salesRepository.rowsPerDayEstimate(db), readAt: at };
    return estimate.rowsPerDay;
  }

  async function computePopular(days: number, limit: number): Promise<PopularProducts> {
    // Read your writes: the sales committed before this request count, not only those rolled up.
    // A failed catch-up is not the reader's failure: the worker retries it, the answer is just older.
    await rollUp().catch((error) => logger?.warn({ err: error }, "sales roll-up before a popular read failed"));
    const now = clock.now();
    const perDayRows = await rowsPerDay();
    const endDate = utcDay(now);
    const startDate = utcDay(new Date(now.getTime() - (days - 1) * DAY));
    const windowDays = Array.from({ length: days }, (_, i) => utcDay(new Date(now.getTime() - i * DAY)));
    // A few extra rows so hidden or deleted products can be skipped; fetch deeper only when many were.
    let fetch = limit + 10;
    let rows = await topSellers(db, windowDays, startDate, fetch, perDayRows, aggregateBelowRows);
    let products = await catalog.productsForSale(
      db,
      rows.map((r) => r.product_id),
    );
    while (rows.filter((r) => products.has(r.product_id)).length < limit && rows.length === fetch) {
      fetch *= 4;
      rows = await topSellers(db, windowDays, startDate, fetch, perDayRows, aggregateBelowRows);
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
