/** Redis adapters (ioredis). Every key carries the instance prefix so tests and tenants never collide. */
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import superjson from "superjson";
import { toDecision } from "./rate-limit-decision.ts";
import type { Cache, Counters, Infra, Lock, LockManager, RateLimiter, RateLimitPolicy } from "./types.ts";

/**
 * A Lua script called by its SHA (EVALSHA): a hot path sends a few bytes instead of the script
 * each time. A Redis that does not know it yet (restarted, flushed) gets it once with EVAL.
 */
export function luaScript(lua: string) {
  const sha = createHash("sha1").update(lua).digest("hex");
  return async (redis: Redis, keys: string[], args: Array<string | number>): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!String(error).includes("NOSCRIPT")) throw error;
      return redis.eval(lua, keys.length, ...keys, ...args);
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
 * `events` hears of lost and restored connections. Without an 'error' listener ioredis prints
 * "[ioredis] Unhandled error event" for every failed reconnect while Redis is down.
 */
export function createRedisClient(url: string, events?: { lost(error: Error): void; connected(): void }): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 2,
    enableAutoPipelining: true,
    lazyConnect: false,
  });
  redis.on("error", (error: Error) => events?.lost(error));
  redis.on("ready", () => events?.connected());
  return redis;
}

export function createRedisInfra(redis: Redis, prefix = "agora:"): Infra {
  const key = (k: string) => `${prefix}${k}`;

  const cache: Cache = {
    async get<T>(k: string) {
      const raw = await redis.get(key(`cache:${k}`));
      return raw === null ? undefined : superjson.parse<T>(raw);
    },
    async set<T>(k: string, value: T, ttlMs: number) {
      await redis.set(key(`cache:${k}`), superjson.stringify(value), "PX", ttlMs);
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

  return {
    kind: "redis",
    cache,
    locks,
    counters,
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
      return {
        consume: (k, points = 1) => toDecision(limiter.consume(k, points)),
        reset: async (k) => {
          await limiter.delete(k);
        },
      };
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
