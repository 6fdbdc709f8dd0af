/** Real Redis for tests (TEST_REDIS_URL or 127.0.0.1:6379); each test file works under its own key prefix. */
import { Redis } from "ioredis";

const url = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export interface TestRedis {
  client: Redis;
  prefix: string;
  /** Deletes every key under the prefix and disconnects. */
  cleanup(): Promise<void>;
}

export async function createTestRedis(): Promise<TestRedis> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, enableAutoPipelining: true, lazyConnect: true });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw new Error(`No Redis for tests at ${url}: start one (bash .ci/run does) or set TEST_REDIS_URL. (${String(error)})`);
  }
  const prefix = `test:${crypto.randomUUID().slice(0, 8)}:`;
  return {
    client,
    prefix,
    async cleanup() {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
        cursor = next;
        if (keys.length) await client.del(...keys);
      } while (cursor !== "0");
      await client.quit().catch(() => client.disconnect());
    },
  };
}
