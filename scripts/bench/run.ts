/**
 * `bun run bench <scenario…>` / `bun run bench all`: flash-sale load against a running Agora,
 * with the invariants checked from the database after every scenario and in-run baselines.
 *
 *   bun run bench all                     every scenario; writes docs/benchmarks.{md,json}
 *   bun run bench coupon-storm charge-storm
 *   bun run bench list                    the scenarios and their targets
 *   bun run bench scale                   coupon-storm and order-rush-spread on 1, 2 and 3 server instances
 *   bun run bench web [--docs]            page loads of / and /admin in Chromium, order search over 100,000 orders
 *
 * Options:
 *   --docs / --no-docs        write docs/benchmarks.md and docs/benchmarks.json (default: only for `all`)
 *   --pool N                  DB_POOL_SIZE of the bench server (default: the server's default)
 *   --env KEY=VALUE           extra environment for the bench server (repeatable)
 *   --no-order-keys           orders.place without an idempotency key
 *   --charge-connections N    connections of charge-storm (default 1000: every customer at once)
 *   --charge-generator G      how charge-storm's 1,000 at once are sent: burst (default: Bun's fetch, each
 *                             request's clock from its own send) or autocannon (as before stop 32; its
 *                             clocks start while it still builds the other connections)
 *   --profile                 run the server under `bun --cpu-prof` (profiles in bench-results/profiles/)
 *   --strict                  also exit non-zero when a target is missed
 *   --skip-baselines          no baseline runs (for profiling one scenario; no ratios then)
 *   --connections N           every scenario (not the baselines) with N connections instead of its own
 *   --cold-sessions           no sessions warm-up before the storms (every first request resolves its
 *                             session in PostgreSQL; by default each shopper calls identity.me just before)
 *   --cold-paths              no warm-up of the scenario's own path before a write storm (by default a
 *                             short unmeasured load on a warm-up coupon or product runs first, as the
 *                             baselines get their 1 s warm-up: the measurement is of a running server)
 *   --try-sql "STATEMENT"     run it in the reads database once its products are loaded (try an index
 *                             before proposing a migration), repeatable
 *   --db-set name=value       ALTER DATABASE <scratch> SET name = value (e.g. synchronous_commit=off), repeatable
 *   --no-floor                no pgbench floor (it runs before the flash stage when a write scenario is selected)
 *   --floor-seconds S         how long each pgbench floor runs (default 5)
 *   --timeout S               the load generator's per-request timeout in seconds (default 10; 30 for `bench scale`)
 *   --wait-quiet S            before each load, wait up to S seconds until the machine is below 15% busy
 *                             (other people's test runs on a shared machine); the share used by others
 *                             during each run is reported either way
 *
 * Every run creates its own scratch databases (agora_bench_<stage>_<random>, migrated), a Redis key
 * prefix (bench:<random>:), the fake payment gateway (20 ms) and data platform as child processes,
 * and the server as a child process in production mode on a free loopback port. All of it is
 * removed at the end, also on failure and Ctrl-C. A failed invariant makes the exit code 1.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { type RawBuilder, sql } from "kysely";
import pg from "pg";
import { DB_POOL_SIZE_DEFAULT, withServerEngineEnv } from "../../apps/server/config.ts";
import type { Db } from "../../db/index.ts";
import { writeCharts } from "./charts.ts";
import { FLOOR_OF, FLOOR_TARGETS, measureFloors } from "./floor.ts";
import { type CheckOptions, type CheckResult, checkInvariants } from "./invariants.ts";
import { type LoadGenerator, type LoadResult, runLoad, startCpuProbe, trpcQuery, type Watched, waitForQuiet } from "./load.ts";
import { api, type Customer, FUNDING_NOTE, fundCustomers, loginAdmin, signUpCustomers } from "./prep.ts";
import { loadAverage } from "./proc.ts";
import {
  consoleReport,
  currentCommit,
  machineFacts,
  type OutboxDrain,
  type RunResults,
  ratiosFor,
  type ScaleRow,
  summarizeBaseline,
  writeDocs,
  writeRunJson,
} from "./report.ts";
import {
  allScenarios,
  type CustomerNeeds,
  FUNDING,
  relativeTarget,
  type Scenario,
  type ScenarioRow,
  type StageContext,
  type StageName,
  type TargetResult,
} from "./scenarios.ts";
import {
  type Child,
  cleanupAll,
  createScratchDatabase,
  createScratchRedis,
  freePort,
  installSignalHandlers,
  interrupted,
  onCleanup,
  PG_SERVER_URL,
  REDIS_URL,
  repoRoot,
  spawnChild,
} from "./services.ts";
import { DOCS_TEMPLATE } from "./template.ts";
import { fmtInt, progress, randomId, sleep } from "./util.ts";

interface RunOptions {
  names: string[];
  docs: boolean;
  pool: number | null;
  env: Record<string, string>;
  orderKeys: boolean;
  chargeConnections: number;
  chargeGenerator: LoadGenerator;
  profile: boolean;
  strict: boolean;
  baselines: boolean;
  /** Before each load: wait up to this many seconds for the machine to be quiet (0: do not wait). */
  waitQuiet: number;
  /** PostgreSQL settings for the scratch databases only (ALTER DATABASE … SET), for experiments. */
  dbSettings: Record<string, string>;
  /** Overrides every scenario's connection count (experiments). */
  connections: number | null;
  /** SQL run in the reads database after its fixture products are loaded (experiments). */
  trySql: string[];
  /** Resolve the shoppers' sessions right before each storm (default), or measure them cold. */
  warmSessions: boolean;
  /** Run each write storm's own path briefly before it is measured (default), or measure it cold. */
  warmPaths: boolean;
  /** Measure the pgbench floor for an order when a write scenario runs. */
  floor: boolean;
  floorSeconds: number;
  /** The load generator's per-request timeout (s); null: 10, or 30 for `bench scale` (several servers on 2 shared cores). */
  timeoutSeconds: number | null;
}

/** A mistake on the command line: reported without a stack trace. */
class UsageError extends Error {}

function parseArgs(argv: string[]): RunOptions {
  const options: RunOptions = {
    names: [],
    docs: false,
    pool: null,
    env: {},
    orderKeys: true,
    chargeConnections: 1_000,
    chargeGenerator: "burst",
    profile: false,
    strict: false,
    baselines: true,
    waitQuiet: 0,
    dbSettings: {},
    connections: null,
    trySql: [],
    warmSessions: true,
    warmPaths: true,
    floor: true,
    floorSeconds: 5,
    timeoutSeconds: null,
  };
  let docs: boolean | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === "--docs") docs = true;
    else if (arg === "--no-docs") docs = false;
    else if (arg === "--pool") options.pool = Number(value());
    else if (arg === "--env") {
      const [k, ...v] = value().split("=");
      if (!k || v.length === 0) throw new UsageError("--env takes KEY=VALUE");
      options.env[k] = v.join("=");
    } else if (arg === "--no-order-keys") options.orderKeys = false;
    else if (arg === "--charge-connections") options.chargeConnections = Number(value());
    else if (arg === "--charge-generator") {
      const generator = value();
      if (generator !== "burst" && generator !== "autocannon") throw new UsageError("--charge-generator takes burst or autocannon");
      options.chargeGenerator = generator;
    } else if (arg === "--profile") options.profile = true;
    else if (arg === "--strict") options.strict = true;
    else if (arg === "--skip-baselines") options.baselines = false;
    else if (arg === "--wait-quiet") options.waitQuiet = Number(value());
    else if (arg === "--connections") options.connections = Number(value());
    else if (arg === "--try-sql") options.trySql.push(value());
    else if (arg === "--cold-sessions") options.warmSessions = false;
    else if (arg === "--cold-paths") options.warmPaths = false;
    else if (arg === "--no-floor") options.floor = false;
    else if (arg === "--floor-seconds") options.floorSeconds = Number(value());
    else if (arg === "--timeout") options.timeoutSeconds = Number(value());
    else if (arg === "--db-set") {
      const [k, ...v] = value().split("=");
      if (!k || !/^[a-z_]+$/.test(k) || v.length === 0) throw new UsageError("--db-set takes name=value (a PostgreSQL setting)");
      options.dbSettings[k] = v.join("=");
    } else if (arg.startsWith("--")) throw new UsageError(`unknown option ${arg}`);
    else options.names.push(arg);
  }
  options.docs = docs ?? options.names.includes("all");
  return options;
}

/**
 * Agora's own settings are not inherited from the caller's shell: the bench server gets exactly
 * ours. Their names are read from apps/server/config.ts, so a setting added there is covered too.
 */
const AGORA_SETTINGS = new Set([
  "NODE_ENV",
  ...[...readFileSync(join(repoRoot, "apps/server/config.ts"), "utf8").matchAll(/env(?:\.|\[")([A-Z][A-Z0-9_]+)|int\(env, "([A-Z][A-Z0-9_]+)"/g)].map(
    (m) => (m[1] ?? m[2]) as string,
  ),
]);

/** The load generator's own fetch limit (set by `bun run bench` for charge-storm's burst): not the server's, unless given with --env. */
const LOAD_GENERATOR_ONLY = new Set(["BUN_CONFIG_MAX_HTTP_REQUESTS"]);

function childEnv(overrides: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!AGORA_SETTINGS.has(k) && !LOAD_GENERATOR_ONLY.has(k) && !k.startsWith("FAKE_")) env[k] = v;
  return { ...env, ...overrides };
}

/** The outside systems, each a child process of its own (so the server's CPU is Agora's alone). */
interface Fakes {
  gateway: Child;
  dataPlatform: Child | null;
}

async function startFakes(logDir: string): Promise<Fakes> {
  const gatewayPort = await freePort();
  const gateway = await spawnChild({
    name: "fake-payment-gateway",
    args: ["apps/fakes/payment-gateway.ts"],
    env: childEnv({ PORT: String(gatewayPort), HOST: "127.0.0.1", FAKE_GATEWAY_LATENCY_MS: "20" }),
    port: gatewayPort,
    readyPath: "/health",
    logDir,
  });
  progress("setup", `fake payment gateway (20 ms) on ${gateway.url}, pid ${gateway.pid}`);
  let dataPlatform: Child | null = null;
  if (existsSync(join(repoRoot, "apps/fakes/data-platform.ts"))) {
    const port = await freePort();
    dataPlatform = await spawnChild({
      name: "fake-data-platform",
      args: ["apps/fakes/data-platform.ts"],
      env: childEnv({ PORT: String(port) }),
      port,
      readyPath: "/",
      anyAnswer: true,
      logDir,
    });
    progress("setup", `fake data platform on ${dataPlatform.url}, pid ${dataPlatform.pid}`);
  }
  return { gateway, dataPlatform };
}

/** The fake carrier sends its webhooks to one server, so each stage gets its own. */
async function startCarrier(stage: StageName, serverPort: number, secret: string, logDir: string): Promise<Child | null> {
  if (!existsSync(join(repoRoot, "apps/fakes/carrier.ts"))) return null;
  const port = await freePort();
  const carrier = await spawnChild({
    name: `fake-carrier-${stage}`,
    args: ["apps/fakes/carrier.ts"],
    env: childEnv({
      PORT: String(port),
      HOST: "127.0.0.1",
      FAKE_CARRIER_LATENCY_MS: "20",
      FAKE_CARRIER_WEBHOOK_URL: `http://127.0.0.1:${serverPort}/webhooks/carrier`,
      FAKE_CARRIER_WEBHOOK_SECRET: secret,
    }),
    port,
    readyPath: "/health",
    logDir,
  });
  progress(stage, `fake carrier (20 ms) on ${carrier.url}, pid ${carrier.pid}`);
  return carrier;
}

/** What the gateway captured for wallet charges, and from cards for orders net of card refunds. */
async function gatewayCaptured(gateway: Child): Promise<Pick<CheckOptions, "gatewayCapturedAmount" | "gatewayCardNetAmount">> {
  const stats = (await (await fetch(`${gateway.url}/_stats`)).json()) as { capturedAmount: number; cardCapturedAmount: number; cardRefundedAmount: number };
  return { gatewayCapturedAmount: stats.capturedAmount, gatewayCardNetAmount: stats.cardCapturedAmount - stats.cardRefundedAmount };
}

/**
 * How many customers the flash stage signs up and how it hands them out. `rounds`: every scenario
 * runs that often on the stage (`bench scale`); "any" customers are shared by all rounds.
 */
function planCustomers(scenarios: Scenario[], rounds = 1) {
  const needs: Required<CustomerNeeds> = { any: 0, funded: 0, unfunded: 0 };
  for (const s of scenarios) {
    needs.any = Math.max(needs.any, s.needs?.any ?? 0);
    needs.funded += (s.needs?.funded ?? 0) * rounds;
    needs.unfunded += (s.needs?.unfunded ?? 0) * rounds;
  }
  return { ...needs, total: Math.max(needs.any, needs.funded + needs.unfunded) };
}

interface Stage {
  name: StageName;
  ctx: StageContext;
  server: Child;
  watch: Watched;
  baselines: { hono: LoadResult[]; trpc: LoadResult[] };
  /** The server runs without its outbox poller (`--env OUTBOX_POLLER_ENABLED=false`): nothing drains. */
  pollerOff: boolean;
  /** The drain measured by the last scenario's `check` (right after its load), if any; cleared. */
  takeDrain(): OutboxDrain | null;
  /** `bench scale`: starts server instances on the same database and Redis prefix until there are `n` (loads split over all). */
  scaleTo(n: number): Promise<void>;
  stop(): Promise<void>;
}

async function startStage(
  name: StageName,
  scenarios: Scenario[],
  options: RunOptions,
  runId: string,
  logDir: string,
  fakes: Fakes,
  monitor: pg.Client,
  /** `bench scale`: every scenario runs this many times on the stage (customers are planned for all). */
  rounds = 1,
): Promise<Stage> {
  progress(name, "creating the scratch database and Redis prefix");
  const database = await createScratchDatabase(name, options.dbSettings);
  const redis = await createScratchRedis();
  progress(name, `database ${database.name} (migrated), Redis prefix ${redis.prefix}`);
  const port = await freePort();
  const admin = { email: `admin-${runId}@bench.agora.test`, password: `bench-admin-${randomId(12)}` };
  const webhookSecret = `bench-${randomId(24)}`;
  const carrier = await startCarrier(name, port, webhookSecret, logDir);
  const env: Record<string, string> = {
    NODE_ENV: "production",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    PORT: String(port),
    DATABASE_URL: database.url,
    REDIS_URL,
    REDIS_PREFIX: redis.prefix,
    // argon2id stays, at a cost that lets the harness sign ten thousand customers up quickly.
    PASSWORD_MEMORY_COST: "256",
    PASSWORD_TIME_COST: "1",
    PAYMENT_GATEWAY_URL: fakes.gateway.url,
    ADMIN_EMAIL: admin.email,
    ADMIN_PASSWORD: admin.password,
    ...(fakes.dataPlatform ? { DATA_PLATFORM_URL: fakes.dataPlatform.url } : {}),
    ...(carrier ? { CARRIER_URL: carrier.url } : {}),
    CARRIER_WEBHOOK_SECRET: webhookSecret,
    // Production refuses built-in fakes; the benchmark's outside systems are fakes (child processes) and
    // its email is only recorded, which this setting allows explicitly.
    AGORA_DEMO: "true",
    // The whole crowd comes from one loopback address: per-address limits raised on purpose, and the
    // admin's writes (it creates 1,000 products while preparing); docs/benchmarks.md says so.
    // The limits are still counted on every call.
    SIGNUPS_PER_HOUR_PER_ADDRESS: "10000000",
    WRITES_PER_MINUTE_PER_ADDRESS: "10000000",
    WRITES_PER_MINUTE_PER_CALLER: "10000000",
    SEARCHES_PER_MINUTE_PER_ADDRESS: "10000000",
    // The reads stage measures the uncached popular list.
    // The reads stage measures the computation itself: no cache of the list, nor of the whole answer.
    ...(name === "reads" ? { POPULAR_CACHE_SECONDS: "0", SHARED_ANSWER_CACHE_MS: "0" } : {}),
    ...(options.pool ? { DB_POOL_SIZE: String(options.pool) } : {}),
    ...options.env,
  };
  const profileDir = join(repoRoot, "bench-results", "profiles");
  if (options.profile) mkdirSync(profileDir, { recursive: true });
  const server = await spawnChild({
    name: `server-${name}`,
    args: [
      ...(options.profile ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${runId}-${name}.cpuprofile`] : []),
      "apps/server/main.ts",
    ],
    env: withServerEngineEnv(childEnv(env)),
    port,
    readyPath: "/ready",
    logDir,
  });
  progress(
    name,
    `server pid ${server.pid} on ${server.url} (NODE_ENV=production, LOG_LEVEL=warn${options.pool ? `, DB_POOL_SIZE=${options.pool}` : ""}${name === "reads" ? ", POPULAR_CACHE_SECONDS=0, SHARED_ANSWER_CACHE_MS=0" : ""})`,
  );
  /** `bench scale`: more server instances on the same database and Redis prefix (the carrier's webhooks go to the first). */
  const otherServers: Child[] = [];
  const client = api(server.url);
  const adminToken = await loginAdmin(client, admin.email, admin.password);
  let drainedBeforeChecks: OutboxDrain | null = null;
  const watch: Watched = {
    serverPid: server.pid,
    otherServerPids: [],
    gatewayPid: fakes.gateway.pid,
    pg: { client: monitor, database: database.name },
  };
  const scaleTo = async (n: number) => {
    for (let i = otherServers.length + 2; i <= n; i++) {
      const otherPort = await freePort();
      const other = await spawnChild({
        name: `server-${name}-${i}`,
        args: ["apps/server/main.ts"],
        env: withServerEngineEnv(childEnv({ ...env, PORT: String(otherPort) })),
        port: otherPort,
        readyPath: "/ready",
        logDir,
      });
      progress(name, `server instance ${i} pid ${other.pid} on ${other.url}`);
      otherServers.push(other);
      watch.otherServerPids = otherServers.map((o) => o.pid);
    }
  };

  // Customers: signed up (sessions) and charged (wallets) through the API.
  let pool: { all: Customer[]; funded: Customer[]; unfunded: Customer[] } = { all: [], funded: [], unfunded: [] };
  if (name === "flash") {
    const plan = planCustomers(scenarios, rounds);
    if (plan.total > 0) {
      let started = performance.now();
      const all = await signUpCustomers(client, plan.total, runId, name);
      progress(name, `${fmtInt(plan.total)} customers signed up in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      const funded = all.slice(0, plan.funded);
      started = performance.now();
      if (funded.length > 0) await fundCustomers(client, funded, FUNDING, name);
      progress(name, `${fmtInt(funded.length)} wallets charged in ${((performance.now() - started) / 1000).toFixed(1)} s (${FUNDING_NOTE})`);
      pool = { all, funded, unfunded: all.slice(plan.funded, plan.funded + plan.unfunded) };
    }
  }
  let fundedAt = 0;
  let unfundedAt = 0;
  const take = (from: Customer[], at: number, n: number, what: string) => {
    if (at + n > from.length) throw new Error(`customer pool: ${what} needs ${n}, ${from.length - at} left`);
    return from.slice(at, at + n);
  };

  const baselines = { hono: [] as LoadResult[], trpc: [] as LoadResult[] };
  const ctx: StageContext = {
    stage: name,
    runId,
    db: database.handle.db,
    api: client,
    adminToken,
    customers: {
      any: (n) => take(pool.all, 0, n, "any"),
      funded: (n) => {
        const out = take(pool.funded, fundedAt, n, "funded");
        fundedAt += n;
        return out;
      },
      unfunded: (n) => {
        const out = take(pool.unfunded, unfundedAt, n, "unfunded");
        unfundedAt += n;
        return out;
      },
    },
    fixtures: { products: null, historyLines: 0, trySql: options.trySql },
    warmSessions: options.warmSessions,
    warmPaths: options.warmPaths,
    async settleOutbox(maxSeconds = 60) {
      // What a warm-up published is delivered before the measured load starts (one probe of the due index every 100 ms).
      const started = performance.now();
      for (;;) {
        if (!(await anyOutboxDue(database.handle.db)) || performance.now() - started > maxSeconds * 1000) return;
        await sleep(100);
      }
    },
    trpcBaselineRps: () => summarizeBaseline(baselines.trpc).rps,
    async load(label, given) {
      const connections =
        options.connections && !label.startsWith("baseline") ? Math.min(options.connections, given.amount ?? Number.POSITIVE_INFINITY) : given.connections;
      // A burst is one request per connection: with fewer connections the load goes through autocannon.
      const generator: LoadGenerator = given.generator === "burst" && connections === given.amount ? "burst" : "autocannon";
      const spec = { ...given, connections, generator };
      if (options.waitQuiet > 0) {
        const busy = await waitForQuiet(0.15, options.waitQuiet, (b) => progress(label, `waiting for a quiet machine (${Math.round(b * 100)}% busy)`));
        if (busy >= 0.15) progress(label, `machine still ${Math.round(busy * 100)}% busy; running anyway`);
      }
      progress(
        label,
        `${spec.amount !== undefined ? `${fmtInt(spec.amount)} requests` : `${spec.durationSeconds} s`} over ${spec.connections} connections${spec.overallRate ? ` at ${spec.overallRate} req/s` : ""}`,
      );
      let lastTick = 0;
      const result = await runLoad({
        url: server.url,
        otherUrls: otherServers.map((other) => other.url),
        connections: spec.connections,
        amount: spec.amount,
        durationSeconds: spec.durationSeconds,
        overallRate: spec.overallRate,
        feed: spec.feed,
        generator: spec.generator,
        timeoutSeconds: spec.timeoutSeconds ?? options.timeoutSeconds ?? undefined,
        watch,
        onTick: (answered) => {
          if (answered - lastTick >= 2_000 || spec.amount === undefined) progress(label, `${fmtInt(answered)} answered`);
          lastTick = answered;
        },
      });
      progress(
        label,
        `done: ${fmtInt(result.rps)} req/s, p50 ${result.latencyMs.p50.toFixed(1)} ms, p99 ${result.latencyMs.p99.toFixed(1)} ms; machine ${Math.round(result.cpu.machineBusy * 100)}% busy, ${Math.round(result.cpu.othersShare * 100)}% by others`,
      );
      return result;
    },
    async check(extra: CheckOptions = {}) {
      // A write scenario's events are delivered first, measured from the end of its load (the
      // checks took seconds, and the poller emptied the outbox during them), then checked.
      if (name === "flash" && (extra.scope ?? "all") === "all")
        drainedBeforeChecks = await drainOutbox({ name, watch, pollerOff: options.env.OUTBOX_POLLER_ENABLED === "false", ctx: { db: database.handle.db } });
      progress(name, "checking invariants");
      const captured = name === "flash" && (extra.scope ?? "all") === "all" ? await gatewayCaptured(fakes.gateway) : {};
      return checkInvariants(database.handle.db, { ...captured, ...extra });
    },
    async redisKeys(pattern) {
      const keys: string[] = [];
      let cursor = "0";
      do {
        const [next, found] = await redis.client.scan(cursor, "MATCH", `${redis.prefix}${pattern}`, "COUNT", 1000);
        cursor = next;
        keys.push(...found.map((k) => k.slice(redis.prefix.length)));
      } while (cursor !== "0");
      return keys;
    },
    progress: (message) => progress(name, message),
  };
  return {
    name,
    ctx,
    server,
    watch,
    baselines,
    pollerOff: options.env.OUTBOX_POLLER_ENABLED === "false",
    takeDrain() {
      const drained = drainedBeforeChecks;
      drainedBeforeChecks = null;
      return drained;
    },
    scaleTo,
    async stop() {
      for (const other of otherServers) await other.stop();
      await server.stop();
      await carrier?.stop();
      await database.drop();
    },
  };
}

async function measureBaselines(stage: Stage, when: string): Promise<void> {
  const connections = 50;
  for (const [kind, path] of [
    ["hono", "/ping"],
    ["trpc", "/trpc/ping"],
  ] as const) {
    const feed = () => (kind === "hono" ? { method: "GET" as const, path } : trpcQuery("ping", undefined));
    const label = `baseline ${kind} (${when})`;
    await stage.ctx.load(`${label} warm-up`, { connections, durationSeconds: 1, feed });
    stage.baselines[kind].push(await stage.ctx.load(label, { connections, durationSeconds: 5, feed }));
  }
}

/**
 * Whether any outbox row is due: one probe of each due index (rows to deliver; events waiting to be
 * fanned out), not a count (a count reads every pending row, and its CPU would be charged to the
 * drain). Ordered like the indexes, so reading them in order is the cheap plan (an EXISTS without the
 * order took 13 ms each in a statement log of a drain). Builds before the fan-out have no such rows.
 */
async function anyOutboxDue(db: Db): Promise<boolean> {
  const dueIn = (rows: RawBuilder<unknown>) =>
    sql`(SELECT 1 AS one FROM outbox_events WHERE status = 'pending' AND ${rows} AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT 1)`;
  return (await sql<{ one: number }>`${dueIn(sql`destination <> 'fan-out'`)} UNION ALL ${dueIn(sql`destination = 'fan-out'`)}`.execute(db)).rows.length > 0;
}

/** What the drain needs of a stage (it also runs inside the stage's own `check`, before the invariants). */
type Drainable = Pick<Stage, "name" | "watch" | "pollerOff"> & { ctx: { db: Db } };

/**
 * The server's outbox poller delivers the events of paid orders (data platform, carrier,
 * notifications) in the background. Waits until that is done, so it does not run into the next
 * scenario's measurement; returns what was pending and how long delivery took.
 */
async function drainOutbox(stage: Drainable, maxSeconds = 120): Promise<OutboxDrain> {
  // Nobody delivers with the poller off (`--env OUTBOX_POLLER_ENABLED=false`): do not wait the full time for it.
  if (stage.pollerOff) maxSeconds = 0;
  const pending = async () =>
    Number(
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox_events WHERE status = 'pending' AND next_attempt_at <= now()`.execute(stage.ctx.db))
        .rows[0]?.n ?? 0,
    );
  const anyDue = () => anyOutboxDue(stage.ctx.db);
  const cpu = await startCpuProbe(stage.watch);
  const started = performance.now();
  // Deliveries are counted as rows sent since the drain began (the database's clock, as sent_at):
  // an event written once ('fan-out') is one pending row at the start and a delivery per destination.
  const since = (await sql<{ at: Date }>`SELECT now() AS at`.execute(stage.ctx.db)).rows[0]?.at as Date;
  const pendingAtStart = await pending();
  let left = pendingAtStart;
  let lastReport = started;
  while (left > 0 && performance.now() - started < maxSeconds * 1000) {
    await sleep(100);
    if (!(await anyDue())) left = 0;
    else if (performance.now() - lastReport > 5000) {
      left = await pending();
      progress(stage.name, `outbox: ${fmtInt(left)} of ${fmtInt(pendingAtStart)} events still to deliver`);
      lastReport = performance.now();
    }
  }
  if (left > 0) left = await pending();
  const seconds = (performance.now() - started) / 1000;
  const used = await cpu.stop();
  const delivered = Number(
    (
      await sql<{
        n: number;
      }>`SELECT count(*)::int AS n FROM outbox_events WHERE status = 'sent' AND destination <> 'fan-out' AND sent_at >= ${since}`.execute(stage.ctx.db)
    ).rows[0]?.n ?? 0,
  );
  const eventsPerSecond = seconds > 0 ? delivered / seconds : 0;
  const serverUsPerEvent = delivered > 0 ? (used.server * 1e6) / delivered : 0;
  const postgresUsPerEvent = delivered > 0 ? (used.postgres * 1e6) / delivered : 0;
  if (pendingAtStart > 0)
    progress(
      stage.name,
      `outbox: ${fmtInt(delivered)} events delivered in ${seconds.toFixed(1)} s: outbox drain ${fmtInt(eventsPerSecond)} events/s${left > 0 ? `, ${fmtInt(left)} left` : ""}; CPU per event: server ${fmtInt(serverUsPerEvent)} µs, PG ${fmtInt(postgresUsPerEvent)} µs`,
    );
  return { pendingAtStart, delivered, seconds, pendingAtEnd: left, eventsPerSecond, serverUsPerEvent, postgresUsPerEvent };
}

/** `bench scale`: these scenarios on 1, 2 and 3 server instances sharing one PostgreSQL and one Redis. */
const SCALE_SCENARIOS = ["coupon-storm", "order-rush-spread"];
const SCALE_INSTANCES = [1, 2, 3];

type PlatformStats = { received: number; applied: number; duplicates: number } | null;

async function dataPlatformStats(fakes: Fakes): Promise<PlatformStats> {
  if (!fakes.dataPlatform) return null;
  const answer = await fetch(`${fakes.dataPlatform.url}/_stats`).catch(() => null);
  return answer?.ok ? ((await answer.json()) as PlatformStats) : null;
}

/** Several instances poll the same outbox: every event reached the data platform, none twice. */
function sentOnceCheck(before: PlatformStats, after: PlatformStats, drain: OutboxDrain): CheckResult {
  const name = "outbox: each event sent once across instances (data platform)";
  if (!before || !after) return { name, ok: false, detail: "the fake data platform's /_stats did not answer" };
  const received = after.received - before.received;
  const applied = after.applied - before.applied;
  const duplicates = after.duplicates - before.duplicates;
  return {
    name,
    ok: duplicates === 0 && received === applied && drain.pendingAtEnd === 0,
    detail: `${fmtInt(applied)} applied, ${fmtInt(received)} calls, ${fmtInt(duplicates)} duplicates, ${fmtInt(drain.pendingAtEnd)} still pending`,
  };
}

/** The server's DB_POOL_SIZE when --pool is not given: the floor's client count. */
const SERVER_POOL_DEFAULT = DB_POOL_SIZE_DEFAULT;

/** Issue 9: the sale's events out within seconds, never a growing backlog at the order rate. */
const OUTBOX_DRAIN_TARGETS: Readonly<Record<string, number>> = { "order-rush-spread": 600 };

function outboxDrainTarget(drain: OutboxDrain, eventsPerSecond: number): TargetResult {
  return {
    label: `outbox drain ≥ ${fmtInt(eventsPerSecond)} events/s`,
    met: drain.pendingAtEnd === 0 && drain.eventsPerSecond >= eventsPerSecond,
    actual: `${fmtInt(drain.eventsPerSecond)} events/s (${fmtInt(drain.delivered ?? drain.pendingAtStart - drain.pendingAtEnd)} in ${drain.seconds.toFixed(1)} s)`,
  };
}

function printRow(row: ScenarioRow): void {
  for (const c of row.checks) progress(row.scenario, `${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`);
  for (const t of row.targets) progress(row.scenario, `${t.met ? "target MET   " : "target MISSED"} ${t.label}: ${t.actual}`);
}

async function main(): Promise<number> {
  installSignalHandlers();
  // The web pages' budgets are a bench of their own (scripts/bench/web.ts): page loads in Chromium, the order search.
  if (process.argv[2] === "web") return (await import("./web.ts")).runWebBench({ docs: process.argv.includes("--docs") });
  const options = parseArgs(process.argv.slice(2));
  const scenarios = allScenarios({ orderKeys: options.orderKeys, chargeConnections: options.chargeConnections, chargeGenerator: options.chargeGenerator });
  if (options.names.length === 0 || options.names.includes("list") || options.names.includes("help")) {
    process.stdout.write(
      "usage: bun run bench <scenario…> | all [--docs] [--pool N] [--env K=V] [--no-order-keys] [--charge-connections N] [--charge-generator burst|autocannon] [--profile] [--strict]\n\n",
    );
    for (const s of scenarios) process.stdout.write(`  ${s.name.padEnd(18)} [${s.stage}] ${s.description}\n  ${"".padEnd(18)} target: ${s.target}\n`);
    return options.names.length === 0 ? 2 : 0;
  }
  const unknown = options.names.filter((n) => n !== "all" && n !== "scale" && !scenarios.some((s) => s.name === n));
  if (unknown.length) throw new UsageError(`unknown scenario(s): ${unknown.join(", ")} (try: bun run bench list)`);
  const scale = options.names.includes("scale");
  if (scale && options.names.length > 1) throw new UsageError("`bench scale` runs on its own");
  if (scale) options.timeoutSeconds ??= 30;
  const selected = scale
    ? scenarios.filter((s) => SCALE_SCENARIOS.includes(s.name))
    : options.names.includes("all")
      ? scenarios
      : scenarios.filter((s) => options.names.includes(s.name));

  const startedAt = performance.now();
  const commitAtStart = currentCommit();
  const loadStart = loadAverage();
  const runId = randomId(6);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const logDir = join(repoRoot, "bench-results", "logs", stamp);
  progress("setup", `run ${runId}: ${selected.map((s) => s.name).join(", ")}; load average ${loadStart.join(" ")}; logs in ${logDir}`);

  const monitor = new pg.Client({ connectionString: PG_SERVER_URL, application_name: "agora-bench-monitor" });
  await monitor.connect();
  onCleanup("monitor connection", async () => {
    await monitor.end().catch(() => {});
  });
  const pgFacts = await monitor.query<{ name: string; setting: string }>(
    "select name, setting from pg_settings where name in ('server_version', 'shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'wal_level')",
  );
  const pgSettings = Object.fromEntries(pgFacts.rows.map((r) => [r.name, r.setting]));
  const { server_version: pgVersion = "unknown", ...pgOther } = pgSettings;
  const infoClient = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await infoClient.connect();
  const redisVersion = /redis_version:(\S+)/.exec(await infoClient.info("server"))?.[1] ?? "unknown";
  infoClient.disconnect();

  // The floor first, on a machine not yet busy with this run's server and fakes.
  const floors =
    options.floor && !scale && selected.some((s) => FLOOR_OF[s.name]) ? await measureFloors(options.pool ?? SERVER_POOL_DEFAULT, options.floorSeconds) : null;

  const fakes = await startFakes(logDir);
  const rows: Array<ScenarioRow> = [];
  const stageBaselines: RunResults["baselines"] = [];
  const scaleRows: ScaleRow[] = [];

  // One stage for every round (signing up and funding the customers is most of a round's time);
  // each round adds an instance. The later rounds run on a database the earlier ones filled.
  const scaleStage = scale ? await startStage("flash", selected, options, runId, logDir, fakes, monitor, SCALE_INSTANCES.length) : null;
  for (const instances of scaleStage ? SCALE_INSTANCES : []) {
    const stage = scaleStage as Stage;
    await stage.scaleTo(instances);
    for (const scenario of selected) {
      progress(scenario.name, `starting on ${instances} instance(s): ${scenario.description}`);
      const platformBefore = await dataPlatformStats(fakes);
      const before = loadAverage();
      const produced = await scenario.run(stage.ctx);
      const after = loadAverage();
      const outbox = stage.takeDrain() ?? (await drainOutbox(stage));
      const platformAfter = await dataPlatformStats(fakes);
      for (const r of produced) {
        r.loadAverage = { before, after };
        r.extra = { ...r.extra, outboxAfterRun: outbox, instances };
        r.checks.push(sentOnceCheck(platformBefore, platformAfter, outbox));
        scaleRows.push({
          scenario: r.scenario,
          instances,
          rps: r.load.rps,
          p99: r.load.latencyMs.p99,
          serverUsPerRequest: r.load.cpu.serverUsPerRequest,
          postgresUsPerRequest: r.load.answered > 0 ? (r.load.cpu.postgres * 1e6) / r.load.answered : 0,
        });
        r.scenario = `${r.scenario} ×${instances}`;
        printRow(r);
        rows.push(r);
      }
    }
  }
  await scaleStage?.stop();

  for (const stageName of scale ? [] : (["flash", "reads"] as const)) {
    const stageScenarios = selected.filter((s) => s.stage === stageName);
    if (stageScenarios.length === 0) continue;
    const stage = await startStage(stageName, stageScenarios, options, runId, logDir, fakes, monitor);
    if (options.baselines) await measureBaselines(stage, "start");
    for (const scenario of stageScenarios) {
      progress(scenario.name, `starting: ${scenario.description}`);
      const before = loadAverage();
      const produced = await scenario.run(stage.ctx);
      const after = loadAverage();
      const outbox = stage.takeDrain() ?? (await drainOutbox(stage));
      for (const r of produced) {
        r.loadAverage = { before, after };
        r.extra = { ...r.extra, outboxAfterRun: outbox };
        const drainTarget = OUTBOX_DRAIN_TARGETS[r.scenario];
        if (drainTarget !== undefined && outbox.pendingAtStart > 0) r.targets.push(outboxDrainTarget(outbox, drainTarget));
        printRow(r);
        rows.push(r);
      }
    }
    if (options.baselines) await measureBaselines(stage, "end");
    const summary = { stage: stageName, hono: summarizeBaseline(stage.baselines.hono), trpc: summarizeBaseline(stage.baselines.trpc) };
    stageBaselines.push(summary);
    // Targets relative to a baseline use the stage's mean (start and end), like the ratio columns.
    for (const r of rows) {
      if (r.stage === stageName && r.extra?.relativeToTrpc && summary.trpc.rps > 0) {
        const factor = Number(r.extra.relativeToTrpc);
        // The relative target is the first; any others (coupon-storm's p99) stay.
        r.targets = [relativeTarget(r.load.rps, summary.trpc.rps, factor), ...r.targets.slice(1)];
        printRow({ ...r, checks: [] });
      }
    }
    const errorLines = (await Bun.file(stage.server.logFile).text()).split("\n").filter((l) => /"level":(50|60)/.test(l));
    if (errorLines.length > 0) progress(stageName, `the server logged ${errorLines.length} error lines (see ${stage.server.logFile})`);
    await stage.stop();
  }

  const machine = machineFacts(`bun run bench ${process.argv.slice(2).join(" ")}`, { version: pgVersion, settings: pgOther }, redisVersion, commitAtStart);
  const results: RunResults = {
    version: 1,
    machine,
    options: { ...options },
    durationSeconds: (performance.now() - startedAt) / 1000,
    loadAverage: { start: loadStart, end: loadAverage() },
    baselines: stageBaselines,
    floors,
    ...(scale ? { scale: scaleRows } : {}),
    rows: rows.map((r) => {
      const ratios = ratiosFor(
        r,
        stageBaselines.find((b) => b.stage === r.stage),
        floors,
      );
      const factor = FLOOR_TARGETS[r.scenario];
      const kind = FLOOR_OF[r.scenario];
      if (factor !== undefined && kind && floors && ratios.rpsVsFloor !== null) {
        const met = ratios.rpsVsFloor >= factor;
        const label = `≥ ${factor} × the in-run ${kind === "hot" ? "hot-product" : "random-product"} floor`;
        r.targets = [...r.targets, { label, met, actual: `${ratios.rpsVsFloor.toFixed(2)} × (${fmtInt(r.load.rps)} vs ${fmtInt(floors[kind].tps)}/s)` }];
        printRow({ ...r, checks: [], targets: r.targets.slice(-1) });
      }
      return { ...r, ratios };
    }),
    passed: rows.every((r) => r.checks.every((c) => c.ok)),
    targetsMet: rows.every((r) => r.targets.every((t) => t.met)),
  };
  process.stdout.write(consoleReport(results));
  const file = writeRunJson(results, stamp);
  progress("results", `written to ${file}`);
  if (options.docs) {
    const written = await writeDocs(results, DOCS_TEMPLATE);
    progress("results", `written to ${written.md} and ${written.json}; charts: ${written.charts.map((c) => `docs/benchmarks/${c.file}`).join(", ") || "none"}`);
  } else {
    const charts = await writeCharts(results, join(repoRoot, "bench-results", "charts", stamp));
    if (charts.length > 0) progress("results", `charts in bench-results/charts/${stamp}/: ${charts.map((c) => c.file).join(", ")}`);
  }
  if (options.profile) {
    const dir = join(repoRoot, "bench-results", "profiles");
    progress(
      "results",
      `CPU profiles: ${
        readdirSync(dir)
          .filter((f) => f.includes(runId))
          .join(", ") || "none yet (written when the server exits)"
      }`,
    );
  }
  if (!results.passed) return 1;
  if (options.strict && !results.targetsMet) return 3;
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  if (error instanceof UsageError) process.stderr.write(`bench: ${error.message}\n`);
  else if (!interrupted()) process.stderr.write(`\nbench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  code = 1;
} finally {
  await cleanupAll();
}
process.exit(code);
