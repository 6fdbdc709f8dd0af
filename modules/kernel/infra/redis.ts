/**
 * Redis adapters (ioredis), for one Redis or a Redis Cluster. Every key carries the instance prefix so
 * tests and tenants never collide. On a cluster every command and script must touch keys of one hash
 * slot: the adapters here use one key each; a module's multi-key script puts a hash tag (`{…}`) in its
 * keys (coupon admission does), so the prefix itself must not contain braces.
 */
import { createHash } from "node:crypto";
import diagnosticsChannel from "node:diagnostics_channel";
import { Cluster, Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import superjson from "superjson";
import { sharedDecoder } from "../serialized.ts";
import { createTurnBatcher } from "../turn-batch.ts";
import { toDecision } from "./rate-limit-decision.ts";
import { type Cache, type Counters, FORBIDDEN_CACHE_VALUE, type Infra, type Lock, type LockManager, type RateLimiter, type RateLimitPolicy } from "./types.ts";

/**
 * ioredis traces every command through a diagnostics TracingChannel unless `hasSubscribers` is false;
 * Bun (1.4) has no such property, so each command built a trace context (its arguments matched
 * against redaction patterns) for no one. Node's definition: any of its five channels has a subscriber.
 */
const tracingChannelPrototype = Object.getPrototypeOf(diagnosticsChannel.tracingChannel("agora:probe"));
if (!("hasSubscribers" in tracingChannelPrototype)) {
  Object.defineProperty(tracingChannelPrototype, "hasSubscribers", {
    configurable: true,
    get(this: Record<"start" | "end" | "asyncStart" | "asyncEnd" | "error", { hasSubscribers: boolean }>) {
      return (
        this.start.hasSubscribers || this.end.hasSubscribers || this.asyncStart.hasSubscribers || this.asyncEnd.hasSubscribers || this.error.hasSubscribers
      );
    },
  });
}

/**
 * A Lua script called by its SHA (EVALSHA): a hot path sends a few bytes instead of the script
 * each time. A Redis that does not know it yet (restarted, flushed) gets it once with EVAL.
 */
export function luaScript(lua: string) {
  const sha = createHash("sha1").update(lua).digest("hex");
  return async (redis: RedisClient, keys: string[], args: Array<string | number>): Promise<unknown> => {
    // One array, not spread arguments: a seed may carry a large coupon's every holder.
    const keysAndArgs = keys.concat(args.map(String));
    try {
      return await redis.evalsha(sha, keys.length, keysAndArgs);
    } catch (error) {
      if (!String(error).includes("NOSCRIPT")) throw error;
      return redis.eval(lua, keys.length, keysAndArgs);
    }
  };
}

/** Deletes the lock only when the caller's token still holds it: an expired holder never frees another's lock. */
const RELEASE_LOCK = luaScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`);

/**
 * rate-limiter-flexible's fixed window (its RateLimiterRedis increment script, the same keys and
 * values) for several buckets in one call: KEYS[i] takes ARGV[2i - 1] points in a window of
 * ARGV[2i] seconds. Returns each bucket's points consumed in its window and the window's ms left.
 */
const CONSUME_EACH = luaScript(`
local out = {}
for i, key in ipairs(KEYS) do
  local points, seconds = ARGV[2 * i - 1], ARGV[2 * i]
  redis.call("SET", key, 0, "EX", seconds, "NX")
  local consumed = redis.call("INCRBY", key, points)
  local ttl = redis.call("PTTL", key)
  if ttl == -1 then
    redis.call("EXPIRE", key, seconds)
    ttl = 1000 * seconds
  end
  out[2 * i - 1] = consumed
  out[2 * i] = ttl
end
return out`);

/** The most consumeEach calls one CONSUME_EACH counts (a few ms of Redis at most). */
const COUNTED_TOGETHER_MAX = 500;

/** The most cache reads one MGET carries. */
const READ_TOGETHER_MAX = 500;

/** One Redis or a cluster: both speak the same commands through ioredis. */
export type RedisClient = Redis | Cluster;

const CLUSTER_SCHEMES = ["redis-cluster:", "rediss-cluster:"];

/**
 * `redis-cluster://[user:password@]host:port[,host:port…]` (or `rediss-cluster://` for TLS): the
 * nodes a cluster client starts from; it learns the rest of the cluster from them.
 */
export function parseRedisClusterUrl(url: string): { nodes: Array<{ host: string; port: number }>; username?: string; password?: string; tls: boolean } | null {
  const scheme = CLUSTER_SCHEMES.find((s) => url.startsWith(`${s}//`));
  if (!scheme) return null;
  let rest = url.slice(scheme.length + 2).replace(/\/+$/, "");
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(":");
    username = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : auth) || undefined;
    password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) : undefined;
  }
  const nodes = rest.split(",").map((node) => {
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(node.trim());
    if (!match) throw new Error(`REDIS_URL: "${node}" is not host:port in ${scheme}//host:port,host:port…`);
    return { host: match[1] as string, port: Number(match[2]) };
  });
  return { nodes, username, password, tls: scheme === "rediss-cluster:" };
}

/**
 * `redis://…` for one Redis; `redis-cluster://host:port,host:port…` for a Redis Cluster. `events` hears
 * of lost and restored connections. Without an 'error' listener ioredis prints "[ioredis] Unhandled
 * error event" for every failed reconnect while Redis is down.
 */
export function createRedisClient(url: string, events?: { lost(error: Error): void; connected(): void }): RedisClient {
  const cluster = parseRedisClusterUrl(url);
  const redis: RedisClient = cluster
    ? new Cluster(cluster.nodes, {
        enableAutoPipelining: true,
        lazyConnect: false,
        redisOptions: {
          maxRetriesPerRequest: 2,
          username: cluster.username,
          password: cluster.password,
          ...(cluster.tls ? { tls: {} } : {}),
        },
      })
    : new Redis(url, {
        maxRetriesPerRequest: 2,
        enableAutoPipelining: true,
        lazyConnect: false,
      });
  redis.on("error", (error: Error) => events?.lost(error));
  redis.on("ready", () => events?.connected());
  return redis;
}

export function createRedisInfra(redis: RedisClient, prefix = "agora:"): Infra {
  // A brace in the prefix would become every key's hash tag, sending all of Agora's keys to one cluster slot.
  if (/[{}]/.test(prefix)) throw new Error(`REDIS_PREFIX must not contain "{" or "}" (hash tags are added where needed): "${prefix}"`);
  const key = (k: string) => `${prefix}${k}`;

  // A cache is best effort: with Redis down a read is a miss (the caller asks the database) and a
  // write is skipped. Deleting still fails loudly: a revoked session must not stay cached unnoticed.
  const shared = sharedDecoder();
  /**
   * The reads of one event-loop turn as ONE MGET on one Redis (a crowd's sessions: one command per
   * turn, not one per request); a cluster keeps its keys in different slots, so each is a GET there.
   */
  const readInTurn = createTurnBatcher<string, string | null>({
    max: READ_TOGETHER_MAX,
    run: (keys) =>
      redis.mget(keys).then(
        (raws) => raws.map((raw) => raw ?? null),
        () => keys.map(() => null),
      ),
  });
  const readTogether = (k: string): Promise<string | null> => (redis instanceof Cluster ? redis.get(k).catch(() => null) : readInTurn(k));
  const cache: Cache = {
    async get<T>(k: string) {
      const raw = await readTogether(key(`cache:${k}`));
      return raw === null || raw === FORBIDDEN_CACHE_VALUE ? undefined : superjson.parse<T>(raw);
    },
    async getShared<T extends object>(k: string) {
      const raw = await redis.get(key(`cache:${k}`)).catch(() => null);
      return raw === null || raw === FORBIDDEN_CACHE_VALUE ? undefined : shared<T>(k, raw);
    },
    async set<T>(k: string, value: T, ttlMs: number) {
      await redis.set(key(`cache:${k}`), superjson.stringify(value), "PX", ttlMs).catch(() => undefined);
    },
    async fill<T>(k: string, value: T, ttlMs: number) {
      // NX: neither a value nor a forbid mark is there (one key, one command: atomic, cluster-safe).
      await redis.set(key(`cache:${k}`), superjson.stringify(value), "PX", ttlMs, "NX").catch(() => undefined);
    },
    async forbid(k: string, ttlMs: number) {
      await redis.set(key(`cache:${k}`), FORBIDDEN_CACHE_VALUE, "PX", ttlMs);
    },
    async delete(k: string) {
      await redis.del(key(`cache:${k}`));
    },
  };

  const locks: LockManager = {
    async acquire(k: string, ttlMs: number, waitMs = 0): Promise<Lock | null> {
      const lockKey = key(`lock:${k}`);
      const token = crypto.randomUUID();
      const deadline = Date.now() + waitMs;
      for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
        if ((await redis.set(lockKey, token, "PX", ttlMs, "NX")) === "OK") {
          return { release: async () => (await RELEASE_LOCK(redis, [lockKey], [token])) === 1 };
        }
        if (Date.now() >= deadline) return null;
        await Bun.sleep(delay);
      }
    },
  };

  const counters: Counters = {
    incrementBy: (k, by) => redis.incrby(key(`counter:${k}`), by),
    async get(k) {
      const raw = await redis.get(key(`counter:${k}`));
      return raw === null ? undefined : Number(raw);
    },
    async set(k, value, ttlMs) {
      if (ttlMs === undefined) await redis.set(key(`counter:${k}`), value);
      else await redis.set(key(`counter:${k}`), value, "PX", ttlMs);
    },
    async delete(k) {
      await redis.del(key(`counter:${k}`));
    },
  };

  /** The Redis key prefix and policy of each limiter made here whose buckets CONSUME_EACH may count. */
  type Scriptable = { keyPrefix: string; points: number; durationSeconds: number };
  const scriptable = new WeakMap<RateLimiter, Scriptable>();
  const consumeOneByOne = (buckets: ReadonlyArray<readonly [RateLimiter, string]>) => Promise.all(buckets.map(([limiter, k]) => limiter.consume(k)));

  /**
   * The calls of one turn of the event loop go to Redis as ONE CONSUME_EACH: a crowd's calls cost
   * one script call per turn instead of one each (the script counts key by key, in call order, so
   * each call's counts are what it would have got alone). Resolves to the call's counts, or null
   * when the script failed.
   */
  const countTogether = createTurnBatcher<{ keys: string[]; args: number[] }, number[] | null>({
    max: COUNTED_TOGETHER_MAX,
    async run(calls) {
      let result: unknown = null;
      try {
        result = await CONSUME_EACH(
          redis,
          calls.flatMap((call) => call.keys),
          calls.flatMap((call) => call.args),
        );
      } catch {
        // each call then goes to its limiters (consumeEach)
      }
      let at = 0;
      return calls.map((call) => {
        const counts = Array.isArray(result) ? (result.slice(at, at + 2 * call.keys.length) as number[]) : null;
        at += 2 * call.keys.length;
        return counts;
      });
    },
  });

  return {
    kind: "redis",
    cache,
    locks,
    counters,
    async consumeEach(buckets) {
      const counted = buckets.map(([limiter]) => scriptable.get(limiter));
      // A cluster keeps them apart (a caller's and an address's keys are in different slots); a limiter
      // with a block, or Redis not ready, is left to rate-limiter-flexible (its block, its in-process insurance).
      if (buckets.length < 2 || redis instanceof Cluster || redis.status !== "ready" || counted.some((policy) => policy === undefined)) {
        return consumeOneByOne(buckets);
      }
      const policies = counted as Scriptable[];
      const result = await countTogether({
        keys: buckets.map(([, k], i) => `${policies[i]?.keyPrefix}:${k}`),
        args: policies.flatMap((policy) => [1, policy.durationSeconds]),
      });
      // Each limiter on its own: rate-limiter-flexible falls back to counting in this process. (A
      // reply lost after the script ran counts every call of that script call twice: a refusal a little
      // early, never a limit passed.)
      if (result === null) return consumeOneByOne(buckets);
      return policies.map((policy, i) => {
        const consumed = Number(result[2 * i]);
        return consumed > policy.points
          ? { allowed: false, remaining: 0, retryAfterMs: Number(result[2 * i + 1]) }
          : { allowed: true, remaining: policy.points - consumed, retryAfterMs: 0 };
      });
    },
    rateLimiter(policy: RateLimitPolicy): RateLimiter {
      const limiter = new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: key(`rl:${policy.name}`),
        points: policy.points,
        duration: policy.durationSeconds,
        blockDuration: policy.blockSeconds ?? 0,
        // Redis down: count in this process instead (limits stay on, per instance) rather than
        // refusing every call or letting every call through; answer at once instead of queueing.
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory({
          keyPrefix: key(`rl:${policy.name}`),
          points: policy.points,
          duration: policy.durationSeconds,
          blockDuration: policy.blockSeconds ?? 0,
        }),
      });
      const rateLimiter: RateLimiter = {
        consume: (k, points = 1) => toDecision(limiter.consume(k, points)),
        reset: async (k) => {
          await limiter.delete(k);
        },
      };
      // Whole seconds, as the library's own script counts them; a block is the library's to keep.
      if (!policy.blockSeconds && Number.isInteger(policy.durationSeconds) && policy.durationSeconds >= 1)
        scriptable.set(rateLimiter, { keyPrefix: limiter.keyPrefix, points: policy.points, durationSeconds: policy.durationSeconds });
      return rateLimiter;
    },
    redis,
    prefix,
    async ping() {
      try {
        return (await redis.ping()) === "PONG";
      } catch {
        return false;
      }
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
