/**
 * Real Redis for tests (TEST_REDIS_URL or 127.0.0.1:6379), and a real Redis Cluster for the cluster
 * tests (TEST_REDIS_CLUSTER_NODES, default 127.0.0.1:7001,7002,7003: `scripts/redis-cluster.sh start`,
 * which `.ci/run` runs). Each test file works under its own key prefix.
 */
import { Cluster, Redis } from "ioredis";

const url = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const clusterNodes = (process.env.TEST_REDIS_CLUSTER_NODES ?? "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003").split(",").map((node) => {
  const [host, port] = node.trim().split(":");
  return { host: host as string, port: Number(port) };
});

export interface TestRedis {
  client: Redis | Cluster;
  prefix: string;
  /** Every key under the prefix (on every master of a cluster). */
  keys(pattern?: string): Promise<string[]>;
  /** Deletes every key under the prefix and disconnects. */
  cleanup(): Promise<void>;
}

async function scanAll(nodes: Redis[], match: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", match, "COUNT", 500);
      cursor = next;
      found.push(...keys);
    } while (cursor !== "0");
  }
  return found;
}

function testRedis(client: Redis | Cluster): TestRedis {
  const prefix = `test:${crypto.randomUUID().slice(0, 8)}:`;
  const nodes = () => (client instanceof Cluster ? client.nodes("master") : [client]);
  const keys = (pattern = "*") => scanAll(nodes(), `${prefix}${pattern}`);
  return {
    client,
    prefix,
    keys,
    async cleanup() {
      // One DEL per key: on a cluster the keys live in different slots.
      await Promise.all((await keys()).map((key) => client.del(key)));
      await client.quit().catch(() => client.disconnect());
    },
  };
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
  return testRedis(client);
}

/** The nodes the cluster tests use, for messages. */
export const testClusterNodes = clusterNodes.map((n) => `${n.host}:${n.port}`).join(",");

async function connectCluster(): Promise<Cluster> {
  const client = new Cluster(clusterNodes, {
    enableAutoPipelining: true,
    lazyConnect: true,
    clusterRetryStrategy: () => null, // a cluster that is not there fails at once, not after minutes of retries
    redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 2_000 },
  });
  client.on("error", () => {}); // connect() below reports the failure once
  try {
    await client.connect();
    await client.ping();
    const info = await client.cluster("INFO");
    if (!String(info).includes("cluster_state:ok")) throw new Error("cluster_state is not ok");
    return client;
  } catch (error) {
    client.disconnect();
    throw new Error(
      `No Redis Cluster for tests at ${testClusterNodes}: run \`bash scripts/redis-cluster.sh start\` (bash .ci/run does) or set TEST_REDIS_CLUSTER_NODES. (${String(error)})`,
    );
  }
}

export async function createTestRedisCluster(): Promise<TestRedis> {
  return testRedis(await connectCluster());
}

/**
 * Whether the cluster tests can run. In CI (CI=true) a missing cluster is an error, thrown here so
 * the test file fails loudly; elsewhere the caller skips them with the message.
 */
export async function redisClusterAvailability(): Promise<{ up: true } | { up: false; reason: string }> {
  try {
    const client = await connectCluster();
    await client.quit().catch(() => client.disconnect());
    return { up: true };
  } catch (error) {
    if (process.env.CI === "true") throw error;
    const reason = `${(error as Error).message} — skipping the Redis Cluster tests (they fail in CI)`;
    console.warn(reason);
    return { up: false, reason };
  }
}
