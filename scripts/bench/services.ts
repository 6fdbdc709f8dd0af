/**
 * What a benchmark run stands up and always takes down again: scratch databases on the local
 * PostgreSQL, a Redis key prefix, the fake outside systems and the Agora server as child processes.
 *
 * Everything registers an undo step with `cleanup`; the steps run in reverse order at the end,
 * on failure and on Ctrl-C / SIGTERM. Only databases this run created are ever dropped.
 */
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { Redis } from "ioredis";
import pg from "pg";
import { createDatabase, type DatabaseHandle, migrateToLatest } from "../../db/index.ts";
import { progress, randomId, sleep } from "./util.ts";

export const repoRoot = resolve(import.meta.dir, "../..");

// ── cleanup ───────────────────────────────────────────────────────────────

type Undo = { label: string; run: () => Promise<void> };
const undos: Undo[] = [];
let cleaning: Promise<void> | null = null;

/** Registers an undo step; returns a function that runs it early (and only once). */
export function onCleanup(label: string, run: () => Promise<void>): () => Promise<void> {
  let done = false;
  const undo: Undo = {
    label,
    run: async () => {
      if (done) return;
      done = true;
      await run();
    },
  };
  undos.push(undo);
  return async () => {
    const index = undos.indexOf(undo);
    if (index >= 0) undos.splice(index, 1);
    await undo.run();
  };
}

/** Runs every registered undo step, newest first; errors are reported, not thrown. */
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (undos.length > 0) {
      const undo = undos.pop() as Undo;
      try {
        await undo.run();
      } catch (error) {
        process.stderr.write(`bench cleanup: ${undo.label} failed: ${String(error)}\n`);
      }
    }
  })();
  return cleaning;
}

let signalled = false;
/** True once Ctrl-C / SIGTERM started the cleanup (errors of the interrupted run are expected then). */
export const interrupted = () => signalled;
/** Ctrl-C and SIGTERM clean up before exiting (130 / 143). A second signal exits at once. */
export function installSignalHandlers(): void {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.on(signal, () => {
      if (signalled) process.exit(code);
      signalled = true;
      process.stderr.write(`\nbench: ${signal}, cleaning up (again to exit at once)\n`);
      void cleanupAll().finally(() => process.exit(code));
    });
  }
}

// ── PostgreSQL scratch databases ─────────────────────────────────────────

export const PG_SERVER_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

function databaseUrl(name: string): string {
  const url = new URL(PG_SERVER_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_SERVER_URL, application_name: "agora-bench" });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export interface ScratchDatabase {
  name: string;
  url: string;
  /** The harness's own pool: data preparation, fixtures and the invariant checks. */
  handle: DatabaseHandle;
  drop(): Promise<void>;
}

const SCRATCH_NAME = /^agora_bench_[a-z0-9_]+$/;

/** Creates `agora_bench_<random>`, migrates it (unless `migrate: false`), and registers its drop. */
export async function createScratchDatabase(
  label: string,
  settings: Record<string, string> = {},
  { migrate = true }: { migrate?: boolean } = {},
): Promise<ScratchDatabase> {
  const name = `agora_bench_${label}_${randomId(8)}`;
  if (!SCRATCH_NAME.test(name)) throw new Error(`bad scratch database name ${name}`);
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  let handle: DatabaseHandle | null = null;
  const drop = onCleanup(`drop database ${name}`, async () => {
    await handle?.close().catch(() => {});
    await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    progress("cleanup", `dropped database ${name}`);
  });
  for (const [setting, value] of Object.entries(settings)) {
    await withAdmin((c) => c.query(`ALTER DATABASE "${name}" SET ${setting} = ${pg.escapeLiteral(value)}`));
  }
  const url = databaseUrl(name);
  handle = await createDatabase({ url, poolSize: 8 });
  if (migrate) await migrateToLatest(handle.db);
  return { name, url, handle, drop };
}

// ── Redis prefix ─────────────────────────────────────────────────────────

export interface ScratchRedis {
  prefix: string;
  client: Redis;
  /** Keys under the prefix right now. */
  count(): Promise<number>;
}

async function scanDelete(client: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
}

/** A fresh key prefix (`bench:<random>:`); every key under it is deleted at the end. */
export async function createScratchRedis(): Promise<ScratchRedis> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await client.connect();
  const prefix = `bench:${randomId(8)}:`;
  onCleanup(`redis keys ${prefix}*`, async () => {
    const deleted = await scanDelete(client, prefix);
    await client.quit().catch(() => client.disconnect());
    progress("cleanup", `deleted ${deleted} Redis keys under ${prefix}`);
  });
  return {
    prefix,
    client,
    async count() {
      let cursor = "0";
      let n = 0;
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        n += keys.length;
      } while (cursor !== "0");
      return n;
    },
  };
}

// ── child processes ──────────────────────────────────────────────────────

export async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = probe.port as number;
  await probe.stop(true);
  return port;
}

export interface Child {
  name: string;
  pid: number;
  url: string;
  logFile: string;
  process: Subprocess;
  /** Last lines of its log, for error messages. */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

async function waitUntil(what: string, child: Subprocess, logTail: () => string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${logTail()}`);
    }
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} was not ready within ${timeoutMs / 1000}s:\n${logTail()}`);
}

export interface SpawnOptions {
  name: string;
  args: string[];
  /** The child's whole environment. */
  env: Record<string, string | undefined>;
  port: number;
  /** GET this path until it answers; `anyAnswer`: any HTTP status will do (else 2xx). */
  readyPath: string;
  anyAnswer?: boolean;
  logDir: string;
  readyTimeoutMs?: number;
}

/** Starts `bun <args>` with its output in a log file, waits for GET readyPath to answer. */
export async function spawnChild(options: SpawnOptions): Promise<Child> {
  mkdirSync(options.logDir, { recursive: true });
  const logFile = join(options.logDir, `${options.name}.log`);
  const fd = openSync(logFile, "a");
  const child = Bun.spawn([process.execPath, ...options.args], {
    cwd: repoRoot,
    env: options.env,
    stdin: "ignore",
    stdout: fd,
    stderr: fd,
  });
  closeSync(fd);
  const url = `http://127.0.0.1:${options.port}`;
  const logTail = (lines = 30) => {
    try {
      return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  };
  const stop = onCleanup(`stop ${options.name}`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const exited = await Promise.race([child.exited.then(() => true), sleep(15_000).then(() => false)]);
    if (!exited) {
      child.kill("SIGKILL");
      await child.exited;
    }
  });
  try {
    await waitUntil(
      options.name,
      child,
      logTail,
      async () => {
        const response = await fetch(`${url}${options.readyPath}`);
        return options.anyAnswer === true || response.ok;
      },
      options.readyTimeoutMs ?? 60_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { name: options.name, pid: child.pid, url, logFile, process: child, logTail, stop };
}
