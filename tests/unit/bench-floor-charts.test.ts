/** The bench harness's PostgreSQL floor (pgbench output, its script) and its charts (SVG under Bun, no browser). */
import { describe, expect, test } from "bun:test";
import { chartsFor, renderSvg } from "../../scripts/bench/charts.ts";
import { type Floors, floorScript, latenciesFromLog, parsePgbenchOutput } from "../../scripts/bench/floor.ts";
import type { LoadResult } from "../../scripts/bench/load.ts";
import { type RunResults, ratiosFor } from "../../scripts/bench/report.ts";
import type { ScenarioRow } from "../../scripts/bench/scenarios.ts";

const PGBENCH_OUTPUT = `pgbench (15.10 (Debian 15.10-0+deb12u1))
transaction type: /tmp/agora-floor-x/hot.sql
scaling factor: 1
query mode: prepared
number of clients: 20
number of threads: 2
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 4321
number of failed transactions: 0 (0.000%)
latency average = 23.1 ms
initial connection time = 12.345 ms
tps = 864.123456 (without initial connection time)
`;

describe("pgbench floor", () => {
  test("reads tps, transactions and failures from pgbench's report", () => {
    expect(parsePgbenchOutput(PGBENCH_OUTPUT)).toEqual({ tps: 864.123456, transactions: 4321, failed: 0 });
    expect(() => parsePgbenchOutput("connection to server failed")).toThrow(/no tps/);
  });

  test("reads per-transaction latencies (µs, third field) from pgbench's -l log", () => {
    expect(latenciesFromLog("0 1 2500 0 1700000000 1\n3 7 41000 0 1700000000 5\n")).toEqual([2.5, 41]);
  });

  test("one transaction: wallet, order with its line, then the stock last; hot pins one product", () => {
    const hot = floorScript("hot");
    expect(hot).toContain("\\set product 1\n");
    const statements = hot.split("\n").filter((l) => /^(BEGIN|UPDATE|WITH|END)/.test(l));
    expect(statements.map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual([
      "BEGIN;",
      "UPDATE wallet_accounts",
      "WITH placed",
      "UPDATE inventory_stock",
      "END;",
    ]);
    expect(floorScript("random")).toMatch(/\\set product random\(1, \d+\)/);
  });
});

function load(rps: number, p99: number): LoadResult {
  return { rps, latencyMs: { p50: p99 / 2, p99 }, cpu: { serverUsPerRequest: 100 } } as unknown as LoadResult;
}

function row(scenario: string, rps: number, p99: number, extra: Record<string, unknown> = {}): ScenarioRow {
  return {
    scenario,
    stage: "flash",
    description: "",
    params: { connections: 200, ...extra },
    load: load(rps, p99),
    headline: { label: "", value: rps, unit: "req/s" },
    targets: [],
    checks: [],
    notes: [],
    loadAverage: { before: [], after: [] },
    extra: { outboxAfterRun: { pendingAtStart: 6000, seconds: 8, pendingAtEnd: 0, eventsPerSecond: 750 } },
  };
}

const floors: Floors = {
  pgbench: "/usr/bin/pgbench",
  clients: 20,
  seconds: 5,
  hot: { kind: "hot", tps: 800, transactions: 4000, failed: 0, latencyMs: { mean: 20, p50: 18, p99: 60 } },
  random: { kind: "random", tps: 2000, transactions: 10000, failed: 0, latencyMs: { mean: 8, p50: 7, p99: 30 } },
};

describe("ratios to the floor", () => {
  test("hot scenarios against the hot floor, spread ones against the random floor, others none", () => {
    expect(ratiosFor(row("order-rush-hot", 400, 100), undefined, floors).rpsVsFloor).toBe(0.5);
    expect(ratiosFor(row("coupon-storm", 1600, 100), undefined, floors).rpsVsFloor).toBe(2);
    expect(ratiosFor(row("order-rush-spread", 1000, 100), undefined, floors).rpsVsFloor).toBe(0.5);
    expect(ratiosFor(row("charge-storm", 500, 100), undefined, floors).rpsVsFloor).toBe(0.25);
    expect(ratiosFor(row("popular-cached", 5000, 10), undefined, floors).rpsVsFloor).toBeNull();
    expect(ratiosFor(row("order-rush-hot", 400, 100), undefined, null).rpsVsFloor).toBeNull();
  });
});

describe("charts", () => {
  const baseline = { rps: 9000, p50: 4, p99: 12, serverUsPerRequest: 90, runs: [] };
  const results = {
    baselines: [{ stage: "flash", hono: { ...baseline, rps: 15000 }, trpc: baseline }],
    floors,
    rows: [
      row("order-rush-spread", 900, 300),
      row("popular-growth@10k", 300, 5, { orderLines: 10_000 }),
      row("popular-growth@100k", 250, 9, { orderLines: 100_000 }),
    ],
  } as unknown as RunResults;

  test("throughput and p99 against baselines and floors, the outbox drain, popular-growth against order lines", () => {
    const charts = chartsFor(results);
    expect(charts.map((c) => c.file)).toEqual(["throughput.svg", "p99.svg", "outbox-drain.svg", "popular-growth.svg"]);
    const throughput = charts[0]?.spec as unknown as { data: { values: Array<{ name: string; kind: string; value: number }> } };
    expect(throughput.data.values).toContainEqual({ name: "PostgreSQL floor: random products", kind: "floor", value: 2000 });
    expect(throughput.data.values).toContainEqual({ name: "order-rush-spread (0.45 × floor)", kind: "scenario", value: 900 });
  });

  test("bench scale: throughput and CPU per request against instances, rendered", async () => {
    const scale = [1, 2, 3].map((instances) => ({
      scenario: "order-rush-spread",
      instances,
      rps: 900,
      p99: 300,
      serverUsPerRequest: 1500 + instances,
      postgresUsPerRequest: 2500,
    }));
    const chart = chartsFor({ ...results, scale }).find((c) => c.file === "scale.svg");
    if (!chart) throw new Error("no scale chart");
    const svg = await renderSvg(chart.spec);
    expect(svg).toContain("server instances");
    expect(svg).toContain("server CPU µs per request");
  });

  test("renders SVG in Bun without a browser", async () => {
    const chart = chartsFor(results)[0];
    if (!chart) throw new Error("no chart");
    const svg = await renderSvg(chart.spec);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("PostgreSQL floor: one hot product");
  });
});
