/**
 * The chaos scenarios: what goes wrong, and when, while the storm runs. Times are shares of the
 * storm's spread (the span over which customers arrive), so the same scenario works at any size.
 */
import type { CheckResult } from "../bench/invariants.ts";
import { sleep } from "../bench/util.ts";
import { type ChaosEnvironment, getJson, postJson } from "./environment.ts";
import { deletePrefixKeys, killServerRedisClients, terminateBackends } from "./faults.ts";

export interface FaultContext {
  env: ChaosEnvironment;
  spreadMs: number;
  customers: number;
  /** Waits until the storm clock reads `ms`. */
  at(ms: number): Promise<void>;
  now(): number;
  /** Runs `fn` as a fault window (its start and end are recorded). */
  window<T>(label: string, fn: () => Promise<T>): Promise<T>;
  /** Opens a window left open until `close` is called; `clientVisible: false` for a fault clients must never see (5xx in it count as outside). */
  open(label: string, clientVisible: boolean): { close(): void };
  /** Records that the fault landed (or did not): a check of its own, so a fault that missed fails the run. */
  landed(name: string, ok: boolean, detail: string): void;
  log(message: string): void;
}

export interface Scenario {
  name: string;
  description: string;
  /** Extra server settings. */
  serverEnv?: Record<string, string>;
  fault(ctx: FaultContext): Promise<void>;
  /** After the storm, charges and events settled, before the checks. */
  afterSettle?(ctx: FaultContext): Promise<void>;
}

export type { CheckResult };

async function killAndRestart(ctx: FaultContext): Promise<void> {
  const pid = ctx.env.server().pid;
  await ctx.env.kill9();
  ctx.log(`kill -9 ${pid}; restarting on port ${ctx.env.port}`);
  await ctx.env.restart();
  ctx.log(`server back: pid ${ctx.env.server().pid}`);
}

async function terminate(ctx: FaultContext, which: string): Promise<void> {
  const n = await ctx.window(`db-terminate ${which}`, () => terminateBackends(ctx.env.database.name));
  ctx.log(`pg_terminate_backend: ${n} backends of ${ctx.env.database.name} (${which})`);
  ctx.landed(`fault: database backends terminated (${which})`, n > 0, `${n} backends terminated`);
}

async function deleteKeys(ctx: FaultContext): Promise<void> {
  const n = await ctx.window("redis keys deleted", () => deletePrefixKeys(ctx.env.redis));
  ctx.log(`deleted ${n} Redis keys under ${ctx.env.redis.prefix}`);
  ctx.landed("fault: Redis keys of the prefix deleted", n > 0, `${n} keys deleted`);
}

let failing: { close(): void } | null = null;

export const scenarios: Scenario[] = [
  {
    name: "kill9",
    description: "kill -9 of the server mid-storm, restarted on the same port; clients keep retrying",
    async fault(ctx) {
      await ctx.at(ctx.spreadMs * 0.35);
      await ctx.window("kill -9 → ready", () => killAndRestart(ctx));
      ctx.landed("fault: server killed with SIGKILL and restarted", ctx.env.exits.length === 1, `${ctx.env.exits.length} exits so far`);
    },
  },
  {
    name: "db-terminate",
    description: "every database backend of the scratch database terminated (pg_terminate_backend), twice mid-storm",
    async fault(ctx) {
      await ctx.at(ctx.spreadMs * 0.3);
      await terminate(ctx, "1st");
      await ctx.at(ctx.spreadMs * 0.65);
      await terminate(ctx, "2nd");
    },
  },
  {
    name: "redis",
    description: "every Redis key of the run's prefix deleted, then the server's Redis connections killed (CLIENT KILL), mid-storm",
    async fault(ctx) {
      await ctx.at(ctx.spreadMs * 0.3);
      await deleteKeys(ctx);
      await ctx.at(ctx.spreadMs * 0.6);
      const redisPort = Number(new URL(process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379").port || 6379);
      const killed = await ctx.window("redis clients killed", () => killServerRedisClients(ctx.env.redis, ctx.env.server().pid, redisPort));
      ctx.log(`CLIENT KILL: ${killed} connections of server pid ${ctx.env.server().pid}`);
      ctx.landed("fault: the server's Redis connections killed", killed > 0, `${killed} connections killed`);
    },
  },
  {
    name: "data-platform",
    description: "the data platform fails half its calls (503) from the start of the storm until every event is delivered",
    // Every event needs a few attempts: retry quickly and often enough that none goes dead.
    serverEnv: { OUTBOX_BACKOFF_SECONDS: "0.5", OUTBOX_MAX_ATTEMPTS: "60" },
    async fault(ctx) {
      await postJson(`${ctx.env.dataPlatform.url}/_control`, { failureRate: 0.5 });
      failing = ctx.open("data platform failing 50 %", false);
    },
    async afterSettle(ctx) {
      // Failing stayed on while the outbox drained: every event got through by retrying.
      await postJson(`${ctx.env.dataPlatform.url}/_control`, { failureRate: 0 });
      failing?.close();
      const stats = await getJson<{ failed: number; received: number }>(`${ctx.env.dataPlatform.url}/_stats`);
      ctx.log(`data platform: ${stats.failed} of ${stats.received} calls failed`);
      ctx.landed("fault: the data platform failed calls", stats.failed > 0, `${stats.failed} of ${stats.received} calls answered 503`);
    },
  },
  {
    name: "gateway-dies",
    description: "the gateway approves charges and never answers (approveThenHang), then the server is killed with SIGKILL and restarted",
    async fault(ctx) {
      await ctx.at(ctx.spreadMs * 0.35);
      const hang = Math.max(3, Math.round(ctx.customers / 50));
      await ctx.window("approve-then-hang → kill -9 → ready", async () => {
        const before = await getJson<{ hung: number; approved: number }>(`${ctx.env.gateway.url}/_stats`);
        await postJson(`${ctx.env.gateway.url}/_control`, { approveThenHang: hang });
        // The server gives up on the gateway after PAYMENT_GATEWAY_TIMEOUT_MS (2 s): kill it before that.
        const deadline = ctx.now() + 1_500;
        let hung = 0;
        while (ctx.now() < deadline && hung < hang) {
          await sleep(25);
          hung = (await getJson<{ hung: number }>(`${ctx.env.gateway.url}/_stats`)).hung - before.hung;
        }
        ctx.log(`gateway approved and held ${hung} charges; killing the server`);
        ctx.landed("fault: charges approved by the gateway and cut off by kill -9", hung > 0, `${hung} approved charges unanswered when the server died`);
        await killAndRestart(ctx);
      });
    },
  },
];

/** The small version run by `bun test`: one database termination and one Redis key deletion. */
export const smokeScenario: Scenario = {
  name: "smoke",
  description: "one database termination and one deletion of the Redis keys, mid-storm",
  async fault(ctx) {
    await ctx.at(ctx.spreadMs * 0.3);
    await terminate(ctx, "once");
    await ctx.at(ctx.spreadMs * 0.6);
    await deleteKeys(ctx);
  },
};
