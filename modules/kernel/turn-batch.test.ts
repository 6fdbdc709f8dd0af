import { describe, expect, test } from "bun:test";
import { createTurnBatcher } from "./turn-batch.ts";

describe("createTurnBatcher", () => {
  test("the items of one turn go in one run, in order; a later turn's in another", async () => {
    const runs: number[][] = [];
    const double = createTurnBatcher<number, number>({
      max: 10,
      run: async (items) => {
        runs.push(items);
        return items.map((n) => 2 * n);
      },
    });
    expect(await Promise.all([double(1), double(2), double(3)])).toEqual([2, 4, 6]);
    expect(await double(4)).toBe(8);
    expect(runs).toEqual([[1, 2, 3], [4]]);
  });

  test("groups run apart; at most `max` a run, the rest in the next turn, first come first served", async () => {
    const runs: string[][] = [];
    const echo = createTurnBatcher<string, string>({
      max: 2,
      groupOf: (s) => s[0] as string,
      run: async (items) => {
        runs.push(items);
        return items;
      },
    });
    expect(await Promise.all(["a1", "b1", "a2", "a3", "b2"].map(echo))).toEqual(["a1", "b1", "a2", "a3", "b2"]);
    expect(runs).toEqual([["a1", "a2"], ["b1", "b2"], ["a3"]]);
  });

  test("a failed run rejects each of its items, not the next run's", async () => {
    let fail = true;
    const flaky = createTurnBatcher<number, number>({
      max: 10,
      run: async (items) => {
        if (fail) throw new Error("lost");
        return items;
      },
    });
    const failed = await Promise.allSettled([flaky(1), flaky(2)]);
    expect(failed.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect(await flaky(3)).toBe(3);
  });
});
