/** Redis down: what can fall back does. The cache misses (callers ask the database), rate limits count in-process. */
import { afterAll, expect, test } from "bun:test";
import { Redis } from "ioredis";
import { createRedisInfra } from "../../modules/kernel/index.ts";
import { freePort } from "../support/server-process.ts";

const port = await freePort(); // nothing listens there
const redis = new Redis({ host: "127.0.0.1", port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
redis.on("error", () => {});
afterAll(() => redis.disconnect());

test("a cache read is a miss and a write is skipped; a delete still fails loudly", async () => {
  const infra = createRedisInfra(redis, "down:");
  expect(await infra.cache.get("popular:3:5")).toBeUndefined();
  await expect(infra.cache.set("popular:3:5", { items: [] }, 1_000)).resolves.toBeUndefined();
  await expect(infra.cache.delete("session:x")).rejects.toThrow();
  expect(await infra.ping()).toBe(false);
});

test("rate limits keep counting in this process", async () => {
  const infra = createRedisInfra(redis, "down:");
  const limiter = infra.rateLimiter({ name: "down-test", points: 2, durationSeconds: 60 });
  const decisions = [await limiter.consume("k"), await limiter.consume("k"), await limiter.consume("k")];
  expect(decisions.map((d) => d.allowed)).toEqual([true, true, false]);
});
