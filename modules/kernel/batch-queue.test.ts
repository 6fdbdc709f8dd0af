import { describe, expect, test } from "bun:test";
import { BatchQueueTimeout, createBatchQueue } from "./batch-queue.ts";

/** A promise and its resolver, to hold a batch open. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe("createBatchQueue", () => {
  test("an item runs at once and alone when nothing else is running", async () => {
    const batches: number[][] = [];
    const queue = createBatchQueue<number, number>({
      maxBatch: 8,
      maxConcurrent: 1,
      run: async (items) => {
        batches.push(items);
        return items.map((n) => n * 10);
      },
    });
    expect(await queue.submit(1)).toBe(10);
    expect(await queue.submit(2)).toBe(20);
    expect(batches).toEqual([[1], [2]]);
  });

  test("items that arrive while the batches are running wait and go together, at most maxBatch, at most maxConcurrent at once", async () => {
    const batches: number[][] = [];
    const first = gate();
    let running = 0;
    let mostRunning = 0;
    const queue = createBatchQueue<number, string>({
      maxBatch: 3,
      maxConcurrent: 2,
      run: async (items) => {
        running++;
        mostRunning = Math.max(mostRunning, running);
        batches.push(items);
        if (items[0] === 0) await first.opened;
        await Bun.sleep(5);
        running--;
        return items.map(String);
      },
    });
    const results = Promise.all(Array.from({ length: 9 }, (_, i) => queue.submit(i)));
    // 0 and 1 started alone (two slots); 2..8 wait.
    expect(queue.waiting).toBe(7);
    first.open();
    expect(await results).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8"]);
    expect(mostRunning).toBe(2);
    expect(batches[0]).toEqual([0]);
    expect(batches[1]).toEqual([1]);
    expect(batches.slice(2).every((b) => b.length <= 3)).toBe(true);
    expect(batches.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(batches.length).toBeLessThan(9);
  });

  test("items with the same key never share a batch: the later one waits for the next", async () => {
    const batches: string[][] = [];
    const hold = gate();
    const queue = createBatchQueue<{ user: number; id: string }, string>({
      maxBatch: 10,
      maxConcurrent: 1,
      keyOf: (item) => item.user,
      run: async (items) => {
        batches.push(items.map((i) => i.id));
        if (items[0]?.id === "first") await hold.opened;
        return items.map((i) => i.id);
      },
    });
    const all = Promise.all([
      queue.submit({ user: 0, id: "first" }),
      queue.submit({ user: 1, id: "a1" }),
      queue.submit({ user: 1, id: "a2" }),
      queue.submit({ user: 2, id: "b1" }),
    ]);
    hold.open();
    await all;
    expect(batches).toEqual([["first"], ["a1", "b1"], ["a2"]]);
  });

  test("a crowd waiting: oldest first, a skipped item keeps its place, and no item is looked at again and again", async () => {
    const batches: string[][] = [];
    let keyLooks = 0;
    const queue = createBatchQueue<{ user: number; id: string }, string>({
      maxBatch: 2,
      maxConcurrent: 1,
      keyOf: (item) => {
        keyLooks++;
        return item.user;
      },
      run: async (items) => {
        batches.push(items.map((i) => i.id));
        if (items[0]?.id === "first") await hold.opened;
        return items.map((i) => i.id);
      },
    });
    let hold = gate();
    const few = ["first", "u1-a", "u1-b", "u2-a", "u3-a", "u4-a"].map((id) => queue.submit({ user: id === "first" ? 0 : Number(id[1]), id }));
    hold.open();
    await Promise.all(few);
    expect(batches).toEqual([["first"], ["u1-a", "u2-a"], ["u1-b", "u3-a"], ["u4-a"]]);

    // 1,000 waiting behind a held batch, in batches of 2: each item's key is looked at about once, not once per batch taken before it.
    hold = gate();
    batches.length = 0;
    const crowd = [queue.submit({ user: -1, id: "first" })];
    for (let i = 0; i < 1_000; i++) crowd.push(queue.submit({ user: i + 1, id: `c${i}` }));
    keyLooks = 0;
    hold.open();
    await Promise.all(crowd);
    expect(batches.flat()).toEqual(["first", ...Array.from({ length: 1_000 }, (_, i) => `c${i}`)]);
    expect(keyLooks).toBeLessThan(2_000);
  });

  test("a batch that fails rejects each of its items, and the queue goes on", async () => {
    const queue = createBatchQueue<number, number>({
      maxBatch: 4,
      maxConcurrent: 1,
      run: async (items) => {
        if (items.includes(13)) throw new Error("unlucky");
        return items;
      },
    });
    await expect(queue.submit(13)).rejects.toThrow("unlucky");
    expect(await queue.submit(7)).toBe(7);
    expect(queue.running).toBe(0);
  });

  test("an item that waits longer than maxWaitMs is rejected with BatchQueueTimeout, even while every batch is stuck; the running batch still answers its own", async () => {
    const hold = gate();
    const queue = createBatchQueue<number, number>({
      maxBatch: 4,
      maxConcurrent: 1,
      maxWaitMs: 20,
      run: async (items) => {
        if (items[0] === 1) await hold.opened;
        return items;
      },
    });
    const first = queue.submit(1);
    const late = queue.submit(2).catch((error: unknown) => error);
    // Rejected while the batch ahead of it is still running (nothing else wakes the queue).
    const error = await late;
    hold.open();
    expect(await first).toBe(1);
    expect(error).toBeInstanceOf(BatchQueueTimeout);
    expect((error as BatchQueueTimeout).waitedMs).toBeGreaterThanOrEqual(20);
    expect(queue.waiting).toBe(0);
    // Items that have not waited too long go on as usual.
    expect(await queue.submit(3)).toBe(3);
  });

  test("a run that answers the wrong number of results rejects its items", async () => {
    const queue = createBatchQueue<number, number>({ maxBatch: 4, maxConcurrent: 1, run: async () => [] });
    await expect(queue.submit(1)).rejects.toThrow("0 results for 1 items");
  });
});
