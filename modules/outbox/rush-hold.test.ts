import { describe, expect, test } from "bun:test";
import { rushHold } from "./rush-hold.ts";

/** Asks at every busy moment from `from` to before `to`, `step` apart; what each answered. */
function askEvery(holding: (at: number) => boolean, from: number, to: number, step: number): boolean[] {
  const answers: boolean[] = [];
  for (let at = from; at < to; at += step) answers.push(holding(at));
  return answers;
}

describe("rushHold", () => {
  test("holds from a rush's first busy moment for holdMs, then not while the rush goes on", () => {
    const holding = rushHold(2_000, 500);
    expect(askEvery(holding, 10_000, 12_000, 400)).toEqual([true, true, true, true, true]);
    // Busy moments 400 ms apart: the same rush, held once.
    expect(askEvery(holding, 12_000, 20_000, 400).every((held) => !held)).toBe(true);
  });

  test("a gap longer than gapMs ends the rush: the next busy moment starts a new hold", () => {
    const holding = rushHold(2_000, 500);
    expect(askEvery(holding, 0, 2_400, 300)).toEqual([true, true, true, true, true, true, true, false]);
    // 600 ms without a busy moment (2,100 was the last): that rush is over.
    expect(holding(2_700)).toBe(true);
    expect(askEvery(holding, 3_000, 4_700, 300).every((held) => held)).toBe(true);
    expect(holding(4_700)).toBe(false);
  });

  test("a gap of exactly gapMs keeps the rush", () => {
    const holding = rushHold(1_000, 500);
    expect(askEvery(holding, 0, 1_500, 500)).toEqual([true, true, false]);
  });

  test("holdMs 0: never holds", () => {
    const holding = rushHold(0, 500);
    expect(askEvery(holding, 0, 3_000, 100).some((held) => held)).toBe(false);
  });
});
