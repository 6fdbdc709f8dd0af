/**
 * One contract, three adapters: the in-process infra (embedded mode), the Redis infra on one Redis
 * and on a Redis Cluster must behave the same, so a module tested against one can run on the others.
 * The cluster run needs `scripts/redis-cluster.sh start` (CI starts it; elsewhere it is skipped with
 * a message when the cluster is not there).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createMemoryInfra, createRedisClient, createRedisInfra, type Infra, ManualClock, parseRedisClusterUrl } from "../../modules/kernel/index.ts";
import { createTestRedis, createTestRedisCluster, redisClusterAvailability, testClusterNodes } from "../support/redis.ts";

const cluster = await redisClusterAvailability();

interface Harness {
  infra: Infra;
  /** Lets `ms` of TTL time pass: the manual clock for memory, real time for Redis. */
  elapse(ms: number): Promise<void>;
  close(): Promise<void>;
}

const adapters: Array<{ name: string; kind: Infra["kind"]; skip?: boolean; start(): Promise<Harness> }> = [
  {
    name: "memory",
    kind: "memory",
    async start() {
      const clock = new ManualClock();
      return { infra: createMemoryInfra(clock, "contract:"), elapse: async (ms) => clock.advance(ms), close: async () => {} };
    },
  },
  {
    name: "redis",
    kind: "redis",
    async start() {
      const redis = await createTestRedis();
      return { infra: createRedisInfra(redis.client, redis.prefix), elapse: (ms) => Bun.sleep(ms), close: () => redis.cleanup() };
    },
  },
  {
    name: "redis cluster",
    kind: "redis",
    skip: !cluster.up,
    async start() {
      const redis = await createTestRedisCluster();
      return { infra: createRedisInfra(redis.client, redis.prefix), elapse: (ms) => Bun.sleep(ms), close: () => redis.cleanup() };
    },
  },
];

/** Short TTLs keep the Redis run quick; the margins leave room for a slow machine. */
const TTL = 100;
const PAST_TTL = 160;

/** Every test uses its own keys, so tests never see each other's leftovers. */
const fresh = (label: string) => `${label}-${crypto.randomUUID()}`;

for (const adapter of adapters) {
  describe.skipIf(adapter.skip === true)(`infra contract: ${adapter.name}`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await adapter.start();
    });
    afterAll(() => h.close());

    test("reports its kind and answers ping", async () => {
      expect(h.infra.kind).toBe(adapter.kind);
      expect(await h.infra.ping()).toBe(true);
    });

    // ── cache ──────────────────────────────────────────────────────────
    describe("cache", () => {
      test("get of a missing key is undefined; set, overwrite, delete", async () => {
        const { cache } = h.infra;
        const key = fresh("cache");
        expect(await cache.get(key)).toBeUndefined();
        await cache.set(key, { name: "Celadon Mug", price: 12_000 }, 60_000);
        expect(await cache.get(key)).toEqual({ name: "Celadon Mug", price: 12_000 });
        await cache.set(key, { name: "Celadon Bowl", price: 9_000 }, 60_000);
        expect(await cache.get(key)).toEqual({ name: "Celadon Bowl", price: 9_000 });
        await cache.delete(key);
        expect(await cache.get(key)).toBeUndefined();
        await cache.delete(key); // deleting a missing key is fine
      });

      test("getShared: the same frozen value while the stored value is unchanged, a new one after a set or delete", async () => {
        const { cache } = h.infra;
        const key = fresh("shared");
        expect(await cache.getShared(key)).toBeUndefined();
        await cache.set(key, { name: "Celadon Mug", price: 12_000 }, 60_000);
        const first = await cache.getShared<{ name: string; price: number }>(key);
        expect(first).toEqual({ name: "Celadon Mug", price: 12_000 });
        expect(await cache.getShared(key)).toBe(first);
        expect(Object.isFrozen(first)).toBe(true);
        await cache.set(key, { name: "Celadon Bowl", price: 9_000 }, 60_000);
        expect(await cache.getShared(key)).toEqual({ name: "Celadon Bowl", price: 9_000 });
        await cache.delete(key);
        expect(await cache.getShared(key)).toBeUndefined();
      });

      test("falsy values are cached values, not misses", async () => {
        const { cache } = h.infra;
        for (const value of [0, false, "", null, []]) {
          const key = fresh("falsy");
          await cache.set(key, value, 60_000);
          expect(await cache.get(key)).toEqual(value);
        }
      });

      test("values keep Dates, Maps, Sets and bigints (superjson)", async () => {
        const { cache } = h.infra;
        const key = fresh("typed");
        const value = {
          at: new Date("2026-11-21T09:00:00.123Z"),
          nested: { dates: [new Date("2020-01-01T00:00:00Z")] },
          byId: new Map([[1, "one"]]),
          tags: new Set(["a", "b"]),
          big: 2n ** 70n,
        };
        await cache.set(key, value, 60_000);
        const got = await cache.get<typeof value>(key);
        expect(got?.at).toBeInstanceOf(Date);
        expect(got?.at.getTime()).toBe(value.at.getTime());
        expect(got?.nested.dates[0]).toBeInstanceOf(Date);
        expect(got?.byId).toBeInstanceOf(Map);
        expect(got?.tags).toBeInstanceOf(Set);
        expect(got).toEqual(value);
      });

      test("an entry expires after its TTL", async () => {
        const { cache } = h.infra;
        const key = fresh("ttl");
        await cache.set(key, "short-lived", TTL);
        expect(await cache.get<string>(key)).toBe("short-lived");
        await h.elapse(PAST_TTL);
        expect(await cache.get(key)).toBeUndefined();
      });

      test("fill stores only into an empty key; forbid deletes and keeps fill out until its TTL ends", async () => {
        const { cache } = h.infra;
        const key = fresh("fill");
        await cache.fill(key, "first", 60_000);
        await cache.fill(key, "second", 60_000);
        expect(await cache.get<string>(key)).toBe("first");
        await cache.forbid(key, TTL);
        expect(await cache.get(key)).toBeUndefined();
        expect(await cache.getShared(key)).toBeUndefined();
        // A reader that read the value before it was forbidden puts it back: refused.
        await cache.fill(key, "stale", 60_000);
        expect(await cache.get(key)).toBeUndefined();
        await h.elapse(PAST_TTL);
        await cache.fill(key, "fresh", 60_000);
        expect(await cache.get<string>(key)).toBe("fresh");
        // set still overwrites (the value's owner writing it).
        await cache.forbid(key, 60_000);
        await cache.set(key, "owner", 60_000);
        expect(await cache.get<string>(key)).toBe("owner");
      });

      test("setting again renews the TTL", async () => {
        const { cache } = h.infra;
        const key = fresh("renew");
        await cache.set(key, 1, TTL);
        await cache.set(key, 2, 60_000);
        await h.elapse(PAST_TTL);
        expect(await cache.get<number>(key)).toBe(2);
      });
    });

    // ── locks ──────────────────────────────────────────────────────────
    describe("locks", () => {
      test("acquire, refuse a second holder, release, acquire again", async () => {
        const { locks } = h.infra;
        const key = fresh("lock");
        const first = await locks.acquire(key, 10_000);
        expect(first).not.toBeNull();
        expect(await locks.acquire(key, 10_000)).toBeNull();
        expect(await first?.release()).toBe(true);
        expect(await first?.release()).toBe(false); // already released

        const second = await locks.acquire(key, 10_000);
        expect(second).not.toBeNull();
        expect(await second?.release()).toBe(true);
      });

      test("different keys do not block each other", async () => {
        const { locks } = h.infra;
        const a = await locks.acquire(fresh("lock-a"), 10_000);
        const b = await locks.acquire(fresh("lock-b"), 10_000);
        expect(a).not.toBeNull();
        expect(b).not.toBeNull();
        await a?.release();
        await b?.release();
      });

      test("of 20 simultaneous attempts exactly one wins", async () => {
        const { locks } = h.infra;
        const key = fresh("race");
        const attempts = await Promise.all(Array.from({ length: 20 }, () => locks.acquire(key, 10_000)));
        const winners = attempts.filter((lock) => lock !== null);
        expect(winners).toHaveLength(1);
        expect(await winners[0]?.release()).toBe(true);
      });

      test("waiters take turns: never two inside at once, and every waiter gets in", async () => {
        const { locks } = h.infra;
        const key = fresh("turns");
        let inside = 0;
        let maxInside = 0;
        let entered = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            const lock = await locks.acquire(key, 10_000, 5_000);
            if (!lock) throw new Error("waited 5 s without getting the lock");
            inside += 1;
            entered += 1;
            maxInside = Math.max(maxInside, inside);
            await Bun.sleep(5);
            inside -= 1;
            expect(await lock.release()).toBe(true);
          }),
        );
        expect(entered).toBe(8);
        expect(maxInside).toBe(1);
      });

      test("an expired holder cannot release the new holder's lock", async () => {
        const { locks } = h.infra;
        const key = fresh("expiry");
        const stale = await locks.acquire(key, TTL);
        expect(stale).not.toBeNull();
        await h.elapse(PAST_TTL);

        const current = await locks.acquire(key, 10_000);
        expect(current).not.toBeNull();
        expect(await stale?.release()).toBe(false);
        expect(await locks.acquire(key, 10_000)).toBeNull(); // still held by `current`
        expect(await current?.release()).toBe(true);
      });

      test("a bounded wait gives up with null", async () => {
        const { locks } = h.infra;
        const key = fresh("bounded");
        const holder = await locks.acquire(key, 10_000);
        const started = performance.now();
        expect(await locks.acquire(key, 10_000, 100)).toBeNull();
        const waited = performance.now() - started;
        expect(waited).toBeGreaterThanOrEqual(90);
        expect(waited).toBeLessThan(1_000);
        await holder?.release();
      });

      test("a waiter gets the lock as soon as it is released within its wait", async () => {
        const { locks } = h.infra;
        const key = fresh("handover");
        const holder = await locks.acquire(key, 10_000);
        setTimeout(() => void holder?.release(), 50);
        const waiter = await locks.acquire(key, 10_000, 2_000);
        expect(waiter).not.toBeNull();
        expect(await waiter?.release()).toBe(true);
      });
    });

    // ── counters ───────────────────────────────────────────────────────
    describe("counters", () => {
      test("increment, get, set, delete", async () => {
        const { counters } = h.infra;
        const key = fresh("counter");
        expect(await counters.get(key)).toBeUndefined();
        expect(await counters.incrementBy(key, 5)).toBe(5);
        expect(await counters.incrementBy(key, 3)).toBe(8);
        expect(await counters.incrementBy(key, -10)).toBe(-2);
        expect(await counters.get(key)).toBe(-2);
        await counters.set(key, 100);
        expect(await counters.get(key)).toBe(100);
        expect(await counters.incrementBy(key, 1)).toBe(101);
        await counters.delete(key);
        expect(await counters.get(key)).toBeUndefined();
        expect(await counters.incrementBy(key, 1)).toBe(1);
      });

      test("50 concurrent increments add up exactly", async () => {
        const { counters } = h.infra;
        const key = fresh("concurrent");
        const results = await Promise.all(Array.from({ length: 50 }, () => counters.incrementBy(key, 2)));
        expect(await counters.get(key)).toBe(100);
        // Every increment saw a distinct total.
        expect(new Set(results).size).toBe(50);
      });

      test("a counter set with a TTL expires", async () => {
        const { counters } = h.infra;
        const key = fresh("ttl-counter");
        await counters.set(key, 7, TTL);
        expect(await counters.get(key)).toBe(7);
        await h.elapse(PAST_TTL);
        expect(await counters.get(key)).toBeUndefined();
      });

      test("incrementing keeps the counter's TTL", async () => {
        const { counters } = h.infra;
        const key = fresh("ttl-kept");
        await counters.set(key, 7, TTL);
        expect(await counters.incrementBy(key, 1)).toBe(8);
        await h.elapse(PAST_TTL);
        expect(await counters.get(key)).toBeUndefined();
      });

      test("counters and cache entries with the same name do not collide", async () => {
        const { counters, cache } = h.infra;
        const key = fresh("shared-name");
        await cache.set(key, "cached", 60_000);
        expect(await counters.get(key)).toBeUndefined();
        await counters.incrementBy(key, 4);
        expect(await cache.get<string>(key)).toBe("cached");
      });
    });

    // ── rate limiter ───────────────────────────────────────────────────
    describe("rate limiter", () => {
      test("allows N, then refuses with retryAfterMs > 0; other keys are unaffected", async () => {
        const limiter = h.infra.rateLimiter({ name: fresh("rl"), points: 3, durationSeconds: 60 });
        const key = fresh("caller");
        const decisions = [];
        for (let i = 0; i < 4; i++) decisions.push(await limiter.consume(key));
        expect(decisions.slice(0, 3)).toEqual([
          { allowed: true, remaining: 2, retryAfterMs: 0 },
          { allowed: true, remaining: 1, retryAfterMs: 0 },
          { allowed: true, remaining: 0, retryAfterMs: 0 },
        ]);
        const refused = decisions[3];
        expect(refused?.allowed).toBe(false);
        expect(refused?.remaining).toBe(0);
        expect(refused?.retryAfterMs).toBeGreaterThan(0);
        expect(refused?.retryAfterMs).toBeLessThanOrEqual(60_000);

        expect(await limiter.consume(fresh("someone-else"))).toMatchObject({ allowed: true, remaining: 2 });
      });

      test("reset gives the key its full allowance back", async () => {
        const limiter = h.infra.rateLimiter({ name: fresh("rl"), points: 2, durationSeconds: 60 });
        const key = fresh("caller");
        await limiter.consume(key, 2);
        expect((await limiter.consume(key)).allowed).toBe(false);
        await limiter.reset(key);
        expect(await limiter.consume(key)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
      });

      test("consuming several points at once counts them all", async () => {
        const limiter = h.infra.rateLimiter({ name: fresh("rl"), points: 5, durationSeconds: 60 });
        const key = fresh("caller");
        expect(await limiter.consume(key, 4)).toMatchObject({ allowed: true, remaining: 1 });
        expect((await limiter.consume(key, 2)).allowed).toBe(false);
      });

      test("a block lasts blockSeconds, longer than the window", async () => {
        const limiter = h.infra.rateLimiter({ name: fresh("rl"), points: 1, durationSeconds: 1, blockSeconds: 30 });
        const key = fresh("caller");
        expect((await limiter.consume(key)).allowed).toBe(true);
        const refused = await limiter.consume(key);
        expect(refused.allowed).toBe(false);
        expect(refused.retryAfterMs).toBeGreaterThan(1_000);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(30_000);
      });

      test("limiters with different names count separately", async () => {
        const key = fresh("caller");
        const strict = h.infra.rateLimiter({ name: fresh("rl-strict"), points: 1, durationSeconds: 60 });
        const loose = h.infra.rateLimiter({ name: fresh("rl-loose"), points: 10, durationSeconds: 60 });
        await strict.consume(key);
        expect((await strict.consume(key)).allowed).toBe(false);
        expect(await loose.consume(key)).toMatchObject({ allowed: true, remaining: 9 });
      });

      test("concurrent consumption never allows more than N", async () => {
        const limiter = h.infra.rateLimiter({ name: fresh("rl"), points: 10, durationSeconds: 60 });
        const key = fresh("caller");
        const decisions = await Promise.all(Array.from({ length: 30 }, () => limiter.consume(key)));
        expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
      });

      test("consumeEach takes a point from each bucket, in the limiters' own counters", async () => {
        const strict = h.infra.rateLimiter({ name: fresh("rl-each-strict"), points: 3, durationSeconds: 60 });
        const loose = h.infra.rateLimiter({ name: fresh("rl-each-loose"), points: 5, durationSeconds: 60 });
        const caller = fresh("caller");
        const address = fresh("address");
        const rounds = [];
        for (let i = 0; i < 4; i++)
          rounds.push(
            await h.infra.consumeEach([
              [strict, caller],
              [loose, address],
            ] as const),
          );
        expect(rounds.slice(0, 3)).toEqual([
          [
            { allowed: true, remaining: 2, retryAfterMs: 0 },
            { allowed: true, remaining: 4, retryAfterMs: 0 },
          ],
          [
            { allowed: true, remaining: 1, retryAfterMs: 0 },
            { allowed: true, remaining: 3, retryAfterMs: 0 },
          ],
          [
            { allowed: true, remaining: 0, retryAfterMs: 0 },
            { allowed: true, remaining: 2, retryAfterMs: 0 },
          ],
        ]);
        const [refused, counted] = rounds[3] ?? [];
        expect(refused?.allowed).toBe(false);
        expect(refused?.retryAfterMs).toBeGreaterThan(0);
        expect(refused?.retryAfterMs).toBeLessThanOrEqual(60_000);
        // A refused bucket does not hand back the others' points (as separate consumes would not).
        expect(counted).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
        // The same counters as each limiter's own consume and reset.
        expect((await strict.consume(caller)).allowed).toBe(false);
        expect(await loose.consume(address)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
        await strict.reset(caller);
        expect((await h.infra.consumeEach([[strict, caller]] as const))[0]).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
        expect(await h.infra.consumeEach([])).toEqual([]);
      });

      test("concurrent consumeEach never allows more than N in any bucket", async () => {
        const ten = h.infra.rateLimiter({ name: fresh("rl-each-10"), points: 10, durationSeconds: 60 });
        const twenty = h.infra.rateLimiter({ name: fresh("rl-each-20"), points: 20, durationSeconds: 60 });
        const [a, b] = [fresh("caller"), fresh("address")];
        const rounds = await Promise.all(
          Array.from({ length: 30 }, () =>
            h.infra.consumeEach([
              [ten, a],
              [twenty, b],
            ] as const),
          ),
        );
        expect(rounds.filter(([first]) => first?.allowed)).toHaveLength(10);
        expect(rounds.filter(([, second]) => second?.allowed)).toHaveLength(20);
      });

      test("consumeEach keeps a limiter's block", async () => {
        const blocking = h.infra.rateLimiter({ name: fresh("rl-each-block"), points: 1, durationSeconds: 1, blockSeconds: 30 });
        const plain = h.infra.rateLimiter({ name: fresh("rl-each-plain"), points: 5, durationSeconds: 60 });
        const key = fresh("caller");
        await h.infra.consumeEach([
          [blocking, key],
          [plain, key],
        ] as const);
        const [refused] = await h.infra.consumeEach([
          [blocking, key],
          [plain, key],
        ] as const);
        expect(refused?.allowed).toBe(false);
        expect(refused?.retryAfterMs).toBeGreaterThan(1_000);
      });
    });
  });
}

describe("REDIS_URL", () => {
  test("redis-cluster://[user:password@]host:port,… names a cluster's start nodes", () => {
    expect(parseRedisClusterUrl("redis://127.0.0.1:6379")).toBeNull();
    expect(parseRedisClusterUrl("redis-cluster://127.0.0.1:7001,127.0.0.1:7002/")).toEqual({
      nodes: [
        { host: "127.0.0.1", port: 7001 },
        { host: "127.0.0.1", port: 7002 },
      ],
      username: undefined,
      password: undefined,
      tls: false,
    });
    expect(parseRedisClusterUrl("rediss-cluster://agora:s%40cret@[::1]:7001")).toEqual({
      nodes: [{ host: "::1", port: 7001 }],
      username: "agora",
      password: "s@cret",
      tls: true,
    });
    expect(() => parseRedisClusterUrl("redis-cluster://127.0.0.1")).toThrow(/host:port/);
  });

  test("a prefix with a brace is refused: it would put every key in one cluster slot", async () => {
    const redis = await createTestRedis();
    try {
      expect(() => createRedisInfra(redis.client, "agora{x}:")).toThrow(/REDIS_PREFIX/);
    } finally {
      await redis.cleanup();
    }
  });

  test.skipIf(!cluster.up)("the server's client for a redis-cluster:// URL runs commands and scripts across the cluster", async () => {
    const client = createRedisClient(`redis-cluster://${testClusterNodes}`);
    const infra = createRedisInfra(client, `test:${crypto.randomUUID().slice(0, 8)}:`);
    try {
      expect(await infra.ping()).toBe(true);
      // Keys spread over the masters: each adapter call is single-key, so every slot works.
      const keys = Array.from({ length: 30 }, (_, i) => `spread-${i}`);
      await Promise.all(keys.map((k) => infra.cache.set(k, { k }, 10_000)));
      expect(await Promise.all(keys.map((k) => infra.cache.get(k)))).toEqual(keys.map((k) => ({ k })));
      const lock = await infra.locks.acquire("cluster-lock", 10_000);
      expect(await lock?.release()).toBe(true);
      await Promise.all(keys.map((k) => infra.cache.delete(k)));
    } finally {
      await infra.close();
    }
  });
});

/** A fresh prefix on the test Redis and an Infra over it, for `run`; its keys and client go after. */
async function onOneRedis(run: (infra: Infra, client: import("ioredis").Redis) => Promise<void>): Promise<void> {
  const redis = await createTestRedis();
  try {
    await run(createRedisInfra(redis.client, redis.prefix), redis.client as import("ioredis").Redis);
  } finally {
    await redis.cleanup();
  }
}

/** Counts a client method's calls; with `failing` set they fail as a lost connection would. */
function spyOnCalls<Method extends "evalsha" | "mget">(client: import("ioredis").Redis, method: Method) {
  const original = client[method].bind(client) as (...args: unknown[]) => Promise<unknown>;
  const spy = { calls: 0, failing: false };
  client[method] = ((...args: unknown[]) => {
    spy.calls++;
    return spy.failing ? Promise.reject(new Error("connection lost")) : original(...args);
  }) as import("ioredis").Redis[Method];
  return spy;
}

describe("cache reads on one Redis", () => {
  test("the reads of one turn go as one MGET, each answered with its own key's value (missing, forbidden, failed: undefined)", () =>
    onOneRedis(async (infra, client) => {
      const mgets = spyOnCalls(client, "mget");
      await Promise.all(Array.from({ length: 20 }, (_, i) => infra.cache.set(`read-${i}`, { i, at: new Date(i) }, 60_000)));
      await infra.cache.forbid("read-5", 60_000);
      const reads = await Promise.all(Array.from({ length: 25 }, (_, i) => infra.cache.get<{ i: number; at: Date }>(`read-${i}`)));
      expect(mgets.calls).toBe(1);
      expect(reads).toEqual(Array.from({ length: 25 }, (_, i) => (i < 20 && i !== 5 ? { i, at: new Date(i) } : undefined)));
      mgets.failing = true;
      expect(await Promise.all([infra.cache.get("read-1"), infra.cache.get("read-2")])).toEqual([undefined, undefined]);
      expect(mgets.calls).toBe(2);
    }));
});

describe("rate limits on one Redis", () => {
  test("consumeEach calls of one turn go in one script call (500 at most), counted in call order as if alone; a failed call sends each to its limiters", () =>
    onOneRedis(async (infra, client) => {
      const scripts = spyOnCalls(client, "evalsha");
      const callers = infra.rateLimiter({ name: "together-caller", points: 2, durationSeconds: 60 });
      const address = infra.rateLimiter({ name: "together-address", points: 20, durationSeconds: 60 });
      const consume = (caller: string) =>
        infra.consumeEach([
          [callers, caller],
          [address, "10.0.0.1"],
        ] as const);
      // 30 customers behind one address, customer 0 three times.
      const rounds = await Promise.all([consume("0"), consume("0"), consume("0"), ...Array.from({ length: 27 }, (_, i) => consume(String(i + 1)))]);
      expect(scripts.calls).toBe(1);
      expect(rounds.map(([, byAddress]) => byAddress?.allowed)).toEqual([...Array(20).fill(true), ...Array(10).fill(false)]);
      expect(rounds.slice(0, 3).map(([byCaller]) => byCaller?.remaining)).toEqual([1, 0, 0]);
      expect(rounds[2]?.[0]?.allowed).toBe(false);
      expect(rounds.slice(3).every(([byCaller]) => byCaller?.allowed && byCaller.remaining === 1)).toBe(true);

      // At most 500 calls per script call: 600 at once take two, each call still counted once.
      const crowd = await Promise.all(Array.from({ length: 600 }, (_, i) => consume(`crowd-${i}`)));
      expect(scripts.calls).toBe(3);
      expect(crowd.every(([byCaller, byAddress]) => byCaller?.remaining === 1 && byAddress?.allowed === false)).toBe(true);

      scripts.failing = true;
      const fellBack = await Promise.all([consume("31"), consume("32")]);
      expect(scripts.calls).toBe(4); // one failed call for both; then each limiter counts through rate-limiter-flexible
      expect(fellBack.map(([byCaller]) => byCaller)).toEqual([
        { allowed: true, remaining: 1, retryAfterMs: 0 },
        { allowed: true, remaining: 1, retryAfterMs: 0 },
      ]);
      expect(fellBack.every(([, byAddress]) => byAddress?.allowed === false)).toBe(true);
    }));

  test("consumeEach whose script call fails counts each bucket through the limiter itself", () =>
    onOneRedis(async (infra, client) => {
      const scripts = spyOnCalls(client, "evalsha");
      const caller = infra.rateLimiter({ name: "script-fails-caller", points: 2, durationSeconds: 60 });
      const address = infra.rateLimiter({ name: "script-fails-address", points: 5, durationSeconds: 60 });
      const consumeBoth = () =>
        infra.consumeEach([
          [caller, "7"],
          [address, "10.0.0.1"],
        ] as const);
      scripts.failing = true;
      expect(await consumeBoth()).toEqual([
        { allowed: true, remaining: 1, retryAfterMs: 0 },
        { allowed: true, remaining: 4, retryAfterMs: 0 },
      ]);
      expect(scripts.calls).toBe(1);
      scripts.failing = false;
      // The points were counted in Redis, where the script counts them next time.
      expect(await consumeBoth()).toEqual([
        { allowed: true, remaining: 0, retryAfterMs: 0 },
        { allowed: true, remaining: 3, retryAfterMs: 0 },
      ]);
      expect(scripts.calls).toBe(2);
    }));
});
