/**
 * SVG charts of a run (and of `bench scale`), drawn with Vega-Lite compiled to Vega and rendered by Vega's own SVG
 * renderer (headless: `renderer: "none"` + `toSVG()`, no browser, no canvas), which runs under Bun
 * as it is. Chosen over hand-drawn SVG and over browser-bound libraries (Chart.js, ECharts need a
 * DOM or a canvas): Vega-Lite is a kept grammar of graphics, its specs are data, and its SVG output
 * is plain text that diffs and renders on GitHub.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { FLOOR_OF } from "./floor.ts";
import type { RunResults } from "./report.ts";

export interface Chart {
  /** File name under the charts folder, e.g. "throughput.svg". */
  file: string;
  title: string;
  spec: TopLevelSpec;
}

interface Bar {
  name: string;
  kind: "scenario" | "baseline" | "floor";
  value: number;
}

const KIND_COLORS = { domain: ["scenario", "baseline", "floor"], range: ["#4c78a8", "#9d9d9d", "#e45756"] };

function bars(title: string, unit: string, data: Bar[], log: boolean): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 520,
    data: { values: data },
    mark: { type: "bar", tooltip: true },
    encoding: {
      y: { field: "name", type: "nominal", sort: null, title: null, axis: { labelLimit: 260 } },
      x: { field: "value", type: "quantitative", title: unit, scale: log ? { type: "log" } : {} },
      color: { field: "kind", type: "nominal", scale: KIND_COLORS, title: null },
    },
    config: { font: "sans-serif", view: { stroke: null } },
  } as TopLevelSpec;
}

/** The charts a run can draw (those without data are left out). */
export function chartsFor(results: RunResults): Chart[] {
  const charts: Chart[] = [];
  const scenarioRows = results.rows.filter((r) => !r.scenario.startsWith("popular-growth@"));
  const throughput: Bar[] = [];
  const p99: Bar[] = [];
  for (const b of results.baselines) {
    throughput.push({ name: `${b.stage}: Hono /ping`, kind: "baseline", value: b.hono.rps });
    throughput.push({ name: `${b.stage}: tRPC no-op`, kind: "baseline", value: b.trpc.rps });
    p99.push({ name: `${b.stage}: Hono /ping`, kind: "baseline", value: b.hono.p99 });
    p99.push({ name: `${b.stage}: tRPC no-op`, kind: "baseline", value: b.trpc.p99 });
  }
  if (results.floors) {
    for (const floor of [results.floors.hot, results.floors.random]) {
      const name = `PostgreSQL floor: ${floor.kind === "hot" ? "one hot product" : "random products"}`;
      throughput.push({ name, kind: "floor", value: floor.tps });
      p99.push({ name, kind: "floor", value: floor.latencyMs.p99 });
    }
  }
  for (const r of scenarioRows) {
    const floor = FLOOR_OF[r.scenario];
    const suffix = floor && results.floors ? ` (${(r.load.rps / results.floors[floor].tps).toFixed(2)} × floor)` : "";
    throughput.push({ name: `${r.scenario}${suffix}`, kind: "scenario", value: r.load.rps });
    p99.push({ name: r.scenario, kind: "scenario", value: r.load.latencyMs.p99 });
  }
  if (scenarioRows.length > 0) {
    charts.push({
      file: "throughput.svg",
      title: "Throughput per scenario",
      spec: bars("Throughput: scenarios, baselines and PostgreSQL floors", "requests (or transactions) per second, log scale", throughput, true),
    });
    charts.push({
      file: "p99.svg",
      title: "p99 latency per scenario",
      spec: bars("p99 latency: scenarios, baselines and PostgreSQL floors", "p99 ms, log scale", p99, true),
    });
  }

  const outbox = results.rows
    .map((r) => ({ name: r.scenario, value: (r.extra?.outboxAfterRun as { eventsPerSecond?: number } | undefined)?.eventsPerSecond ?? 0 }))
    .filter((o) => o.value > 0);
  if (outbox.length > 0) {
    charts.push({
      file: "outbox-drain.svg",
      title: "Outbox drain after each scenario",
      spec: bars(
        "Outbox drain after each scenario",
        "events per second",
        outbox.map((o) => ({ ...o, kind: "scenario" as const })),
        false,
      ),
    });
  }

  const growth = results.rows
    .filter((r) => r.scenario.startsWith("popular-growth@"))
    .flatMap((r) => {
      const lines = Number(r.params.orderLines ?? 0);
      return [
        { orderLines: lines, percentile: "p50", ms: r.load.latencyMs.p50 },
        { orderLines: lines, percentile: "p99", ms: r.load.latencyMs.p99 },
      ];
    });
  if (growth.length > 0) {
    charts.push({
      file: "popular-growth.svg",
      title: "popular-growth: latency against order lines",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: "Uncached sales.popular: latency against order lines",
        width: 520,
        height: 260,
        data: { values: growth },
        mark: { type: "line", point: true, tooltip: true },
        encoding: {
          x: { field: "orderLines", type: "quantitative", title: "order lines (log scale)", scale: { type: "log" } },
          y: { field: "ms", type: "quantitative", title: "ms" },
          color: { field: "percentile", type: "nominal", title: null },
        },
        config: { font: "sans-serif" },
      } as TopLevelSpec,
    });
  }

  const scale = results.scale ?? [];
  if (scale.length > 0) {
    charts.push({
      file: "scale.svg",
      title: "bench scale: throughput and CPU per request against server instances",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: "Throughput and server CPU per request against server instances (one PostgreSQL, one Redis)",
        data: { values: scale },
        hconcat: [
          {
            width: 260,
            height: 220,
            mark: { type: "line", point: true, tooltip: true },
            encoding: {
              x: { field: "instances", type: "ordinal", title: "server instances", axis: { labelAngle: 0 } },
              y: { field: "rps", type: "quantitative", title: "requests per second" },
              color: { field: "scenario", type: "nominal", title: null },
            },
          },
          {
            width: 260,
            height: 220,
            mark: { type: "line", point: true, tooltip: true },
            encoding: {
              x: { field: "instances", type: "ordinal", title: "server instances", axis: { labelAngle: 0 } },
              y: { field: "serverUsPerRequest", type: "quantitative", title: "server CPU µs per request" },
              color: { field: "scenario", type: "nominal", title: null },
            },
          },
        ],
        config: { font: "sans-serif" },
      } as TopLevelSpec,
    });
  }
  return charts;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes every chart of the run into `dir`; returns the charts written. */
export async function writeCharts(results: RunResults, dir: string): Promise<Chart[]> {
  const charts = chartsFor(results);
  if (charts.length === 0) return charts;
  mkdirSync(dir, { recursive: true });
  for (const chart of charts) writeFileSync(join(dir, chart.file), `${await renderSvg(chart.spec)}\n`);
  return charts;
}
