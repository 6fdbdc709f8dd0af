/**
 * Orders placed at once, several per transaction (issue 9: the flash sale's writes).
 *
 * PostgreSQL's cost of an order is mostly per statement, not per row: pgbench running the order's
 * own statements (scripts/bench/order-statements.ts) does ~3.4 × as many orders a second when each
 * statement is written once for 8 orders. So while the pool is busy, orders placed at once wait in
 * a queue (kernel/batch-queue.ts) and the next free slot takes all of them: one transaction, each
 * workflow step once for all (`workflow.forwardMany`, the steps' `applyMany`). Under no load an
 * order is a batch of one and waits for nothing.
 *
 * A batch is an optimization only, never a different answer. It takes orders paid from the wallet
 * alone, with no coupon and not from the cart (`workflow.batchable`), one per customer. When some
 * of its orders cannot go on (a balance that does not cover, stock short or about to cross its
 * low-stock threshold, an idempotency key that was there first: `BatchRefusal`), the batch rolls
 * back whole, those orders go back to `place`'s own path (careful forms, exact refusals, low-stock
 * events, replays), and the rest are batched again. A failure before the COMMIT rolled the batch
 * back for certain; so did one PostgreSQL answered at the COMMIT (`refusedByServer`): every order
 * of the batch goes back to its own path, unless the database is unreachable (its own path would
 * only meet the same outage, and wait for it twice). A failure at the COMMIT without PostgreSQL's
 * answer (the connection lost, perhaps after the COMMIT arrived) is the answer of each order, as
 * it would have been on its own path: an order that may be placed is never placed again behind the
 * customer's back (a retry with an idempotency key replays it). An order that waits longer than
 * `maxWaitMs` for a batch is answered SERVICE_UNAVAILABLE, as one waiting for a connection would be.
 */
import type { Db } from "../../db/index.ts";
import { inTransaction, isConnectionError, refusedByServer } from "../../db/index.ts";
import { hashRequest } from "../idempotency/index.ts";
import type { Clock, Logger } from "../kernel/index.ts";
import { BatchQueueTimeout, createBatchQueue, kernelErrors } from "../kernel/index.ts";
import type { PlacedOrder } from "./schema.ts";
import { BatchRefusal, type Forward, type OrderDraft, type OrderWorkflow } from "./workflow.ts";

export interface BatchedPlacement {
  userId: number;
  idempotencyKey: string | undefined;
  /** The request as its idempotency key hashes it (the input without the key). */
  request: unknown;
  /** Priced before (`workflow.price`), and `workflow.batchable`. */
  draft: OrderDraft;
}

export interface PlacementBatcherDeps {
  db: Db;
  clock: Clock;
  workflow: OrderWorkflow;
  /** The catalog's memory of products read sold out: such an order goes its own way (which refuses it from memory). */
  soldOutMeanwhile(draft: OrderDraft): boolean;
  /** The answer `place` gives for a run. */
  answerOf(run: Forward, createdAt: Date): PlacedOrder;
  /** Where a batch that failed for another reason than its orders' refusals is reported. */
  logger: Logger;
  /** Most orders in one transaction. */
  maxBatch: number;
  /** Batches running at once (each holds one pooled connection). */
  maxConcurrent: number;
  /** Longest wait for a batch (the pool's connection timeout): then SERVICE_UNAVAILABLE. */
  maxWaitMs: number;
}

export const PLACE_SCOPE = "orders.place";

/** The batch failed in a way that may have committed it: this is the order's answer. */
export class BatchFailure {
  constructor(readonly error: unknown) {}
}

/** What the batch did with one order: placed it, left it to its own path (null), or failed. */
export type BatchOutcome = PlacedOrder | null | BatchFailure;

export type PlacementBatcher = ReturnType<typeof createPlacementBatcher>;

/** What the batcher did since it started (tests, metrics). */
export interface BatchStats {
  /** Batch transactions committed, and the orders they placed. */
  committed: number;
  placed: number;
  /** The most orders one committed batch placed. */
  largest: number;
  /** Batches rolled back because some of their orders had to run on their own, and those orders. */
  refusals: number;
  ranAlone: number;
  /** Orders answered with their batch's failure: it may have committed (the connection lost), or the database is unreachable. */
  failed: number;
}

export function createPlacementBatcher({ db, clock, workflow, soldOutMeanwhile, answerOf, logger, maxBatch, maxConcurrent, maxWaitMs }: PlacementBatcherDeps) {
  const stats: BatchStats = { committed: 0, placed: 0, largest: 0, refusals: 0, ranAlone: 0, failed: 0 };

  /** Places what it can of `items`; null for an order that must run on its own. */
  async function placeBatch(items: BatchedPlacement[]): Promise<BatchOutcome[]> {
    const results: BatchOutcome[] = items.map(() => null);
    let left = items.map((item, index) => ({ item, index })).filter(({ item }) => !soldOutMeanwhile(item.draft));
    while (left.length > 0) {
      let runs: Forward[] = [];
      // Set once every statement but the COMMIT is done: from then on a failure may hide a commit.
      let committing = false;
      try {
        const placed = await inTransaction(db, async (trx) => {
          const now = clock.now();
          runs = left.map(({ item }) => ({
            trx,
            now,
            draft: item.draft,
            phases: ["reserve", "settle"],
            orderId: 0,
            balanceAfter: null,
            outside: { card: null, cardTaken: false, afterCommit: [] },
            unreadTail: false,
            keyClaim: item.idempotencyKey
              ? {
                  scope: PLACE_SCOPE,
                  key: item.idempotencyKey,
                  requestHash: hashRequest(item.request),
                  // The batch statement does not settle a key that was there first: BatchRefusal does.
                  taken: () => Promise.reject(new Error("orders batch: a taken key is settled by the order's own path")),
                }
              : null,
          }));
          await workflow.forwardMany(runs);
          const answers = runs.map((run) => answerOf(run, now));
          committing = true;
          return answers;
        });
        placed.forEach((answer, i) => {
          results[(left[i] as { index: number }).index] = answer;
        });
        stats.committed++;
        stats.placed += placed.length;
        stats.largest = Math.max(stats.largest, placed.length);
        break;
      } catch (error) {
        if (!(error instanceof BatchRefusal)) {
          // Rolled back for certain: failed before its COMMIT, or PostgreSQL answered the COMMIT with an error.
          const rolledBack = !committing || refusedByServer(error);
          const answered = !rolledBack || isConnectionError(error);
          if (answered) for (const { index } of left) results[index] = new BatchFailure(error);
          // Not a refusal: a deadlock, a timeout, an outage, or a fault in a step's batch form.
          logger.warn(
            { err: error, orders: left.length, atCommit: committing },
            answered ? "orders: a batch failed; its orders answer that failure" : "orders: a batch rolled back; its orders run on their own",
          );
          break;
        }
        stats.refusals++;
        const refused = error.runs;
        left = left.filter((_, i) => !refused.has(runs[i] as Forward));
      }
    }
    stats.ranAlone += results.filter((result) => result === null).length;
    stats.failed += results.filter((result) => result instanceof BatchFailure).length;
    return results;
  }

  const queue = createBatchQueue<BatchedPlacement, BatchOutcome>({
    maxBatch,
    maxConcurrent,
    keyOf: (item) => item.userId,
    run: placeBatch,
    maxWaitMs,
  });

  return {
    /** The placed order, or null: run it on its own (`place`'s path). Throws what a batch that may have committed met. */
    async place(item: BatchedPlacement): Promise<PlacedOrder | null> {
      const outcome = await queue.submit(item).catch((error: unknown) => {
        if (error instanceof BatchQueueTimeout) throw kernelErrors.SERVICE_UNAVAILABLE.create({ dependency: "database", retryable: true });
        throw error;
      });
      if (outcome instanceof BatchFailure) throw outcome.error;
      return outcome;
    },
    stats: (): BatchStats => ({ ...stats }),
  };
}
