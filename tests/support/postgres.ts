/**
 * Where tests find PostgreSQL, in this order: TEST_DATABASE_URL; a local server at 127.0.0.1:5432;
 * a throwaway container through @testcontainers/postgresql when a container runtime exists.
 * Otherwise one clear error naming the three options.
 *
 * Each test file gets its own database cloned from a migrated template (fast and isolated).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { createDatabase, type DatabaseHandle, migrateToLatest } from "../../db/index.ts";

const LOCAL_URL = "postgres://postgres@127.0.0.1:5432/postgres";

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function startContainer(): Promise<string | null> {
  try {
    const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
    const container = await new PostgreSqlContainer("postgres:16-alpine").start();
    process.on("exit", () => void container.stop());
    return container.getConnectionUri();
  } catch {
    return null;
  }
}

let serverUrlPromise: Promise<string> | undefined;

/** URL of a maintenance database on the chosen server (used to create and drop test databases). */
export function serverUrl(): Promise<string> {
  serverUrlPromise ??= (async () => {
    if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
    if (await canConnect(LOCAL_URL)) return LOCAL_URL;
    const containerUrl = await startContainer();
    if (containerUrl) return containerUrl;
    throw new Error(
      "No PostgreSQL for tests. Either set TEST_DATABASE_URL, start a local server on 127.0.0.1:5432 " +
        "(user postgres, trust auth; `bash .ci/run` does this), or run a container engine so @testcontainers/postgresql can start one.",
    );
  })();
  return serverUrlPromise;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Template name from the migrations' content: a changed migration gets a fresh template. */
function templateName(): string {
  const dir = join(import.meta.dir, "../../db/migrations");
  const hash = createHash("sha256");
  for (const file of readdirSync(dir).sort()) hash.update(file).update(readFileSync(join(dir, file)));
  return `agora_tpl_${hash.digest("hex").slice(0, 16)}`;
}

let templatePromise: Promise<string> | undefined;

/** Creates the migrated template once; several test processes may race, an advisory lock orders them. */
export function ensureTemplate(): Promise<string> {
  templatePromise ??= (async () => {
    const url = await serverUrl();
    const name = templateName();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query("select pg_advisory_lock(hashtext('agora-test-template'))");
      const exists = await admin.query("select 1 from pg_database where datname = $1", [name]);
      if (exists.rowCount === 0) {
        const building = `${name}_building_${process.pid}`;
        await admin.query(`drop database if exists "${building}"`);
        await admin.query(`create database "${building}"`);
        const handle = await createDatabase({ url: withDatabase(url, building), poolSize: 2 });
        try {
          await migrateToLatest(handle.db);
        } finally {
          await handle.close();
        }
        // Published under its final name only once complete.
        await admin.query(`alter database "${building}" rename to "${name}"`);
      }
    } finally {
      await admin.query("select pg_advisory_unlock(hashtext('agora-test-template'))").catch(() => {});
      await admin.end();
    }
    return name;
  })();
  return templatePromise;
}

export interface TestDatabase {
  handle: DatabaseHandle;
  url: string;
  name: string;
  /** Closes the pool (waiting for every connection to end), then drops the database. */
  drop(): Promise<void>;
}

export interface TestDatabaseRoute {
  /** The URL the pool connects to, from the direct one (e.g. the same database through PgBouncer). */
  connectUrl(directUrl: string): string;
  /** Runs after the pool is closed, before the database is dropped (e.g. tell a pooler to let go of it). */
  beforeDrop?(name: string): Promise<void>;
  /** false: no named prepared statements (DATABASE_PREPARED_STATEMENTS=false), for a pooler that cannot keep them. */
  preparedStatements?: boolean;
}

/** A fresh database from the migrated template; `route` sends the pool another way (the default: directly). */
export async function createTestDatabase(poolSize = 20, route?: TestDatabaseRoute): Promise<TestDatabase> {
  const url = await serverUrl();
  const template = await ensureTemplate();
  const name = `agora_t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`create database "${name}" template "${template}"`);
  } finally {
    await admin.end();
  }
  const dbUrl = withDatabase(url, name);
  const handle = await createDatabase({
    url: route ? route.connectUrl(dbUrl) : dbUrl,
    poolSize,
    preparedStatements: route?.preparedStatements,
  });
  let dropped = false;
  return {
    handle,
    url: dbUrl,
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await handle.close();
      await route?.beforeDrop?.(name);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // pg-pool's end() resolves before its sockets are closed. Dropping WITH (FORCE) at once kills
        // the closing connections, which then surface as unhandled 57P01 errors: wait for them first.
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          const open = await client.query("select count(*)::int as n from pg_stat_activity where datname = $1", [name]);
          if (open.rows[0]?.n === 0) break;
          await Bun.sleep(20);
        }
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
