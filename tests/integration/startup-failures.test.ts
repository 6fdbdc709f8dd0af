/**
 * What a newcomer sees when the database is not there yet: the server creates it when the URL's user
 * may, and otherwise says in one line how to create it. And `db:migrate` has --help and status.
 */
import { afterAll, expect, test } from "bun:test";
import pg from "pg";
import { serverUrl } from "../support/postgres.ts";
import { runProcess } from "../support/seeded-server.ts";
import { startServerProcess } from "../support/server-process.ts";

// Named like the test databases, so CI's leftover sweep drops it if this run is killed.
const missing = `agora_t_${Date.now().toString(36)}_missing`;
const role = `agora_nocreate_${process.pid}`;

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: await serverUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function urlFor(user: string, database: string, base: string): string {
  const url = new URL(base);
  url.username = user;
  url.password = "";
  url.pathname = `/${database}`;
  return url.toString();
}

afterAll(async () => {
  await admin(async (client) => {
    await client.query(`drop database if exists "${missing}" with (force)`);
    await client.query(`drop role if exists "${role}"`);
  });
}, 30_000);

test("a missing database is created when the user may", async () => {
  const base = await serverUrl();
  const server = await startServerProcess({
    env: { DATABASE_URL: urlFor(new URL(base).username || "postgres", missing, base), DB_POOL_SIZE: "2" },
    readyTimeoutMs: 90_000,
  });
  try {
    expect(server.output()).toContain('"database created"');
    // SERVER_ENGINE_ENV reached the process (tests/support/server-process.ts starts it as the scripts do).
    expect(server.output()).toContain('"optimizingJit":"off"');
  } finally {
    await server.stop();
  }
}, 120_000);

test("otherwise one line says how to create it", async () => {
  const base = await serverUrl();
  await admin((client) => client.query(`create role "${role}" login nocreatedb`));
  const server = await startServerProcess({ env: { DATABASE_URL: urlFor(role, `${missing}_other`, base) }, waitForReady: false });
  await server.process.exited;
  expect(server.process.exitCode).toBe(1);
  const lines = server.output().trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^agora: the database "${missing}_other" does not exist on .*: create it with \`createdb `));
}, 60_000);

test("db:migrate --help, status", async () => {
  const help = await runProcess([process.execPath, "db/migrate-cli.ts", "--help"], {});
  expect(help.exitCode).toBe(0);
  expect(help.stdout).toContain("status");
  expect(help.stdout).toContain("down");
  const base = await serverUrl();
  const status = await runProcess([process.execPath, "db/migrate-cli.ts", "status"], {
    DATABASE_URL: urlFor(new URL(base).username || "postgres", missing, base),
  });
  expect(status.stderr).toBe("");
  expect(status.stdout).toMatch(/\d+ applied, 0 pending \(DATABASE_URL\)/);
  const unknown = await runProcess([process.execPath, "db/migrate-cli.ts", "sideways"], {});
  expect(unknown.exitCode).toBe(2);
}, 60_000);
