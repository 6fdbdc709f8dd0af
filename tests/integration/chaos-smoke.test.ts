/**
 * The chaos suite (scripts/chaos, `bun run chaos`) on tiny numbers: a production-mode server as a
 * child process, the fakes as child processes, 30 customers retrying like real clients, one
 * termination of every database backend and one deletion of the run's Redis keys mid-storm. The
 * same checks as the full suite: the benchmark's invariants, money captured = credited, every
 * acknowledged order present, every paid order's event applied once downstream, 5xx only inside a
 * fault window, no unplanned exit, and each fault landed.
 */
import { afterAll, expect, test } from "bun:test";
import { serverUrl } from "../support/postgres.ts";

let cleanup: (() => Promise<void>) | null = null;
afterAll(async () => {
  await cleanup?.();
});

test("chaos smoke: one database termination and one Redis key deletion mid-storm, every check holds", async () => {
  // The chaos harness finds PostgreSQL and Redis where the tests do.
  process.env.BENCH_PG_URL ??= await serverUrl();
  if (process.env.TEST_REDIS_URL) process.env.BENCH_REDIS_URL ??= process.env.TEST_REDIS_URL;
  const { cleanupAll } = await import("../../scripts/bench/services.ts");
  cleanup = cleanupAll;
  const { defaultOptions, runScenario } = await import("../../scripts/chaos/chaos.ts");
  const { smokeScenario } = await import("../../scripts/chaos/scenarios.ts");
  const { consoleSummary } = await import("../../scripts/chaos/report.ts");

  const lines: string[] = [];
  const options = {
    ...defaultOptions(`${import.meta.dir}/../../bench-results/chaos/smoke-${Date.now()}`, (_: string, m: string) => lines.push(m)),
    customers: 30,
    spreadMs: 3_000,
    thinkMs: [20, 150] as [number, number],
    stepDeadlineMs: 60_000,
    settleTimeoutMs: 45_000,
  };
  const result = await runScenario(smokeScenario, options);
  const failed = result.checks.filter((c) => !c.ok);
  if (failed.length > 0) console.log(consoleSummary(result), lines.join("\n"));
  expect(failed).toEqual([]);
  // The faults landed and the storm did something worth checking.
  expect(result.checks.map((c) => c.name)).toContain("fault: database backends terminated (once)");
  expect(result.checks.map((c) => c.name)).toContain("fault: Redis keys of the prefix deleted");
  expect(result.tally.answersByCode.ok ?? 0).toBeGreaterThan(30);
  expect(result.tally.unplannedExits).toBe(0);
}, 180_000);
