/** In-process adapters: the embedded default when REDIS_URL is unset (one server instance). */
import { RateLimiterMemory } from "rate-limiter-flexible";
import superjson from "superjson";
import type { Clock } from "../clock.ts";
import { sharedDecoder } from "../serialized.ts";
import { toDecision } from "./rate-limit-decision.ts";
import { type Cache, type Counters, FORBIDDEN_CACHE_VALUE, type Infra, type Lock, type LockManager, type RateLimiter, type RateLimitPolicy } from "./types.ts";

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/**
 * Keys with a time to live, read lazily: an expired entry is dropped when it is read, and the whole
 * map is swept once it has taken as many new entries as it held at the last sweep (at least 1,024),
 * so entries nobody reads again (a revoked session's mark, a lapsed cache entry) do not pile up.
 */
export class ExpiringMap<K = string, V = string> {
  readonly #entries = new Map<K, Entry<V>>();
  #setsUntilSweep = 1_024;
  constructor(private readonly clock: Clock) {}
  get size(): number {
    return this.#entries.size;
  }
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.clock.now().getTime()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }
  set(key: K, value: V, ttlMs: number | undefined): void {
    this.#entries.set(key, { value, expiresAt: ttlMs === undefined ? Number.POSITIVE_INFINITY : this.clock.now().getTime() + ttlMs });
    if (--this.#setsUntilSweep <= 0) this.#sweep();
  }
  #sweep(): void {
    const now = this.clock.now().getTime();
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
    this.#setsUntilSweep = Math.max(1_024, this.#entries.size);
  }
  /** Changes a live entry's value but keeps its expiry (as Redis INCRBY does); a missing key gets no TTL. */
  replace(key: K, value: V): void {
    const entry = this.get(key) === undefined ? undefined : this.#entries.get(key);
    if (entry) entry.value = value;
    else this.set(key, value, undefined);
  }
  delete(key: K): void {
    this.#entries.delete(key);
  }
}

class MemoryCache implements Cache {
  constructor(private readonly map: ExpiringMap) {}
  async get<T>(key: string): Promise<T | undefined> {
    const raw = this.map.get(`cache:${key}`);
    return raw === undefined || raw === FORBIDDEN_CACHE_VALUE ? undefined : superjson.parse<T>(raw);
  }
  private readonly shared = sharedDecoder();
  async getShared<T extends object>(key: string): Promise<T | undefined> {
    const raw = this.map.get(`cache:${key}`);
    return raw === undefined || raw === FORBIDDEN_CACHE_VALUE ? undefined : this.shared<T>(key, raw);
  }
  async set<T>(key: string, value: T, ttlMs: number): Promise<void> {
    this.map.set(`cache:${key}`, superjson.stringify(value), ttlMs);
  }
  async fill<T>(key: string, value: T, ttlMs: number): Promise<void> {
    if (this.map.get(`cache:${key}`) === undefined) this.map.set(`cache:${key}`, superjson.stringify(value), ttlMs);
  }
  async forbid(key: string, ttlMs: number): Promise<void> {
    this.map.set(`cache:${key}`, FORBIDDEN_CACHE_VALUE, ttlMs);
  }
  async delete(key: string): Promise<void> {
    this.map.delete(`cache:${key}`);
  }
}

class MemoryLocks implements LockManager {
  constructor(private readonly map: ExpiringMap) {}
  async acquire(key: string, ttlMs: number, waitMs = 0): Promise<Lock | null> {
    const lockKey = `lock:${key}`;
    const token = crypto.randomUUID();
    const deadline = Date.now() + waitMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      if (this.map.get(lockKey) === undefined) {
        this.map.set(lockKey, token, ttlMs);
        return {
          release: async () => {
            if (this.map.get(lockKey) !== token) return false;
            this.map.delete(lockKey);
            return true;
          },
        };
      }
      if (Date.now() >= deadline) return null;
      await Bun.sleep(delay);
    }
  }
}

class MemoryCounters implements Counters {
  constructor(private readonly map: ExpiringMap) {}
  async incrementBy(key: string, by: number): Promise<number> {
    const next = Number(this.map.get(`counter:${key}`) ?? 0) + by;
    this.map.replace(`counter:${key}`, String(next));
    return next;
  }
  async get(key: string): Promise<number | undefined> {
    const raw = this.map.get(`counter:${key}`);
    return raw === undefined ? undefined : Number(raw);
  }
  async set(key: string, value: number, ttlMs?: number): Promise<void> {
    this.map.set(`counter:${key}`, String(value), ttlMs);
  }
  async delete(key: string): Promise<void> {
    this.map.delete(`counter:${key}`);
  }
}

export function createMemoryInfra(clock: Clock, prefix = "agora:"): Infra {
  const map = new ExpiringMap(clock);
  return {
    kind: "memory",
    cache: new MemoryCache(map),
    locks: new MemoryLocks(map),
    counters: new MemoryCounters(map),
    rateLimiter(policy: RateLimitPolicy): RateLimiter {
      const limiter = new RateLimiterMemory({
        keyPrefix: `${prefix}rl:${policy.name}`,
        points: policy.points,
        duration: policy.durationSeconds,
        blockDuration: policy.blockSeconds ?? 0,
      });
      return {
        consume: (key, points = 1) => toDecision(limiter.consume(key, points)),
        reset: async (key) => {
          await limiter.delete(key);
        },
      };
    },
    consumeEach: (buckets) => Promise.all(buckets.map(([limiter, key]) => limiter.consume(key))),
    redis: null,
    prefix,
    ping: async () => true,
    close: async () => {},
  };
}
