/**
 * The calls made in one turn of the event loop, run together when it ends (setImmediate, as ioredis's
 * auto-pipelining writes a turn's commands): a crowd's requests cost one call to Redis per turn, not
 * one each. Items of different groups (`groupOf`) go in separate runs, each group first come first
 * served; at most `max` items a run, the rest in the next turn. `run` answers each item, in order; its
 * rejection rejects every item of that run.
 */
export function createTurnBatcher<Item, Result>(options: {
  max: number;
  groupOf?(item: Item): string;
  run(items: Item[]): Promise<Result[]>;
}): (item: Item) => Promise<Result> {
  type Waiter = { item: Item; resolve(result: Result): void; reject(error: unknown): void };
  const groups = new Map<string, Waiter[]>();
  let scheduled = false;

  async function runBatch(waiters: Waiter[]): Promise<void> {
    try {
      const results = await options.run(waiters.map((waiter) => waiter.item));
      waiters.forEach((waiter, i) => {
        waiter.resolve(results[i] as Result);
      });
    } catch (error) {
      for (const waiter of waiters) waiter.reject(error);
    }
  }

  function flush(): void {
    scheduled = false;
    for (const [group, waiters] of groups) {
      const batch = waiters.splice(0, options.max);
      if (waiters.length === 0) groups.delete(group);
      void runBatch(batch);
    }
    if (groups.size > 0) schedule();
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  }

  return (item) =>
    new Promise<Result>((resolve, reject) => {
      const group = options.groupOf?.(item) ?? "";
      let waiters = groups.get(group);
      if (!waiters) {
        waiters = [];
        groups.set(group, waiters);
      }
      waiters.push({ item, resolve, reject });
      schedule();
    });
}
