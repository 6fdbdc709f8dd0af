/**
 * DB_STATEMENT_TIMEOUT_MS on real PostgreSQL: a statement stuck behind another session's lock fails
 * with 57014 after the timeout (a retryable "unavailable", not a hang), and migrations at start run
 * without it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { sql } from "kysely";
import pg from "pg";
import pino from "pino";
import { createDatabase, type DatabaseHandle, inTransaction, isConnectionError, pgErrorCode } from "../../db/index.ts";
import { untimedMigrations } from "../../db/migrate.ts";
import { openAndMigrate } from "../../db/startup.ts";
import { publicProcedure, type RequestContext, router } from "../../modules/kernel/index.ts";
import { createTestDatabase, serverUrl, type TestDatabase } from "../support/postgres.ts";

let database: TestDatabase;
let timed: DatabaseHandle;

beforeAll(async () => {
  database = await createTestDatabase(2);
  timed = await createDatabase({ url: database.url, poolSize: 2, statementTimeoutMs: 300 });
  await sql`CREATE TABLE timeout_probe (id int PRIMARY KEY, note text NOT NULL)`.execute(database.handle.db);
  await sql`INSERT INTO timeout_probe VALUES (1, 'free')`.execute(database.handle.db);
});

afterAll(async () => {
  await timed?.close();
  await database?.drop();
});

test("a write stuck behind another session's row lock fails after the timeout, as a retryable outage; the row is unchanged", async () => {
  const holder = new pg.Client({ connectionString: database.url });
  await holder.connect();
  try {
    await holder.query("BEGIN");
    await holder.query("SELECT * FROM timeout_probe WHERE id = 1 FOR UPDATE");
    const started = performance.now();
    const error = await inTransaction(timed.db, (trx) => sql`UPDATE timeout_probe SET note = 'changed' WHERE id = 1`.execute(trx)).then(
      () => null,
      (failure: unknown) => failure,
    );
    const waited = performance.now() - started;
    expect(pgErrorCode(error)).toBe("57014");
    expect(isConnectionError(error)).toBe(true);
    expect(waited).toBeLessThan(10_000);
    await holder.query("ROLLBACK");
    // The connection is usable again, with the timeout still set.
    expect((await sql<{ statement_timeout: string }>`SHOW statement_timeout`.execute(timed.db)).rows[0]?.statement_timeout).toBe("300ms");
    expect((await sql<{ note: string }>`SELECT note FROM timeout_probe WHERE id = 1`.execute(timed.db)).rows[0]?.note).toBe("free");
  } finally {
    await holder.end();
  }
});

test("migrations at start run without the timeout (1 ms would fail them), and the pool keeps it afterwards", async () => {
  const name = `agora_t_timeout_${crypto.randomUUID().slice(0, 8)}`;
  const url = new URL(await serverUrl());
  url.pathname = `/${name}`;
  const { database: opened, applied } = await openAndMigrate({ url: url.toString(), poolSize: 1, statementTimeoutMs: 1 });
  try {
    expect(applied.length).toBeGreaterThan(10);
    expect((await sql<{ statement_timeout: string }>`SHOW statement_timeout`.execute(opened.db)).rows[0]?.statement_timeout).toBe("1ms");
  } finally {
    await opened.close();
    const admin = new pg.Client({ connectionString: await serverUrl() });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.end();
  }
});

test("through a procedure: the caller gets a retryable SERVICE_UNAVAILABLE, the operator one warning with the driver's 57014", async () => {
  const lines: Array<{ level: number; msg: string; err?: { code?: string } }> = [];
  const log = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const app = router({
    stuck: publicProcedure.mutation(() => inTransaction(timed.db, (trx) => sql`UPDATE timeout_probe SET note = 'changed' WHERE id = 1`.execute(trx))),
  });
  const holder = new pg.Client({ connectionString: database.url });
  await holder.connect();
  try {
    await holder.query("BEGIN");
    await holder.query("SELECT * FROM timeout_probe WHERE id = 1 FOR UPDATE");
    const ctx: RequestContext = { requestId: "r-timeout", ip: null, session: null, log, metrics: null, limits: null };
    const error = await app
      .createCaller(ctx)
      .stuck()
      .then(
        () => null,
        (failure: unknown) => failure as { code?: string; cause?: { domainCode?: string } },
      );
    expect(error?.code).toBe("SERVICE_UNAVAILABLE");
    expect(error?.cause?.domainCode).toBe("SERVICE_UNAVAILABLE");
    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toContain("statement timed out");
    expect(warnings[0]?.err?.code).toBe("57014");
  } finally {
    await holder.query("ROLLBACK");
    await holder.end();
  }
});

test("each migration runs without statement_timeout whatever set one (SET LOCAL: nothing outlives its transaction)", async () => {
  const [name, migration] = Object.entries(untimedMigrations)[0] ?? [];
  if (!name || !migration) throw new Error("no migrations");
  const scratch = await createTestDatabase(1);
  // One connection with a timeout of its own: a SET that outlived the transaction would change it.
  const pooled = await createDatabase({ url: scratch.url, poolSize: 1, statementTimeoutMs: 5_000 });
  try {
    // Committed: a session-level SET would outlive it (a rolled-back one would not).
    const inside = await pooled.db.transaction().execute(async (trx) => {
      await sql`DROP SCHEMA public CASCADE`.execute(trx);
      await sql`CREATE SCHEMA public`.execute(trx);
      // As a role's or a database's own setting would have it.
      await sql`SET LOCAL statement_timeout = '1ms'`.execute(trx);
      await migration.up(trx);
      return (await sql<{ statement_timeout: string }>`SHOW statement_timeout`.execute(trx)).rows[0]?.statement_timeout;
    });
    expect(inside).toBe("0");
    expect((await sql<{ statement_timeout: string }>`SHOW statement_timeout`.execute(pooled.db)).rows[0]?.statement_timeout).toBe("5s");
  } finally {
    await pooled.close();
    await scratch.drop();
  }
});
