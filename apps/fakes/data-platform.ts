/**
 * A fake external data platform over real HTTP, for tests, benchmarks and the dev server.
 * POST /v1/events applies an event once per `Idempotency-Key` (a repeat answers 200 and changes
 * nothing), and can be told to fail the next N calls, fail a share of calls, fail always, or hang
 * past the caller's timeout. Another process scripts it over HTTP (the chaos suite):
 *   POST /_control { failNext?, failAlways?, failureRate?, hangNext?, latencyMs?, reset? } → stats
 *   GET  /_stats → stats;  GET /_applied → the events applied, in order
 *
 * Run standalone: `bun apps/fakes/data-platform.ts` (PORT, default 4020); GET /_stats answers the counts.
 */
import { Hono } from "hono";

export interface FakeDataPlatformStats {
  /** Every call that reached the handler. */
  received: number;
  /** Distinct events applied. */
  applied: number;
  /** Calls answered from the idempotency memory. */
  duplicates: number;
  failed: number;
  hung: number;
}

export interface AppliedEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
  appliedAt: Date;
}

export interface FakeDataPlatform {
  url: string;
  control: {
    /** The next n calls answer 503. */
    failNext(n: number): void;
    /** Every call answers 503 until turned off. */
    failAlways(on: boolean): void;
    /** 0..1: this share of calls answers 503 (before anything is applied), until set back to 0. */
    failureRate(rate: number): void;
    /** The next n calls never answer (the client's timeout fires). */
    hangNext(n: number): void;
    latency(ms: number): void;
    reset(): void;
  };
  stats(): FakeDataPlatformStats;
  /** Events applied, in order. */
  applied(): AppliedEvent[];
  /** How many calls carried each event id (retries and duplicates included). */
  callsFor(id: string): number;
  stop(): Promise<void>;
}

export function startFakeDataPlatform(options: { port?: number; hostname?: string; latencyMs?: number } = {}): FakeDataPlatform {
  let stats: FakeDataPlatformStats = { received: 0, applied: 0, duplicates: 0, failed: 0, hung: 0 };
  let failNext = 0;
  let failAlways = false;
  let failureRate = 0;
  let hangNext = 0;
  let latencyMs = options.latencyMs ?? 0;
  const applied = new Map<string, AppliedEvent>();
  const calls = new Map<string, number>();
  const hanging = new Set<() => void>();

  const app = new Hono();
  app.post("/v1/events", async (c) => {
    stats.received++;
    const key = c.req.header("idempotency-key");
    if (!key) return c.json({ error: "Idempotency-Key header required" }, 400);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    if (latencyMs > 0) await Bun.sleep(latencyMs);
    if (hangNext > 0) {
      hangNext--;
      stats.hung++;
      // Held until the caller gives up (or the fake stops).
      await new Promise<void>((resolve) => hanging.add(resolve));
      return c.json({ error: "stopped" }, 503);
    }
    if (failAlways || failNext > 0 || (failureRate > 0 && Math.random() < failureRate)) {
      if (failNext > 0) failNext--;
      stats.failed++;
      return c.json({ error: "temporarily unavailable" }, 503);
    }
    if (applied.has(key)) {
      stats.duplicates++;
      return c.json({ status: "duplicate", id: key });
    }
    const body = (await c.req.json().catch(() => null)) as { type?: string; data?: Record<string, unknown> } | null;
    if (!body?.type) return c.json({ error: "event type required" }, 422);
    applied.set(key, { id: key, type: body.type, data: body.data ?? {}, appliedAt: new Date() });
    stats.applied++;
    return c.json({ status: "applied", id: key });
  });

  const control: FakeDataPlatform["control"] = {
    failNext: (n) => {
      failNext = n;
    },
    failAlways: (on) => {
      failAlways = on;
    },
    failureRate: (rate) => {
      if (!(rate >= 0 && rate <= 1)) throw new Error("fake data platform: failureRate must be within 0..1");
      failureRate = rate;
    },
    hangNext: (n) => {
      hangNext = n;
    },
    latency: (ms) => {
      latencyMs = ms;
    },
    reset: () => {
      failNext = 0;
      failAlways = false;
      failureRate = 0;
      hangNext = 0;
      stats = { received: 0, applied: 0, duplicates: 0, failed: 0, hung: 0 };
      applied.clear();
      calls.clear();
    },
  };

  app.get("/_stats", (c) => c.json({ ...stats }));
  app.get("/_applied", (c) => c.json([...applied.values()]));
  app.post("/_control", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as {
      reset?: boolean;
      failNext?: number;
      failAlways?: boolean;
      failureRate?: number;
      hangNext?: number;
      latencyMs?: number;
    };
    try {
      if (body.reset) control.reset();
      if (body.failNext !== undefined) control.failNext(body.failNext);
      if (body.failAlways !== undefined) control.failAlways(body.failAlways);
      if (body.failureRate !== undefined) control.failureRate(body.failureRate);
      if (body.hangNext !== undefined) control.hangNext(body.hangNext);
      if (body.latencyMs !== undefined) control.latency(body.latencyMs);
    } catch (error) {
      return c.json({ error: String(error) }, 400);
    }
    return c.json({ ...stats });
  });

  const server = Bun.serve({ port: options.port ?? 0, hostname: options.hostname ?? "127.0.0.1", fetch: app.fetch, idleTimeout: 0 });
  return {
    url: `http://${server.hostname}:${server.port}`,
    control,
    stats: () => ({ ...stats }),
    applied: () => [...applied.values()],
    callsFor: (id) => calls.get(id) ?? 0,
    async stop() {
      for (const release of hanging) release();
      hanging.clear();
      await server.stop(true);
    },
  };
}

if (import.meta.main) {
  const fake = startFakeDataPlatform({ port: Number(process.env.PORT ?? 4020) });
  console.log(`fake data platform on ${fake.url}`);
}
