import { describe, expect, test } from "bun:test";
import { periodicTask } from "./periodic.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("periodicTask", () => {
  test("never runs two passes at once; stop waits for the pass under way", async () => {
    let running = 0;
    let most = 0;
    let finished = 0;
    const task = periodicTask(
      5,
      async () => {
        running++;
        most = Math.max(most, running);
        await sleep(30);
        running--;
        finished++;
      },
      () => {},
    );
    task.start();
    task.start(); // a second start is a no-op, not a second timer
    await sleep(100);
    await task.stop();
    expect(most).toBe(1);
    expect(running).toBe(0);
    expect(finished).toBeGreaterThanOrEqual(2);
    const after = finished;
    await sleep(40);
    expect(finished).toBe(after);
  });

  test("a failed pass is reported and the next tick tries again", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const task = periodicTask(
      5,
      async () => {
        calls++;
        if (calls === 1) throw new Error("first pass fails");
      },
      (error) => errors.push(error),
    );
    task.start();
    await sleep(60);
    await task.stop();
    expect(errors).toHaveLength(1);
    expect(calls).toBeGreaterThan(1);
  });
});
