/**
 * One chaos scenario from start to finish: environment up, customers, products and a coupon made
 * through the API, the storm with the scenario's faults running beside it, then the wait for
 * recovery (no charge attempt pending or voiding, the outbox empty), the checks, and everything
 * taken down again (the scratch database and Redis prefix included).
 */
import { sql } from "kysely";
import { type CheckResult, checkInvariants } from "../bench/invariants.ts";
import { api, createCoupon, createProducts, loginAdmin, signUpCustomers } from "../bench/prep.ts";
import { loadAverage } from "../bench/proc.ts";
import { randomId, sleep } from "../bench/util.ts";
import { type AppliedEvent, chaosChecks, type FaultWindow, overIssueNumbers, type Tally } from "./checks.ts";
import { type ChaosEnvironment, getJson, startEnvironment } from "./environment.ts";
import type { FaultContext, Scenario } from "./scenarios.ts";
import { runStorm, type StormRecord } from "./storm.ts";

export interface ChaosOptions {
  customers: number;
  /** Customers arrive over this many milliseconds. */
  spreadMs: number;
  thinkMs: [number, number];
  stepDeadlineMs: number;
  /** How long to wait after the storm for charges and events to settle. */
  settleTimeoutMs: number;
  logDir: string;
  log(scenario: string, message: string): void;
}

export const defaultOptions = (logDir: string, log: ChaosOptions["log"]): ChaosOptions => ({
  customers: 300,
  spreadMs: 30_000,
  thinkMs: [50, 400],
  stepDeadlineMs: 90_000,
  settleTimeoutMs: 120_000,
  logDir,
  log,
});

export interface ScenarioResult {
  scenario: string;
  description: string;
  customers: number;
  stormSeconds: number;
  settleSeconds: number;
  windows: FaultWindow[];
  /** The machine's load average before and after the storm (others' work shares the cores). */
  loadAverage: { before: number[]; after: number[] };
  timeline: string[];
  tally: Tally;
  checks: CheckResult[];
  passed: boolean;
}

async function waitFor(what: string, timeoutMs: number, count: () => Promise<number>, log: (m: string) => void): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let left = await count();
  let lastLog = Date.now();
  while (left > 0 && Date.now() < deadline) {
    await sleep(250);
    left = await count();
    if (Date.now() - lastLog > 5_000) {
      log(`waiting: ${left} ${what}`);
      lastLog = Date.now();
    }
  }
  return left;
}

/** Once a second: the server's pool (GET /metrics) and the scratch database's backends, for the log. */
function samplePool(env: ChaosEnvironment, clock: () => number, file: string): { stop(): void } {
  const lines: string[] = [];
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      try {
        const metrics = await fetch(`${env.url}/metrics`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.text());
        const pool = [...metrics.matchAll(/agora_db_pool\w*\{state="(\w+)"\} (\d+)/g)].map((m) => `${m[1]}=${m[2]}`).join(" ");
        const activity = await sql<{ state: string | null; wait: string | null; n: number }>`
          SELECT state, wait_event_type AS wait, count(*)::int AS n FROM pg_stat_activity WHERE datname = ${env.database.name} AND application_name = 'agora' GROUP BY 1, 2`.execute(
          env.database.handle.db,
        );
        lines.push(
          `${(clock() / 1000).toFixed(1)} s pool ${pool || "?"}; backends ${activity.rows.map((r) => `${r.state}/${r.wait ?? "-"}=${r.n}`).join(" ")}`,
        );
      } catch (error) {
        lines.push(`${(clock() / 1000).toFixed(1)} s sample failed: ${String(error).slice(0, 120)}`);
      }
      await sleep(1_000);
    }
  };
  void loop();
  return {
    stop() {
      stopped = true;
      void Bun.write(file, `${lines.join("\n")}\n`);
    },
  };
}

export async function runScenario(scenario: Scenario, options: ChaosOptions): Promise<ScenarioResult> {
  const log = (m: string) => options.log(scenario.name, m);
  let clockStart = performance.now();
  const clock = () => performance.now() - clockStart;
  const timeline: string[] = [];
  const note = (m: string) => {
    timeline.push(`${(clock() / 1000).toFixed(1)} s: ${m}`);
    log(m);
  };

  log("starting the scratch database, Redis prefix, fakes and server");
  const env: ChaosEnvironment = await startEnvironment({
    label: scenario.name,
    logDir: `${options.logDir}/${scenario.name}`,
    serverEnv: scenario.serverEnv,
    clock,
  });
  try {
    const client = api(env.url);
    const adminToken = await loginAdmin(client, env.admin.email, env.admin.password);
    const runId = randomId(6);
    const customers = await signUpCustomers(client, options.customers, runId, scenario.name);
    const [hot] = await createProducts(
      client,
      adminToken,
      1,
      { price: 10_000, stock: Math.max(1, Math.floor(options.customers / 2)), name: "Chaos hot" },
      scenario.name,
    );
    const plain = await createProducts(client, adminToken, 5, { price: 5_000, stock: options.customers * 2, name: "Chaos plain" }, scenario.name);
    const couponId = await createCoupon(client, adminToken, Math.max(1, Math.floor(options.customers / 3)), "Chaos coupon");
    if (!hot) throw new Error("no hot product");
    log(`server ${env.url} (pid ${env.server().pid}, NODE_ENV=production), ${customers.length} customers, coupon ${couponId}, hot product ${hot.id}`);

    const windows: FaultWindow[] = [];
    const hiddenWindows: FaultWindow[] = [];
    const landed: CheckResult[] = [];
    const ctx: FaultContext = {
      env,
      spreadMs: options.spreadMs,
      customers: options.customers,
      at: async (ms) => {
        const wait = ms - clock();
        if (wait > 0) await sleep(wait);
      },
      now: clock,
      open(label, clientVisible) {
        const w: FaultWindow = { label, startMs: clock(), endMs: Number.POSITIVE_INFINITY };
        (clientVisible ? windows : hiddenWindows).push(w);
        note(`fault window opens: ${label}${clientVisible ? "" : " (clients must not see it)"}`);
        return {
          close() {
            w.endMs = clock();
            note(`fault window closes: ${label}`);
          },
        };
      },
      async window(label, fn) {
        const w = ctx.open(label, true);
        try {
          return await fn();
        } finally {
          w.close();
        }
      },
      landed: (name, ok, detail) => {
        landed.push({ name, ok, detail });
      },
      log: note,
    };

    const loadBefore = loadAverage();
    clockStart = performance.now();
    const stormPromise: Promise<StormRecord> = runStorm({
      url: env.url,
      customers,
      couponId,
      hotProductId: hot.id,
      plainProductIds: plain.map((p) => p.id),
      spreadMs: options.spreadMs,
      thinkMs: options.thinkMs,
      stepDeadlineMs: options.stepDeadlineMs,
      requestTimeoutMs: 30_000,
      clock,
    });
    note(`storm: ${options.customers} customers arriving over ${(options.spreadMs / 1000).toFixed(0)} s`);
    const faultPromise = scenario.fault(ctx);
    const sampler = samplePool(env, clock, `${options.logDir}/${scenario.name}/pool.log`);
    const [storm] = await Promise.all([stormPromise, faultPromise]).finally(() => sampler.stop());
    await Bun.write(`${options.logDir}/${scenario.name}/storm.json`, JSON.stringify(storm));
    note(`storm over: ${storm.attempts.length} requests, ${storm.steps.length} steps`);
    const stormSeconds = storm.endedAtMs / 1000;

    // Recovery: charges settle after their lease; the outbox delivers what is left.
    const settleStart = clock();
    const db = env.database.handle.db;
    const openAttempts = await waitFor(
      "charge attempts pending or voiding",
      options.settleTimeoutMs,
      async () =>
        Number(
          (await sql<{ n: number }>`SELECT count(*)::int AS n FROM wallet_charge_attempts WHERE status IN ('pending', 'voiding')`.execute(db)).rows[0]?.n ?? 0,
        ),
      log,
    );
    const pendingEvents = await waitFor(
      "outbox events pending",
      options.settleTimeoutMs,
      async () => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox_events WHERE status = 'pending'`.execute(db)).rows[0]?.n ?? 0),
      log,
    );
    const settleSeconds = (clock() - settleStart) / 1000;
    note(`settled in ${settleSeconds.toFixed(1)} s (${openAttempts} charge attempts open, ${pendingEvents} events pending)`);
    await scenario.afterSettle?.(ctx);

    const gatewayStats = await getJson<{
      capturedAmount: number;
      approved: number;
      voided: number;
      lookups: number;
      cardCapturedAmount: number;
      cardRefundedAmount: number;
    }>(`${env.gateway.url}/_stats`);
    const applied = await getJson<AppliedEvent[]>(`${env.dataPlatform.url}/_applied`);
    note(
      `gateway: ${gatewayStats.approved} approved, ${gatewayStats.voided} voided, ${gatewayStats.lookups} lookups, ${gatewayStats.capturedAmount} won captured; data platform: ${applied.length} events applied`,
    );

    const invariants = await checkInvariants(db, {
      gatewayCapturedAmount: gatewayStats.capturedAmount,
      gatewayCardNetAmount: gatewayStats.cardCapturedAmount - gatewayStats.cardRefundedAmount,
    });
    const { checks, tally } = await chaosChecks({
      db,
      storm,
      windows,
      gatewayCaptured: gatewayStats.capturedAmount,
      applied,
      exits: env.exits,
      couponId,
      hotProductId: hot.id,
    });
    const numbers = await overIssueNumbers(db);
    const all = [...landed, ...invariants, ...checks];
    return {
      scenario: scenario.name,
      description: scenario.description,
      customers: options.customers,
      stormSeconds,
      settleSeconds,
      windows: [...windows, ...hiddenWindows.map((w) => ({ ...w, label: `${w.label} (clients must not see it)` }))],
      loadAverage: { before: loadBefore, after: loadAverage() },
      timeline,
      tally: { ...tally, ...numbers },
      checks: all,
      passed: all.every((c) => c.ok),
    };
  } finally {
    await env.stop().catch((error) => log(`stopping: ${String(error)}`));
  }
}
