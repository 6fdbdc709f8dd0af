/**
 * One load run, through autocannon's programmatic API or as a burst, and what it cost the machine.
 *
 * Two generators. autocannon (the default) keeps each connection busy: its next request when the
 * last is answered. A burst (charge-storm: a thousand customers at once, one request each) goes
 * through Bun's fetch instead: autocannon builds its connections one after another in one
 * synchronous loop (~180 µs each under Bun) with each request's clock already running, so its
 * first requests count the building of the rest as latency, and it costs about twice the CPU.
 *
 * Requests come from a feed: request i is `feed(i)`, built in autocannon's `setupRequest` just
 * before it is written (a burst builds them all before its clock starts), so a run of `amount`
 * requests uses feed(0) … feed(amount − 1) exactly once each (a distinct customer token per
 * request where the scenario says so). Every answer is classified from its body: "ok" for 2xx,
 * otherwise the tRPC domain code (COUPON_SOLD_OUT, …), the tRPC code, or HTTP_<status>. Latencies are autocannon's per-request timings (µs resolution),
 * from the moment the request was queued on its connection to the last byte of the answer (a
 * burst's: from its fetch() call).
 *
 * Around the run: CPU time of the server, the fake gateway, PostgreSQL and this process (the
 * load generator), the machine's busy share, the server's peak RSS, and PostgreSQL's activity in
 * the scratch database sampled every 250 ms (active backends, lock waits).
 */
import autocannon from "autocannon";
import type pg from "pg";
import { cpuDelta, cpuOfProcessesNamed, machineCpu, peakRss, processCpu, resetPeakRss } from "./proc.ts";
import { type Percentiles, percentiles, Samples } from "./util.ts";

export interface BenchRequest {
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Groups latencies in the result (e.g. "search:rare"); default: none. */
  label?: string;
}

export type Feed = (index: number) => BenchRequest;

/** How a load's requests are sent: see runLoad. */
export type LoadGenerator = "autocannon" | "burst";

/** A tRPC mutation on the wire: POST /trpc/<path> with {"json": input}. */
export function trpcMutation(path: string, input: unknown, token?: string, label?: string): BenchRequest {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  return { method: "POST", path: `/trpc/${path}`, headers, body: JSON.stringify({ json: input }), label };
}

/** A tRPC query on the wire: GET /trpc/<path>?input=<{"json": input}>. */
export function trpcQuery(path: string, input: unknown, token?: string, label?: string): BenchRequest {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const query = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;
  return { method: "GET", path: `/trpc/${path}${query}`, headers, label };
}

/** What an answer was: "ok", a domain code, a tRPC code or HTTP_<status>. */
export function classifyAnswer(status: number, body: string): string {
  if (status >= 200 && status < 300) return "ok";
  try {
    const parsed = JSON.parse(body) as { error?: { json?: { data?: { domainCode?: string | null; code?: string } }; code?: string } };
    const data = parsed.error?.json?.data;
    const code = data?.domainCode ?? data?.code ?? parsed.error?.code;
    if (code) return code;
  } catch {
    // not JSON
  }
  return `HTTP_${status}`;
}

export interface Watched {
  serverPid: number;
  /** `bench scale`: the other server instances; CPU is summed over all, peak RSS is the largest. */
  otherServerPids?: number[];
  gatewayPid?: number;
  /** A client on the maintenance database, and the scratch database to watch in pg_stat_activity. */
  pg?: { client: pg.Client; database: string };
}

export interface LoadSpec {
  url: string;
  /** `bench scale`: more instances of the server; connections and requests are split evenly over all. */
  otherUrls?: string[];
  connections: number;
  /** Exactly this many requests … */
  amount?: number;
  /** … or as many as fit in this many seconds. */
  durationSeconds?: number;
  /**
   * At most this many requests per second over all connections. Beware: autocannon lets each
   * connection send its share at the start of every second, so this is bursty, not an even pace.
   */
  overallRate?: number;
  feed: Feed;
  /**
   * How the requests are sent. "autocannon" (the default): each connection sends its next request
   * when answered. "burst": every request at once, one connection each (amount requests), through
   * Bun's fetch; see runBurst.
   */
  generator?: LoadGenerator;
  timeoutSeconds?: number;
  watch: Watched;
  /** Called about once a second with the answers so far. */
  onTick?: (answered: number) => void;
}

export interface PgActivity {
  samples: number;
  /** Mean and max backends of the scratch database running a statement. */
  activeMean: number;
  activeMax: number;
  /** Mean and max backends waiting for a row or transaction lock. */
  lockWaitMean: number;
  lockWaitMax: number;
  /** Mean backends idle inside an open transaction (waiting on the app between statements). */
  idleInTransactionMean: number;
  /** Mean backends waiting on the WAL flush of a commit or other I/O/LWLock waits. */
  ioWaitMean: number;
}

export interface LoadResult {
  generator: LoadGenerator;
  connections: number;
  /** Requests per second asked for (open loop), or null for a closed loop (each connection sends as fast as it is answered). */
  overallRate: number | null;
  sent: number;
  answered: number;
  durationSeconds: number;
  /** When the last successful answer came, from the start (a sell-out time). */
  lastOkAtSeconds: number | null;
  /** Answers per second over the whole run. */
  rps: number;
  latencyMs: Percentiles;
  /** Latency per answer kind ("ok", "COUPON_SOLD_OUT", …). */
  latencyByOutcome: Record<string, Percentiles>;
  latencyByLabel: Record<string, Percentiles>;
  outcomes: Record<string, number>;
  transportErrors: number;
  timeouts: number;
  cpu: {
    server: { user: number; sys: number };
    /** Share of the run's wall time the server's JavaScript (main) thread was on a CPU: near 1 = the event loop is the bottleneck. */
    serverMainThreadBusy: number;
    /** Server CPU microseconds per answered request. */
    serverUsPerRequest: number;
    gateway: number;
    /** Backends connected to the scratch database (the server's pool). */
    postgres: number;
    /** Every PostgreSQL process on the machine (other databases' work included). */
    postgresAll: number;
    loadGenerator: number;
    /** Busy share of all cores of the machine during the run (1 = every core busy). */
    machineBusy: number;
    /** Share of all cores busy with something else than this run (server, its backends, fakes, load generator). */
    othersShare: number;
  };
  serverPeakRssBytes: number | null;
  pg: PgActivity | null;
}

function startPgSampler(watch: Watched["pg"]) {
  if (!watch) return { stop: async (): Promise<PgActivity | null> => null };
  const rows: Array<{ active: number; lock: number; idleTx: number; io: number }> = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const result = await watch.client.query<{ active: string; lock: string; idle_tx: string; io: string }>(
          `select count(*) filter (where state = 'active') as active,
                  count(*) filter (where wait_event_type = 'Lock') as lock,
                  count(*) filter (where state = 'idle in transaction') as idle_tx,
                  count(*) filter (where state = 'active' and wait_event_type in ('IO', 'LWLock', 'IPC')) as io
             from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
          [watch.database],
        );
        const r = result.rows[0];
        if (r) rows.push({ active: Number(r.active), lock: Number(r.lock), idleTx: Number(r.idle_tx), io: Number(r.io) });
      } catch {
        // sampling is best effort
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  return {
    async stop(): Promise<PgActivity | null> {
      running = false;
      await loop;
      if (rows.length === 0) return null;
      const mean = (f: (r: (typeof rows)[number]) => number) => rows.reduce((s, r) => s + f(r), 0) / rows.length;
      return {
        samples: rows.length,
        activeMean: mean((r) => r.active),
        activeMax: Math.max(...rows.map((r) => r.active)),
        lockWaitMean: mean((r) => r.lock),
        lockWaitMax: Math.max(...rows.map((r) => r.lock)),
        idleInTransactionMean: mean((r) => r.idleTx),
        ioWaitMean: mean((r) => r.io),
      };
    },
  };
}

/** CPU seconds of each backend connected to the watched database, by pid. */
export async function backendCpu(watch: Watched["pg"]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (!watch) return out;
  try {
    const r = await watch.client.query<{ pid: number }>("select pid from pg_stat_activity where datname = $1", [watch.database]);
    for (const { pid } of r.rows) {
      const cpu = processCpu(pid);
      if (cpu) out.set(pid, cpu.user + cpu.sys);
    }
  } catch {
    // best effort
  }
  return out;
}

function record(map: Map<string, Samples>, key: string, value: number): void {
  let samples = map.get(key);
  if (!samples) {
    samples = new Samples();
    map.set(key, samples);
  }
  samples.push(value);
}

/**
 * Waits until the rest of the machine is quiet: the busy share of all cores, measured over
 * one-second windows, below `threshold`, up to `maxSeconds`. Returns the last measured share.
 */
export async function waitForQuiet(threshold: number, maxSeconds: number, onWait: (busy: number) => void): Promise<number> {
  const deadline = Date.now() + maxSeconds * 1000;
  for (;;) {
    const a = machineCpu();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const b = machineCpu();
    const busy = b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
    if (busy < threshold || Date.now() >= deadline) return busy;
    onWait(busy);
  }
}

/**
 * CPU of the watched servers and of the scratch database's backends from now until `stop()`, in
 * seconds: for work that is not a load (the outbox drain after one).
 */
export async function startCpuProbe(watch: Watched): Promise<{ stop(): Promise<{ server: number; postgres: number }> }> {
  const serverPids = [watch.serverPid, ...(watch.otherServerPids ?? [])];
  const serversCpu = () =>
    serverPids.reduce((sum, pid) => {
      const time = processCpu(pid);
      return sum + (time ? time.user + time.sys : 0);
    }, 0);
  const server = serversCpu();
  const backends = await backendCpu(watch.pg);
  return {
    async stop() {
      const after = await backendCpu(watch.pg);
      let postgres = 0;
      for (const [pid, seconds] of after) postgres += seconds - (backends.get(pid) ?? 0);
      return { server: serversCpu() - server, postgres };
    },
  };
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.amount !== undefined && spec.amount < spec.connections) throw new Error(`amount ${spec.amount} < connections ${spec.connections}`);
  let built = 0;
  const latencies = new Samples();
  const byOutcome = new Map<string, Samples>();
  const byLabel = new Map<string, Samples>();
  const outcomes: Record<string, number> = {};
  let lastOutcome = "";
  let lastLabel: string | undefined;

  const { watch } = spec;
  const serverPids = [watch.serverPid, ...(watch.otherServerPids ?? [])];
  const serversCpu = (mainThread = false) => {
    let user = 0;
    let sys = 0;
    for (const pid of serverPids) {
      const time = processCpu(pid, mainThread);
      if (!time) return null;
      user += time.user;
      sys += time.sys;
    }
    return { user, sys };
  };
  for (const pid of serverPids) resetPeakRss(pid);
  const sampler = startPgSampler(watch.pg);
  const backendsBefore = await backendCpu(watch.pg);
  /** Everything read synchronously from /proc (the backends: those known at the start). */
  const snapshot = () => ({
    server: serversCpu(),
    serverMain: serversCpu(true),
    gateway: watch.gatewayPid ? processCpu(watch.gatewayPid) : null,
    postgres: cpuOfProcessesNamed("postgres"),
    backends: new Map(
      [...backendsBefore.keys()].flatMap((pid) => {
        const cpu = processCpu(pid);
        return cpu ? [[pid, cpu.user + cpu.sys] as const] : [];
      }),
    ),
    self: process.cpuUsage(),
    machine: machineCpu(),
    at: performance.now(),
  });

  const urls = [spec.url, ...(spec.otherUrls ?? [])];
  const share = (total: number, i: number) => Math.floor(total / urls.length) + (i < total % urls.length ? 1 : 0);
  const burst = spec.generator === "burst" ? prepareBurst(urls, spec) : null;
  const before = { ...snapshot(), backends: backendsBefore };
  const instances = burst
    ? []
    : urls.map((url, i) => startAutocannon(url, share(spec.connections, i), spec.amount === undefined ? undefined : share(spec.amount, i)));
  let answered = 0;
  let lastOkAt: number | null = null;
  /**
   * A fixed number of requests ends at its last answer. autocannon calls back only at its next sample
   * tick (every second), so the run's own end would add up to a second of idle tail to the time (and
   * the outbox's work during it to the CPU): everything is read at the last answer instead.
   */
  let atLastAnswer: ReturnType<typeof snapshot> | null = null;
  /** At the last answer too: the backends the pool opened during the run, and the pg_stat_activity samples. */
  let backendsAtLastAnswer: Promise<Map<number, number>> | null = null;
  let pgActivityAtLastAnswer: ReturnType<typeof sampler.stop> | null = null;
  // "response" follows onResponse synchronously for the same answer, so lastOutcome belongs to it.
  const onAnswer = (outcome: string, label: string | undefined, ms: number) => {
    answered++;
    if (answered === spec.amount) {
      atLastAnswer = snapshot();
      backendsAtLastAnswer = backendCpu(watch.pg);
      pgActivityAtLastAnswer = sampler.stop();
    }
    latencies.push(ms);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (outcome === "ok") lastOkAt = performance.now();
    record(byOutcome, outcome, ms);
    if (label) record(byLabel, label, ms);
  };
  for (const { instance } of instances) instance.on("response", (_client, _status, _bytes, ms) => onAnswer(lastOutcome, lastLabel, ms));
  const ticker = spec.onTick ? setInterval(() => spec.onTick?.(answered), 1000) : null;
  let result: { requests: { sent: number }; errors: number; timeouts: number };
  if (burst) result = await burst.run(onAnswer);
  else {
    const all = await Promise.all(instances.map((i) => i.finished));
    result = {
      requests: { sent: all.reduce((n, r) => n + (r.requests.sent ?? 0), 0) },
      errors: all.reduce((n, r) => n + r.errors, 0),
      timeouts: all.reduce((n, r) => n + r.timeouts, 0),
    };
  }
  if (ticker) clearInterval(ticker);

  function startAutocannon(url: string, connections: number, amount: number | undefined) {
    let finish: (result: autocannon.Result) => void = () => {};
    let fail: (error: unknown) => void = () => {};
    const finished = new Promise<autocannon.Result>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    const instance = autocannon(
      {
        url,
        connections,
        ...(amount !== undefined ? { amount } : { duration: spec.durationSeconds ?? 5 }),
        timeout: spec.timeoutSeconds ?? 10,
        ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
        requests: [
          {
            setupRequest: (request, context) => {
              const next = spec.feed(built++);
              (context as { label?: string }).label = next.label;
              return { ...request, method: next.method, path: next.path, headers: next.headers ?? {}, body: next.body ?? "" };
            },
            onResponse: (status, body, context) => {
              lastOutcome = classifyAnswer(status, body);
              lastLabel = (context as { label?: string }).label;
            },
          },
        ],
      },
      (error, result) => (error ? fail(error) : finish(result)),
    );
    return { instance, finished };
  }

  const end = atLastAnswer ?? snapshot();
  const elapsed = (end.at - before.at) / 1000;
  const self = { user: end.self.user - before.self.user, system: end.self.system - before.self.system };
  const machine = end.machine;
  const serverCpu = cpuDelta(before.server, end.server);
  const serverMain = cpuDelta(before.serverMain, end.serverMain);
  const gatewayCpu = watch.gatewayPid ? cpuDelta(before.gateway, end.gateway) : { user: 0, sys: 0 };
  const postgresAll = end.postgres - before.postgres;
  let postgres = 0;
  for (const [pid, seconds] of end.backends) postgres += seconds - (before.backends.get(pid) ?? 0);
  // Backends the pool opened during the run (not known at the start), read right after the last answer.
  for (const [pid, seconds] of await (backendsAtLastAnswer ?? backendCpu(watch.pg))) if (!before.backends.has(pid)) postgres += seconds;
  const pgActivity = await (pgActivityAtLastAnswer ?? sampler.stop());
  const machineTotal = machine.total - before.machine.total;

  const summarize = (map: Map<string, Samples>) => Object.fromEntries([...map].map(([k, v]) => [k, percentiles(v.values())]));
  return {
    generator: burst ? "burst" : "autocannon",
    connections: spec.connections,
    overallRate: spec.overallRate ?? null,
    sent: result.requests.sent ?? built,
    answered,
    durationSeconds: elapsed,
    lastOkAtSeconds: lastOkAt === null ? null : (lastOkAt - before.at) / 1000,
    rps: answered / elapsed,
    latencyMs: percentiles(latencies.values()),
    latencyByOutcome: summarize(byOutcome),
    latencyByLabel: summarize(byLabel),
    outcomes,
    transportErrors: result.errors,
    timeouts: result.timeouts,
    cpu: {
      server: serverCpu,
      serverMainThreadBusy: (serverMain.user + serverMain.sys) / elapsed / serverPids.length,
      serverUsPerRequest: answered > 0 ? ((serverCpu.user + serverCpu.sys) * 1e6) / answered : 0,
      gateway: gatewayCpu.user + gatewayCpu.sys,
      postgres,
      postgresAll,
      loadGenerator: (self.user + self.system) / 1e6,
      machineBusy: machineTotal > 0 ? (machine.busy - before.machine.busy) / machineTotal : 0,
      othersShare:
        machineTotal > 0
          ? Math.max(
              0,
              machine.busy -
                before.machine.busy -
                (serverCpu.user + serverCpu.sys + gatewayCpu.user + gatewayCpu.sys + postgres + (self.user + self.system) / 1e6),
            ) / machineTotal
          : 0,
    },
    serverPeakRssBytes: serverPids.reduce<number | null>((peak, pid) => {
      const rss = peakRss(pid);
      return rss === null ? peak : Math.max(peak ?? 0, rss);
    }, null),
    pg: pgActivity,
  };
}

/** Bun's fetch sends at most this many requests at once unless BUN_CONFIG_MAX_HTTP_REQUESTS says more (read at startup). */
const BUN_FETCH_DEFAULT_MAX_REQUESTS = 256;

/**
 * Why a burst of `amount` cannot run in a process with this environment, or null: above Bun's
 * limit, fetch would queue the rest inside this process and the server would meet a smaller crowd.
 */
export function burstLimitError(amount: number, env: Record<string, string | undefined>): string | null {
  const limit = Number(env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? BUN_FETCH_DEFAULT_MAX_REQUESTS);
  if (Number.isFinite(limit) && limit >= amount) return null;
  return `a burst of ${amount} needs BUN_CONFIG_MAX_HTTP_REQUESTS ≥ ${amount} when the load generator starts (bun run bench sets it); it is ${env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? `unset (${BUN_FETCH_DEFAULT_MAX_REQUESTS})`}`;
}

/**
 * A burst: `amount` requests at once, each on a new connection of its own, through Bun's fetch (its
 * HTTP client runs on a thread of its own). Every request is built before the clock starts; a
 * request's latency runs from its fetch() call to the last byte of its answer.
 */
function prepareBurst(urls: string[], spec: LoadSpec) {
  const amount = spec.amount;
  if (amount === undefined || amount !== spec.connections) throw new Error("a burst sends one request per connection: amount = connections");
  const tooFew = burstLimitError(amount, process.env);
  if (tooFew) throw new Error(tooFew);
  const requests = Array.from({ length: amount }, (_, i) => {
    const request = spec.feed(i);
    // keepalive false: a connection of its own for every customer, never one an earlier run left open.
    const init: RequestInit = { method: request.method, headers: request.headers ?? {}, keepalive: false, ...(request.body ? { body: request.body } : {}) };
    return { url: `${urls[i % urls.length]}${request.path}`, init, label: request.label };
  });
  const timeoutMs = (spec.timeoutSeconds ?? 10) * 1000;
  return {
    async run(onAnswer: (outcome: string, label: string | undefined, ms: number) => void) {
      let errors = 0;
      let timeouts = 0;
      const signal = AbortSignal.timeout(timeoutMs);
      await Promise.all(
        requests.map(async ({ url, init, label }) => {
          const started = performance.now();
          try {
            const response = await fetch(url, { ...init, signal });
            const body = await response.text();
            onAnswer(classifyAnswer(response.status, body), label, performance.now() - started);
          } catch (error) {
            if ((error as Error).name === "TimeoutError") timeouts++;
            else errors++;
          }
        }),
      );
      return { requests: { sent: amount }, errors, timeouts };
    },
  };
}
