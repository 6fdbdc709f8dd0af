/**
 * Natural batching: work items wait while `maxConcurrent` batches are running, and the next batch
 * takes every item waiting then (up to `maxBatch`). Under no load an item runs at once, alone; under
 * load each batch carries what arrived while the previous ones ran, so the cost that is paid once
 * per batch (a transaction, one statement per step) is shared without waiting on a timer.
 */
export interface BatchQueueOptions<Item, Result> {
  maxBatch: number;
  maxConcurrent: number;
  /** Items with the same key never share a batch (the later one waits for the next). */
  keyOf?(item: Item): unknown;
  /** Runs one batch: a result per item, in order. A rejection rejects every item of the batch. */
  run(items: Item[]): Promise<Result[]>;
  /**
   * An item still waiting this long is rejected with `BatchQueueTimeout`: an overload, or batches
   * stuck behind a lock, show as errors, not as an ever longer queue.
   */
  maxWaitMs?: number;
}

export class BatchQueueTimeout extends Error {
  override name = "BatchQueueTimeout";
  constructor(readonly waitedMs: number) {
    super(`waited ${Math.round(waitedMs)} ms for a batch`);
  }
}

export interface BatchQueue<Item, Result> {
  submit(item: Item): Promise<Result>;
  /** Items waiting for a batch, and batches running (for tests and metrics). */
  readonly waiting: number;
  readonly running: number;
}

interface Waiter<Item, Result> {
  item: Item;
  since: number;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

export function createBatchQueue<Item, Result>(options: BatchQueueOptions<Item, Result>): BatchQueue<Item, Result> {
  if (!(options.maxBatch >= 1 && options.maxConcurrent >= 1)) throw new Error("batch queue: maxBatch and maxConcurrent must be at least 1");
  let waiting: Array<Waiter<Item, Result>> = [];
  let running = 0;
  /** Wakes the queue when its oldest item's wait runs out, even if no batch ends meanwhile. */
  let deadline: ReturnType<typeof setTimeout> | null = null;

  /**
   * The oldest items that may go together, up to maxBatch. It looks no further than a full batch:
   * a crowd of n waiting would otherwise cost n²/maxBatch looks (1,000 charges at once: ~31,000).
   */
  function takeBatch(): Array<Waiter<Item, Result>> {
    const batch: Array<Waiter<Item, Result>> = [];
    const keys = new Set<unknown>();
    const skipped: Array<Waiter<Item, Result>> = [];
    let next = 0;
    for (; next < waiting.length && batch.length < options.maxBatch; next++) {
      const waiter = waiting[next] as Waiter<Item, Result>;
      const key = options.keyOf?.(waiter.item);
      if (key === undefined || !keys.has(key)) {
        batch.push(waiter);
        if (key !== undefined) keys.add(key);
      } else skipped.push(waiter);
    }
    const rest = waiting.slice(next);
    waiting = skipped.length === 0 ? rest : skipped.concat(rest);
    return batch;
  }

  function expire(): void {
    const { maxWaitMs } = options;
    if (maxWaitMs === undefined) return;
    const now = performance.now();
    const [oldest] = waiting;
    if (!oldest || now - oldest.since < maxWaitMs) return;
    const stale = waiting.filter((waiter) => now - waiter.since >= maxWaitMs);
    waiting = waiting.filter((waiter) => now - waiter.since < maxWaitMs);
    for (const waiter of stale) waiter.reject(new BatchQueueTimeout(now - waiter.since));
  }

  function watchDeadline(): void {
    const [oldest] = waiting;
    if (options.maxWaitMs === undefined || deadline !== null || !oldest) return;
    deadline = setTimeout(
      () => {
        deadline = null;
        pump();
      },
      Math.max(0, oldest.since + options.maxWaitMs - performance.now()),
    );
    deadline.unref?.();
  }

  function pump(): void {
    expire();
    try {
      startBatches();
    } finally {
      watchDeadline();
    }
  }

  function startBatches(): void {
    while (running < options.maxConcurrent && waiting.length > 0) {
      const batch = takeBatch();
      running++;
      Promise.resolve()
        .then(() => options.run(batch.map((waiter) => waiter.item)))
        .then(
          (results): { results: Result[] } | { error: unknown } =>
            results.length === batch.length ? { results } : { error: new Error(`batch queue: ${results.length} results for ${batch.length} items`) },
          (error: unknown) => ({ error }),
        )
        .then((outcome) => {
          // The slot is free before anyone resumes, so what they submit next can start at once.
          running--;
          for (const [i, waiter] of batch.entries()) {
            if ("results" in outcome) waiter.resolve(outcome.results[i] as Result);
            else waiter.reject(outcome.error);
          }
          pump();
        });
    }
  }

  return {
    submit(item) {
      return new Promise<Result>((resolve, reject) => {
        waiting.push({ item, since: performance.now(), resolve, reject });
        pump();
      });
    },
    get waiting() {
      return waiting.length;
    },
    get running() {
      return running;
    },
  };
}
