/**
 * Small ports for what Redis does for Agora. Each has an in-process adapter (embedded mode) and a
 * Redis adapter; both pass the same contract tests. None of them decides correctness alone:
 * they speed things up and shed load, the database guards the invariants.
 */
export interface Cache {
  get<T>(key: string): Promise<T | undefined>;
  /**
   * Like `get`, for a value many readers are handed unchanged: while the stored value stays the
   * same, every call returns the same deeply frozen object, whose tRPC serialization is kept.
   */
  getShared<T extends object>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttlMs: number): Promise<void>;
  /**
   * Stores `value` only when the key holds nothing: no value, and no `forbid` mark. For a value
   * read from the database that may have been revoked meanwhile: the revocation's mark wins.
   */
  fill<T>(key: string, value: T, ttlMs: number): Promise<void>;
  /**
   * Deletes the value and keeps `fill` from storing one for `ttlMs` (reads miss meanwhile). Unlike
   * `delete` it closes the race with a reader that read the value before it was revoked and
   * stores it after. Fails loudly, like `delete`.
   */
  forbid(key: string, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
}

/** What `forbid` stores: not superjson, so no value ever equals it. */
export const FORBIDDEN_CACHE_VALUE = "\u0000forbidden";

export interface Lock {
  /** Releases the lock if this holder still owns it; false when it had already expired. */
  release(): Promise<boolean>;
}

export interface LockManager {
  /** Takes `key` for `ttlMs`, waiting at most `waitMs`. Null when it could not be had in time. */
  acquire(key: string, ttlMs: number, waitMs?: number): Promise<Lock | null>;
}

export interface RateLimitDecision {
  allowed: boolean;
  remaining: number;
  retryAfterMs: number;
}

export interface RateLimiter {
  consume(key: string, points?: number): Promise<RateLimitDecision>;
  reset(key: string): Promise<void>;
}

export interface RateLimitPolicy {
  /** Distinct name: separates the counters of different limiters. */
  name: string;
  points: number;
  durationSeconds: number;
  /** Block for this long once the points are used up. */
  blockSeconds?: number;
}

export interface Counters {
  incrementBy(key: string, by: number): Promise<number>;
  get(key: string): Promise<number | undefined>;
  set(key: string, value: number, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface Infra {
  kind: "redis" | "memory";
  cache: Cache;
  locks: LockManager;
  counters: Counters;
  rateLimiter(policy: RateLimitPolicy): RateLimiter;
  /**
   * One point from each (limiter, key) bucket, as each limiter's own consume would take it, and its
   * decision, in order. On one Redis the buckets of this adapter's limiters without a block go in
   * one script call (a call counted against its caller and its address is one round trip, not two).
   */
  consumeEach(buckets: ReadonlyArray<readonly [RateLimiter, string]>): Promise<RateLimitDecision[]>;
  /** Raw client for modules with their own atomic scripts (coupon admission); null in memory mode. */
  redis: import("ioredis").Redis | import("ioredis").Cluster | null;
  /** Key prefix every adapter uses; scripts of other modules must use it too. */
  prefix: string;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
