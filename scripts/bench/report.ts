/**
 * Output of a run: the console table, bench-results/<timestamp>.json, docs/benchmarks.json and the
 * generated part of docs/benchmarks.md (between the bench:results markers; the hand-written
 * analysis around them is kept).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { type Chart, writeCharts } from "./charts.ts";
import { FLOOR_OF, type Floors } from "./floor.ts";
import type { LoadResult } from "./load.ts";
import type { ScenarioRow, StageName } from "./scenarios.ts";
import { repoRoot } from "./services.ts";
import { fmtInt, fmtMs, fmtRatio, markdownTable, textTable } from "./util.ts";

export interface Baselines {
  stage: StageName;
  hono: LoadResult[];
  trpc: LoadResult[];
}

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  kernel: string;
  bun: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  redis: string;
  commit: string;
  command: string;
  date: string;
}

export interface RunResults {
  version: 1;
  machine: MachineFacts;
  options: Record<string, unknown>;
  durationSeconds: number;
  loadAverage: { start: number[]; end: number[] };
  baselines: Array<{ stage: StageName; hono: BaselineSummary; trpc: BaselineSummary }>;
  /** pgbench's floor for an order, measured in the same run (null: pgbench missing or not asked for). */
  floors?: Floors | null;
  /** `bench scale`: one row per scenario and instance count. */
  scale?: ScaleRow[];
  rows: Array<ScenarioRow & { ratios: Ratios }>;
  passed: boolean;
  targetsMet: boolean;
}

export interface ScaleRow {
  scenario: string;
  instances: number;
  rps: number;
  p99: number;
  /** Server CPU (all instances together) per answered request, µs. */
  serverUsPerRequest: number;
  /** PostgreSQL CPU (the scratch database's backends) per answered request, µs. */
  postgresUsPerRequest: number;
}

const SCALE_HEADER = ["scenario", "instances", "req/s", "p99 ms", "server µs/req", "PG µs/req"];

function scaleTableRows(rows: ScaleRow[]): string[][] {
  return rows.map((r) => [r.scenario, String(r.instances), fmtInt(r.rps), fmtMs(r.p99), r.serverUsPerRequest.toFixed(0), r.postgresUsPerRequest.toFixed(0)]);
}

export interface BaselineSummary {
  rps: number;
  p50: number;
  p99: number;
  serverUsPerRequest: number;
  runs: Array<{ rps: number; p99: number; serverUsPerRequest: number }>;
}

export interface Ratios {
  /** Throughput relative to the baselines (scenario req/s ÷ baseline req/s). */
  rpsVsHono: number | null;
  rpsVsTrpc: number | null;
  /** Server CPU per request relative to the tRPC no-op (how many no-ops one request costs). */
  cpuVsTrpc: number | null;
  /** Throughput relative to its PostgreSQL floor (FLOOR_OF: hot or random products), same run. */
  rpsVsFloor: number | null;
}

/**
 * A baseline is measured at the start and at the end of its stage; the better run is the reference
 * (someone else's load on the machine can only lower a baseline, never raise it).
 */
export function summarizeBaseline(runs: LoadResult[]): BaselineSummary {
  const best = runs.reduce<LoadResult | null>((a, r) => (a === null || r.rps > a.rps ? r : a), null);
  return {
    rps: best?.rps ?? 0,
    p50: best?.latencyMs.p50 ?? 0,
    p99: best?.latencyMs.p99 ?? 0,
    serverUsPerRequest: best?.cpu.serverUsPerRequest ?? 0,
    runs: runs.map((r) => ({ rps: r.rps, p99: r.latencyMs.p99, serverUsPerRequest: r.cpu.serverUsPerRequest })),
  };
}

export function ratiosFor(row: ScenarioRow, baseline: { hono: BaselineSummary; trpc: BaselineSummary } | undefined, floors?: Floors | null): Ratios {
  const floorKind = FLOOR_OF[row.scenario];
  const floor = floorKind && floors ? floors[floorKind].tps : 0;
  const rpsVsFloor = floor > 0 ? row.load.rps / floor : null;
  if (!baseline) return { rpsVsHono: null, rpsVsTrpc: null, cpuVsTrpc: null, rpsVsFloor };
  return {
    rpsVsFloor,
    rpsVsHono: baseline.hono.rps > 0 ? row.load.rps / baseline.hono.rps : null,
    rpsVsTrpc: baseline.trpc.rps > 0 ? row.load.rps / baseline.trpc.rps : null,
    cpuVsTrpc: baseline.trpc.serverUsPerRequest > 0 ? row.load.cpu.serverUsPerRequest / baseline.trpc.serverUsPerRequest : null,
  };
}

export function answersText(load: LoadResult): string {
  const parts = Object.entries(load.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${fmtInt(v)}`);
  if (load.transportErrors > 0) parts.push(`transport errors ${fmtInt(load.transportErrors - load.timeouts)}`);
  if (load.timeouts > 0) parts.push(`timeouts ${fmtInt(load.timeouts)}`);
  return parts.join(", ");
}

const mb = (bytes: number | null) => (bytes === null ? "–" : `${Math.round(bytes / 1024 / 1024)}`);
const cpuSeconds = (load: LoadResult) => load.cpu.server.user + load.cpu.server.sys;

function baselineRows(results: RunResults): string[][] {
  const out: string[][] = [];
  for (const b of results.baselines) {
    for (const [name, s] of [
      ["GET /ping (Hono)", b.hono],
      ["GET /trpc/ping (tRPC no-op)", b.trpc],
    ] as const) {
      out.push([
        `${b.stage}: ${name}`,
        fmtInt(s.rps),
        fmtMs(s.p50),
        fmtMs(s.p99),
        s.runs.map((r) => fmtInt(r.rps)).join(" / "),
        s.serverUsPerRequest.toFixed(0),
      ]);
    }
  }
  return out;
}

function targetText(row: ScenarioRow): string {
  if (row.targets.length === 0) return "–";
  return row.targets.map((t) => `${t.met ? "MET" : "MISSED"}: ${t.label}`).join("; ");
}

function checksText(row: ScenarioRow): string {
  const failed = row.checks.filter((c) => !c.ok).length;
  return failed === 0 ? `${row.checks.length} ok` : `${failed} FAILED of ${row.checks.length}`;
}

export function consoleReport(results: RunResults): string {
  const header = [
    "scenario",
    "req/s",
    "headline",
    "p50 ms",
    "p99 ms",
    "answers",
    "srv CPU s",
    "JS busy",
    "µs/req",
    "PG CPU s",
    "others",
    "peak RSS MB",
    "×Hono",
    "×tRPC",
    "CPU×tRPC",
    "×floor",
    "targets",
    "checks",
  ];
  const rows = results.rows.map((r) => [
    r.scenario,
    fmtInt(r.load.rps),
    r.headline.unit === "ms" ? `${fmtMs(r.headline.value)} ms` : `${fmtInt(r.headline.value)} ${r.headline.unit}`,
    fmtMs(r.load.latencyMs.p50),
    fmtMs(r.load.latencyMs.p99),
    answersText(r.load),
    cpuSeconds(r.load).toFixed(2),
    `${Math.round(r.load.cpu.serverMainThreadBusy * 100)}%`,
    r.load.cpu.serverUsPerRequest.toFixed(0),
    r.load.cpu.postgres.toFixed(2),
    `${Math.round(r.load.cpu.othersShare * 100)}%`,
    mb(r.load.serverPeakRssBytes),
    fmtRatio(r.ratios.rpsVsHono),
    fmtRatio(r.ratios.rpsVsTrpc),
    fmtRatio(r.ratios.cpuVsTrpc),
    fmtRatio(r.ratios.rpsVsFloor),
    targetText(r),
    checksText(r),
  ]);
  const right = [false, true, true, true, true, false, true, true, true, true, true, true, true, true, true, true, false, false];
  const baselines = textTable(["baseline", "req/s", "p50 ms", "p99 ms", "runs (start / end)", "µs/req"], baselineRows(results), [
    false,
    true,
    true,
    true,
    false,
    true,
  ]);
  const failed = results.rows.flatMap((r) =>
    r.checks.filter((c) => !c.ok).map((c) => `  ✖ ${r.scenario}: ${c.name}: ${c.detail}${c.sample ? `\n      ${JSON.stringify(c.sample)}` : ""}`),
  );
  const floors = results.floors
    ? ["", textTable(["PostgreSQL floor (pgbench)", "orders/s", "p50 ms", "p99 ms", "clients"], floorRows(results.floors), [false, true, true, true, true])]
    : [];
  const outbox = results.rows.filter((r) => outboxDrain(r)).map((r) => `outbox drain after ${r.scenario}: ${outboxText(r)}`);
  return [
    "",
    baselines,
    ...floors,
    "",
    textTable(header, rows, right),
    ...(outbox.length ? ["", ...outbox] : []),
    ...(results.scale?.length ? ["", textTable(SCALE_HEADER, scaleTableRows(results.scale), [false, true, true, true, true, true])] : []),
    "",
    failed.length ? `INVARIANTS FAILED:\n${failed.join("\n")}` : `All invariants held (${results.rows.reduce((n, r) => n + r.checks.length, 0)} checks).`,
    `Targets: ${results.rows.flatMap((r) => r.targets).filter((t) => t.met).length} met, ${results.rows.flatMap((r) => r.targets).filter((t) => !t.met).length} missed.`,
    `Run took ${results.durationSeconds.toFixed(0)} s; load average ${results.loadAverage.start.map((v) => v.toFixed(2)).join(" ")} at the start, ${results.loadAverage.end.map((v) => v.toFixed(2)).join(" ")} at the end.`,
    "",
  ].join("\n");
}

// ── machine facts ────────────────────────────────────────────────────────

function run(cmd: string[]): string {
  try {
    const out = Bun.spawnSync(cmd, { cwd: repoRoot });
    return out.exitCode === 0 ? out.stdout.toString().trim() : "";
  } catch {
    return "";
  }
}

export function currentCommit(): string {
  const commit = run(["git", "rev-parse", "--short=12", "HEAD"]);
  const dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]).length > 0;
  return commit ? `${commit}${dirty ? " (with uncommitted changes)" : ""}` : "unknown";
}

/** `commitAtStart`: HEAD when the run began; if it moved while the run went on, both are reported. */
export function machineFacts(
  command: string,
  postgres: { version: string; settings: Record<string, string> },
  redis: string,
  commitAtStart: string,
): MachineFacts {
  const osRelease = existsSync("/etc/os-release") ? readFileSync("/etc/os-release", "utf8") : "";
  const commitAtEnd = currentCommit();
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? process.platform,
    kernel: run(["uname", "-r"]),
    bun: Bun.version,
    postgres: postgres.version,
    postgresSettings: postgres.settings,
    redis,
    commit: commitAtEnd === commitAtStart ? commitAtStart : `${commitAtStart}, HEAD moved to ${commitAtEnd} during the run`,
    command,
    date: new Date().toISOString(),
  };
}

// ── files ────────────────────────────────────────────────────────────────

export function writeRunJson(results: RunResults, stamp: string): string {
  const dir = join(repoRoot, "bench-results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

const START = "<!-- bench:results:start -->";
const END = "<!-- bench:results:end -->";

function detailSections(results: RunResults): string[] {
  const out: string[] = [];
  for (const r of results.rows) {
    const labels = Object.entries(r.load.latencyByLabel);
    if (labels.length > 0) {
      out.push(`#### ${r.scenario}: latency by request kind\n`);
      out.push(
        markdownTable(
          ["kind", "answers", "p50 ms", "p90 ms", "p99 ms", "max ms", "EXPLAIN ANALYZE ms"],
          labels.map(([label, p]) => {
            const plan = (r.extra?.explain as Record<string, { executionMs: number }> | undefined)?.[label];
            return [label, fmtInt(p.count), fmtMs(p.p50), fmtMs(p.p90), fmtMs(p.p99), fmtMs(p.max), plan ? fmtMs(plan.executionMs) : "–"];
          }),
          [false, true, true, true, true, true, true],
        ),
        "",
      );
    }
  }
  const growth = results.rows.filter((r) => r.scenario.startsWith("popular-growth@"));
  if (growth.length > 0) {
    out.push("#### popular-growth: how the uncached popular list grows\n");
    out.push(
      markdownTable(
        [
          "order lines",
          "sales_daily rows",
          "rows in the 3-day window",
          "req/s",
          "p50 ms",
          "p99 ms",
          "full aggregate, 3 days: EXPLAIN ms",
          "full aggregate, 30 days: EXPLAIN ms",
          "server µs/req",
        ],
        growth.map((r) => {
          const e = r.extra as {
            salesDailyRows?: number;
            windowRows?: number;
            explain3Days?: { executionMs: number };
            explain30Days?: { executionMs: number };
          };
          return [
            fmtInt(Number(r.params.orderLines ?? 0)),
            fmtInt(e.salesDailyRows ?? 0),
            fmtInt(e.windowRows ?? 0),
            fmtInt(r.load.rps),
            fmtMs(r.load.latencyMs.p50),
            fmtMs(r.load.latencyMs.p99),
            fmtMs(e.explain3Days?.executionMs ?? Number.NaN),
            fmtMs(e.explain30Days?.executionMs ?? Number.NaN),
            r.load.cpu.serverUsPerRequest.toFixed(0),
          ];
        }),
        [true, true, true, true, true, true, true, true, true],
      ),
      "",
    );
  }
  return out;
}

export interface OutboxDrain {
  pendingAtStart: number;
  /** Rows sent while draining (an event written once counts once per destination); older results lack it. */
  delivered?: number;
  seconds: number;
  pendingAtEnd: number;
  /** Events delivered per second while draining (what was pending when the load ended). */
  eventsPerSecond: number;
  /** CPU of the server(s) and of the scratch database's backends per event delivered while draining (µs). */
  serverUsPerEvent?: number;
  postgresUsPerEvent?: number;
}

function outboxDrain(row: ScenarioRow): OutboxDrain | null {
  const o = row.extra?.outboxAfterRun as OutboxDrain | undefined;
  return o && o.pendingAtStart > 0 ? o : null;
}

function outboxText(row: ScenarioRow): string {
  const o = outboxDrain(row);
  if (!o) return "–";
  const cpu = o.serverUsPerEvent === undefined ? "" : `, CPU per event: server ${fmtInt(o.serverUsPerEvent)} µs, PG ${fmtInt(o.postgresUsPerEvent ?? 0)} µs`;
  return `${fmtInt(o.delivered ?? o.pendingAtStart - o.pendingAtEnd)} delivered in ${o.seconds.toFixed(1)} s: ${fmtInt(o.eventsPerSecond ?? 0)} events/s${o.pendingAtEnd > 0 ? ` (${fmtInt(o.pendingAtEnd)} left)` : ""}${cpu}`;
}

function floorRows(floors: Floors): string[][] {
  return [floors.hot, floors.random].map((f) => [
    f.kind === "hot" ? "one hot product" : "random products",
    fmtInt(f.tps),
    fmtMs(f.latencyMs.p50),
    fmtMs(f.latencyMs.p99),
    String(floors.clients),
  ]);
}

export function resultsMarkdown(results: RunResults, charts: Chart[] = []): string {
  const m = results.machine;
  const lines: string[] = [];
  lines.push(`_Generated by \`${m.command}\` on ${m.date} (commit ${m.commit}); the run took ${results.durationSeconds.toFixed(0)} s._`, "");
  lines.push(
    `**Machine:** ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os} (kernel ${m.kernel}); Bun ${m.bun}; PostgreSQL ${m.postgres} (${Object.entries(
      m.postgresSettings,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(
        ", ",
      )}); Redis ${m.redis}. Load generator (autocannon; charge-storm's burst through Bun's fetch), server, fakes, PostgreSQL and Redis share the same ${m.cores} cores. ` +
      `Load average ${results.loadAverage.start.map((v) => v.toFixed(2)).join(" ")} at the start, ${results.loadAverage.end.map((v) => v.toFixed(2)).join(" ")} at the end.`,
    "",
  );
  lines.push(
    "**Baselines** (same server process as the scenarios of their stage; 50 connections, 5 s, measured at the start and at the end of the stage; the better run is the reference, since load from outside the run can only lower a baseline):",
    "",
  );
  lines.push(
    markdownTable(["baseline", "req/s", "p50 ms", "p99 ms", "runs (start / end)", "server µs/req"], baselineRows(results), [
      false,
      true,
      true,
      true,
      false,
      true,
    ]),
    "",
  );
  if (results.floors) {
    const f = results.floors;
    lines.push(
      `**PostgreSQL floor for an order** (pgbench, \`-M prepared\`, ${f.clients} clients — the server's pool — for ${f.seconds} s each, on a scratch database with Agora's four tables; see scripts/bench/floor.ts): ` +
        "one transaction debits a random customer's wallet, inserts the order and its line, and takes the stock last, on one hot product and on random products. " +
        "`×floor` below: the scenario's req/s divided by its floor (hot: coupon-storm, order-rush-hot; random: order-rush-spread, charge-storm).",
      "",
      markdownTable(["floor", "orders/s", "p50 ms", "p99 ms", "clients"], floorRows(f), [false, true, true, true, true]),
      "",
    );
  }
  lines.push(
    "**Results.** `×Hono` / `×tRPC`: the scenario's req/s divided by that baseline's req/s (same server process). Answers are counted from the response bodies: `ok`, or the domain error code.",
    "",
  );
  lines.push(
    markdownTable(
      ["scenario", "load", "req/s", "target metric", "p50 ms", "p99 ms", "answers", "×Hono", "×tRPC", "×floor", "targets", "invariants"],
      results.rows.map((r) => [
        r.scenario,
        `${r.load.connections} conn, ${r.params.requests !== undefined ? `${fmtInt(Number(r.params.requests))} req` : `${r.params.durationSeconds} s`}`,
        fmtInt(r.load.rps),
        r.headline.unit === "ms" ? `${fmtMs(r.headline.value)} ms` : `${fmtInt(r.headline.value)} ${r.headline.unit}`,
        fmtMs(r.load.latencyMs.p50),
        fmtMs(r.load.latencyMs.p99),
        answersText(r.load),
        fmtRatio(r.ratios.rpsVsHono),
        fmtRatio(r.ratios.rpsVsTrpc),
        fmtRatio(r.ratios.rpsVsFloor),
        r.targets.length ? r.targets.map((t) => `${t.met ? "✅" : "❌"} ${t.label} (${t.actual})`).join("<br>") : "–",
        checksText(r),
      ]),
      [false, false, true, true, true, true, false, true, true, true, false, false],
    ),
    "",
  );
  lines.push(
    "**Cost** (CPU seconds, user+sys, during the load only). `server`: the Agora process; `JS thread`: share of the wall time its JavaScript thread was on a CPU; " +
      "`CPU×tRPC`: server CPU per request ÷ the tRPC no-op's; `PG`: the backends of the scratch database (the server's pool); `PG all`: every PostgreSQL process on the machine; " +
      "`load gen`: the harness process running autocannon (charge-storm: its burst); `gateway`: the fake card gateway; `machine busy`: all cores, with the share used by processes outside this run in brackets.",
    "",
  );
  lines.push(
    markdownTable(
      [
        "scenario",
        "server CPU s",
        "server µs/req",
        "CPU×tRPC",
        "JS thread",
        "PG CPU s",
        "PG µs/req",
        "PG all s",
        "load gen s",
        "gateway s",
        "machine busy (others)",
        "server peak RSS MB",
      ],
      results.rows.map((r) => [
        r.scenario,
        cpuSeconds(r.load).toFixed(2),
        r.load.cpu.serverUsPerRequest.toFixed(0),
        fmtRatio(r.ratios.cpuVsTrpc),
        `${Math.round((r.load.cpu.serverMainThreadBusy ?? 0) * 100)}%`,
        r.load.cpu.postgres.toFixed(2),
        r.load.answered > 0 ? ((r.load.cpu.postgres * 1e6) / r.load.answered).toFixed(0) : "–",
        r.load.cpu.postgresAll.toFixed(2),
        r.load.cpu.loadGenerator.toFixed(2),
        r.load.cpu.gateway.toFixed(2),
        `${Math.round(r.load.cpu.machineBusy * 100)}% (${Math.round((r.load.cpu.othersShare ?? 0) * 100)}%)`,
        mb(r.load.serverPeakRssBytes),
      ]),
      [false, true, true, true, true, true, true, true, true, true, true, true],
    ),
    "",
  );
  lines.push(
    "**PostgreSQL during the load** (pg_stat_activity of the scratch database, sampled every 250 ms): mean / max backends running a statement, mean / max waiting on a lock, mean idle inside a transaction.",
    "",
  );
  lines.push(
    markdownTable(
      [
        "scenario",
        "active mean / max",
        "lock waits mean / max",
        "idle in transaction mean",
        "duration s",
        "load avg before → after",
        "outbox events after the run",
      ],
      results.rows.map((r) => [
        r.scenario,
        r.load.pg ? `${r.load.pg.activeMean.toFixed(1)} / ${r.load.pg.activeMax}` : "–",
        r.load.pg ? `${r.load.pg.lockWaitMean.toFixed(1)} / ${r.load.pg.lockWaitMax}` : "–",
        r.load.pg ? r.load.pg.idleInTransactionMean.toFixed(1) : "–",
        r.load.durationSeconds.toFixed(2),
        `${r.loadAverage.before[0]?.toFixed(2) ?? "–"} → ${r.loadAverage.after[0]?.toFixed(2) ?? "–"}`,
        outboxText(r),
      ]),
      [false, true, true, true, true, false, false],
    ),
    "",
  );
  lines.push(...detailSections(results));
  if (results.scale?.length) {
    lines.push(
      "**Scale** (`bun run bench scale`): the same scenarios on 1, 2 and 3 server instances sharing one PostgreSQL and one Redis, the connections split evenly over the instances; CPU per request summed over every instance.",
      "",
      markdownTable(SCALE_HEADER, scaleTableRows(results.scale), [false, true, true, true, true, true]),
      "",
    );
  }
  if (charts.length > 0) {
    lines.push("**Charts** (docs/benchmarks/*.svg, drawn by scripts/bench/charts.ts):", "");
    for (const chart of charts) lines.push(`![${chart.title}](benchmarks/${chart.file})`, "");
  }
  const failed = results.rows.flatMap((r) => r.checks.filter((c) => !c.ok).map((c) => `- ${r.scenario}: ${c.name}: ${c.detail}`));
  lines.push(
    failed.length
      ? `**Invariants FAILED:**\n\n${failed.join("\n")}`
      : `**Invariants:** all ${results.rows.reduce((n, r) => n + r.checks.length, 0)} checks held.`,
    "",
  );
  return lines.join("\n");
}

export async function writeDocs(results: RunResults, template: string): Promise<{ md: string; json: string; charts: Chart[] }> {
  const docs = join(repoRoot, "docs");
  mkdirSync(docs, { recursive: true });
  const charts = await writeCharts(results, join(docs, "benchmarks"));
  const json = join(docs, "benchmarks.json");
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  const md = join(docs, "benchmarks.md");
  const current = existsSync(md) ? readFileSync(md, "utf8") : template;
  const base = current.includes(START) && current.includes(END) ? current : template;
  const before = base.slice(0, base.indexOf(START) + START.length);
  const after = base.slice(base.indexOf(END));
  writeFileSync(md, `${before}\n\n${resultsMarkdown(results, charts)}\n${after}`);
  return { md, json, charts };
}

export const RESULTS_MARKERS = { START, END };
