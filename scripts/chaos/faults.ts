/**
 * The faults a failing data centre produces, each aimed only at this run's own scratch database,
 * Redis prefix, server process and fakes.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import pg from "pg";
import { PG_SERVER_URL, type ScratchRedis } from "../bench/services.ts";

/** `pg_terminate_backend` on every connection to the scratch database (but the one asking). */
export async function terminateBackends(databaseName: string): Promise<number> {
  const admin = new pg.Client({ connectionString: PG_SERVER_URL, application_name: "agora-chaos" });
  await admin.connect();
  try {
    const result = await admin.query<{ n: number }>(
      "select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
      [databaseName],
    );
    return result.rows[0]?.n ?? 0;
  } finally {
    await admin.end().catch(() => {});
  }
}

/** Deletes every key under the run's prefix (sessions cache, coupon admission, locks, rate limits). */
export async function deletePrefixKeys(redis: ScratchRedis): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.client.scan(cursor, "MATCH", `${redis.prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.client.del(...keys);
  } while (cursor !== "0");
  return deleted;
}

/**
 * The local TCP ports of a process's connections to `remotePort` on loopback, from /proc: the
 * process's socket inodes (/proc/<pid>/fd) matched against /proc/net/tcp{,6}.
 */
export function localPortsTo(pid: number, remotePort: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // closed while we looked
    }
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const [, local = "", remote = "", state = ""] = fields;
      const inode = fields[9] ?? "";
      // 01 = ESTABLISHED
      if (state !== "01" || !inodes.has(inode)) continue;
      if (Number.parseInt(remote.split(":")[1] ?? "", 16) !== remotePort) continue;
      ports.push(Number.parseInt(local.split(":")[1] ?? "", 16));
    }
  }
  return ports;
}

/**
 * `CLIENT KILL` for each Redis connection the server process holds (found by its local address in
 * CLIENT LIST); other clients of the same Redis are not touched. Returns how many were killed.
 */
export async function killServerRedisClients(redis: ScratchRedis, serverPid: number, redisPort: number): Promise<number> {
  const ports = new Set(localPortsTo(serverPid, redisPort));
  const list = (await redis.client.call("CLIENT", "LIST", "TYPE", "normal")) as string;
  let killed = 0;
  for (const line of list.split("\n")) {
    const addr = /(?:^| )addr=(\S+)/.exec(line)?.[1];
    const port = Number(addr?.split(":").pop());
    if (!addr || !ports.has(port)) continue;
    killed += Number(await redis.client.call("CLIENT", "KILL", "ADDR", addr, "SKIPME", "yes").catch(() => 0));
  }
  return killed;
}
