/**
 * db/pipeline.ts on real PostgreSQL: BEGIN goes with the first statement, deferred statements answer
 * at once and their failures surface at the next read or at COMMIT, and a failure rolls the whole
 * transaction back, as without deferral. Also without pg's pipeline mode (preparedStatements: false).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { sql } from "kysely";
import pg from "pg";
import { afterCommit, createDatabase, type DatabaseHandle, deferring, inTransaction, pgErrorCode, refusedByServer } from "../../db/index.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";

let database: TestDatabase;
let unpipelined: DatabaseHandle;

beforeAll(async () => {
  database = await createTestDatabase(2);
  unpipelined = await createDatabase({ url: database.url, poolSize: 1, preparedStatements: false });
  await sql`CREATE TABLE pipeline_probe (id int PRIMARY KEY, note text NOT NULL)`.execute(database.handle.db);
});

afterAll(async () => {
  await unpipelined?.close();
  await database?.drop();
});

const rows = async (handle: DatabaseHandle) => (await sql<{ id: number }>`SELECT id FROM pipeline_probe ORDER BY id`.execute(handle.db)).rows.map((r) => r.id);

async function failure(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (error) {
    return error;
  }
  throw new Error("expected a failure");
}

for (const [label, handle] of [
  ["pipeline mode", () => database.handle],
  ["without pipeline mode", () => unpipelined],
] as const) {
  describe(label, () => {
    test("deferred statements answer with no rows at once, and are committed with the transaction", async () => {
      await sql`TRUNCATE pipeline_probe`.execute(handle().db);
      const answers = await inTransaction(handle().db, (trx) =>
        deferring(trx, async () => [
          (await sql`INSERT INTO pipeline_probe VALUES (1, 'a') RETURNING id`.execute(trx)).rows.length,
          (await sql`INSERT INTO pipeline_probe VALUES (2, 'b') RETURNING id`.execute(trx)).rows.length,
        ]),
      );
      expect(answers).toEqual([0, 0]);
      expect(await rows(handle())).toEqual([1, 2]);
    });

    test("a deferred failure surfaces at the next statement that reads, with its own error, and nothing stays", async () => {
      await sql`TRUNCATE pipeline_probe`.execute(handle().db);
      await sql`INSERT INTO pipeline_probe VALUES (1, 'kept')`.execute(handle().db);
      const error = await failure(
        inTransaction(handle().db, async (trx) => {
          await sql`INSERT INTO pipeline_probe VALUES (5, 'new')`.execute(trx);
          await deferring(trx, () => sql`INSERT INTO pipeline_probe VALUES (1, 'duplicate')`.execute(trx));
          return sql`SELECT count(*) FROM pipeline_probe`.execute(trx);
        }),
      );
      expect(pgErrorCode(error)).toBe("23505");
      expect(await rows(handle())).toEqual([1]);
    });

    test("a deferred failure in the tail surfaces at COMMIT, and the connection is clean for the next transaction", async () => {
      await sql`TRUNCATE pipeline_probe`.execute(handle().db);
      const error = await failure(
        inTransaction(handle().db, async (trx) => {
          await sql`INSERT INTO pipeline_probe VALUES (7, 'new')`.execute(trx);
          await deferring(trx, () => sql`INSERT INTO pipeline_probe VALUES (8, NULL)`.execute(trx));
        }),
      );
      expect(pgErrorCode(error)).toBe("23502");
      expect(await rows(handle())).toEqual([]);
      await inTransaction(handle().db, (trx) => sql`INSERT INTO pipeline_probe VALUES (9, 'after')`.execute(trx));
      expect(await rows(handle())).toEqual([9]);
    });

    test("a deferred failure caught by the work keeps the work's own error, and the connection stays in the pool", async () => {
      await sql`TRUNCATE pipeline_probe`.execute(handle().db);
      await sql`INSERT INTO pipeline_probe VALUES (1, 'kept')`.execute(handle().db);
      const backend = async () => (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(handle().db)).rows[0]?.pid;
      const before = await backend();
      const error = await failure(
        inTransaction(handle().db, async (trx) => {
          await deferring(trx, () => sql`INSERT INTO pipeline_probe VALUES (1, 'duplicate')`.execute(trx));
          try {
            await sql`SELECT count(*) FROM pipeline_probe`.execute(trx);
          } catch {
            throw new Error("the work's own refusal");
          }
        }),
      );
      expect((error as Error).message).toBe("the work's own refusal");
      expect(await rows(handle())).toEqual([1]);
      // One pooled connection in the unpipelined handle: the same backend means it was not thrown away.
      if (label === "without pipeline mode") expect(await backend()).toBe(before);
    });

    test("a transaction that sends nothing, and one that rolls back, leave the connection usable", async () => {
      expect(await inTransaction(handle().db, async () => "nothing")).toBe("nothing");
      await failure(
        inTransaction(handle().db, async (trx) => {
          await sql`INSERT INTO pipeline_probe VALUES (10, 'rolled back')`.execute(trx);
          throw new Error("changed my mind");
        }),
      );
      const status = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pipeline_probe WHERE id = 10`.execute(handle().db);
      expect(status.rows[0]?.n).toBe(0);
    });
  });
}

test("a transaction's tail and its COMMIT leave in one socket write (db/client.ts coalescingWrites)", async () => {
  const socket = net.Socket.prototype as unknown as Record<"_write" | "_writev", (...args: unknown[]) => unknown>;
  const original = { _write: socket._write, _writev: socket._writev };
  let counting = false;
  let writes = 0;
  let inWritev = false;
  socket._write = function (this: unknown, ...args: unknown[]) {
    if (counting && !inWritev) writes++;
    return original._write.apply(this, args);
  };
  socket._writev = function (this: unknown, ...args: unknown[]) {
    if (counting) writes++;
    inWritev = true;
    try {
      return original._writev.apply(this, args);
    } finally {
      inWritev = false;
    }
  };
  try {
    await sql`TRUNCATE pipeline_probe`.execute(database.handle.db);
    await inTransaction(database.handle.db, async (trx) => {
      await sql`SELECT count(*) FROM pipeline_probe`.execute(trx);
      counting = true;
      await deferring(trx, async () => {
        for (const id of [1, 2, 3]) await sql`INSERT INTO pipeline_probe VALUES (${id}, 'tail')`.execute(trx);
      });
    });
    counting = false;
    // Three inserts and the COMMIT: four statements, one write (four without coalescing).
    expect(writes).toBe(1);
    expect(await rows(database.handle)).toEqual([1, 2, 3]);
  } finally {
    counting = false;
    socket._write = original._write;
    socket._writev = original._writev;
  }
});

test("afterCommit work runs once the transaction has committed, in order, and never after a rollback or a failed COMMIT", async () => {
  const db = database.handle.db;
  const ran: string[] = [];
  const value = await inTransaction(db, async (trx) => {
    await sql`INSERT INTO pipeline_probe (id, note) VALUES (900, 'after commit')`.execute(trx);
    afterCommit(trx, () => ran.push("first"));
    afterCommit(trx, () => ran.push("second"));
    expect(ran).toEqual([]);
    return "committed";
  });
  expect(value).toBe("committed");
  expect(ran).toEqual(["first", "second"]);
  expect(await rows(database.handle)).toContain(900);

  await failure(
    inTransaction(db, async (trx) => {
      afterCommit(trx, () => ran.push("rolled back"));
      throw new Error("refused");
    }),
  );
  // A deferred constraint fails at COMMIT: the body returned, the transaction did not commit.
  await sql`CREATE TABLE IF NOT EXISTS after_commit_probe (id int PRIMARY KEY, parent int REFERENCES pipeline_probe (id) DEFERRABLE INITIALLY DEFERRED)`.execute(
    db,
  );
  await failure(
    inTransaction(db, async (trx) => {
      await sql`INSERT INTO after_commit_probe (id, parent) VALUES (1, 424242)`.execute(trx);
      afterCommit(trx, () => ran.push("commit failed"));
    }),
  );
  expect(ran).toEqual(["first", "second"]);
});

test("refusedByServer: true for PostgreSQL's own answer on a live connection, false for a lost connection or a server going away", async () => {
  const refused = await sql`SELECT 1 / 0`.execute(database.handle.db).catch((error: unknown) => error);
  expect(pgErrorCode(refused)).toBe("22012");
  expect(refusedByServer(refused)).toBe(true);
  // A backend terminated under a statement: FATAL 57P01 (admin shutdown), then the connection is gone.
  const victim = new pg.Client({ connectionString: database.url });
  await victim.connect();
  victim.on("error", () => {});
  const pid = (await victim.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
  const killed = victim.query("SELECT pg_sleep(5)").catch((error: unknown) => error);
  await Bun.sleep(50);
  await sql`SELECT pg_terminate_backend(${pid})`.execute(database.handle.db);
  const terminated = await killed;
  expect(refusedByServer(terminated)).toBe(false);
  await victim.end().catch(() => {});
  expect(refusedByServer(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }))).toBe(false);
  expect(refusedByServer(new Error("Connection terminated unexpectedly"))).toBe(false);
  expect(refusedByServer(Object.assign(new Error("server conn crashed?"), { code: "08P01", severity: "ERROR" }))).toBe(false);
});
