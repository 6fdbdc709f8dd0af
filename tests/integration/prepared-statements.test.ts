/**
 * Statements compiled once (db/compiled.ts) run as named prepared statements on PostgreSQL: parsed
 * once per connection, then only bound and executed. Off with `preparedStatements: false` (a pooler
 * that cannot keep them).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { directQueryOf } from "../../db/direct.ts";
import { compiledQuery, createDatabase, type DatabaseHandle, inTransaction } from "../../db/index.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";

const productsAbove = compiledQuery((_db, minimumId: number) => sql<{ n: number }>`SELECT count(*)::int AS n FROM catalog_products WHERE id > ${minimumId}`);
/** Planned with its values on every call (a search pattern's plan depends on it): compiled, never named. */
const productsBelow = compiledQuery((_db, maximumId: number) => sql<{ n: number }>`SELECT count(*)::int AS n FROM catalog_products WHERE id < ${maximumId}`, {
  prepared: false,
});

let database: TestDatabase;
let unprepared: DatabaseHandle;

beforeAll(async () => {
  database = await createTestDatabase(2);
  unprepared = await createDatabase({ url: database.url, poolSize: 1, preparedStatements: false });
});

afterAll(async () => {
  await unprepared?.close();
  await database?.drop();
});

const preparedOnConnection = (trx: Parameters<Parameters<typeof inTransaction>[1]>[0]) =>
  sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements`.execute(trx).then((r) => r.rows);

describe("compiled statements", () => {
  test("run as one named prepared statement per connection, with the same answers", async () => {
    const { prepared, answers } = await inTransaction(database.handle.db, async (trx) => {
      const answers = [(await productsAbove(trx, 0)).rows[0]?.n, (await productsAbove(trx, 1_000_000)).rows[0]?.n];
      return { prepared: await preparedOnConnection(trx), answers };
    });
    expect(answers).toEqual([0, 0]);
    const ours = prepared.filter((p) => p.statement.includes("FROM catalog_products WHERE id >"));
    expect(ours).toHaveLength(1);
    expect(ours[0]?.name).toMatch(/^agora_compiled_\d+$/);
  });

  test("other statements are not prepared, nor anything with preparedStatements: false", async () => {
    const prepared = await inTransaction(unprepared.db, async (trx) => {
      await productsAbove(trx, 0);
      await sql`SELECT count(*) FROM catalog_products WHERE id > ${5}`.execute(trx);
      return preparedOnConnection(trx);
    });
    expect(prepared).toEqual([]);
  });

  test("a statement compiled with prepared: false is sent unnamed, with the same answers", async () => {
    const { prepared, answers } = await inTransaction(database.handle.db, async (trx) => {
      const answers = [(await productsBelow(trx, 10)).rows[0]?.n, (await productsBelow(trx, 20)).rows[0]?.n];
      return { prepared: await preparedOnConnection(trx), answers };
    });
    expect(answers).toEqual([0, 0]);
    expect(prepared.filter((p) => p.statement.includes("FROM catalog_products WHERE id <"))).toEqual([]);
  });
});

const backendPid = compiledQuery((_db, tag: number) => sql<{ pid: number; tag: number }>`SELECT pg_backend_pid() AS pid, ${tag}::int AS tag`);
const insertedCategory = compiledQuery((_db, name: string) => sql<{ n: number }>`SELECT count(*)::int AS n FROM catalog_products WHERE name = ${name}`);

describe("compiled statements past Kysely's executor (db/direct.ts)", () => {
  test("inside a transaction they run on its connection: they see its uncommitted rows, and so does nobody else", async () => {
    const name = `direct-${Date.now()}`;
    let transaction: object | null = null;
    const seen = await inTransaction(database.handle.db, async (trx) => {
      transaction = trx;
      expect(directQueryOf(trx)).toBeFunction();
      const kyselyPid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx)).rows[0]?.pid;
      const direct = (await backendPid(trx, 7)).rows[0];
      await trx
        .insertInto("catalog_products")
        .values({ name, category: "direct", price: 1_000, description: "", status: "active", created_at: new Date(), updated_at: new Date() })
        .execute();
      const inside = (await insertedCategory(trx, name)).rows[0]?.n;
      // A lone compiled statement beside the transaction: another connection, which cannot see it yet.
      const outside = (await insertedCategory(database.handle.db, name)).rows[0]?.n;
      return { kyselyPid, direct, inside, outside };
    });
    expect(seen.direct).toEqual({ pid: seen.kyselyPid as number, tag: 7 });
    // Once it has ended, the transaction's client is nobody's shortcut any more.
    expect(directQueryOf(transaction as unknown as object)).toBeUndefined();
    expect(seen.inside).toBe(1);
    expect(seen.outside).toBe(0);
    expect((await insertedCategory(database.handle.db, name)).rows[0]?.n).toBe(1);
    // Lone statements have theirs too (a client checked out for each).
    expect(directQueryOf(database.handle.db)).toBeFunction();
  });

  test("many transactions waiting for a small pool: each one's compiled statements run on its own connection", async () => {
    // More transactions than connections, interleaved: a slot learned from another's BEGIN would show another pid.
    const runs = await Promise.all(
      Array.from({ length: 12 }, (_, tag) =>
        inTransaction(database.handle.db, async (trx) => {
          await Bun.sleep(tag % 3);
          const direct = (await backendPid(trx, tag)).rows[0];
          const kyselyPid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx)).rows[0]?.pid;
          await Bun.sleep((tag * 7) % 4);
          const again = (await backendPid(trx, tag)).rows[0];
          return { direct, again, kyselyPid, tag };
        }),
      ),
    );
    for (const run of runs) {
      expect(run.direct).toEqual({ pid: run.kyselyPid as number, tag: run.tag });
      expect(run.again).toEqual({ pid: run.kyselyPid as number, tag: run.tag });
    }
    expect(new Set(runs.map((run) => run.kyselyPid)).size).toBeLessThanOrEqual(2);
  });

  test("a failed compiled statement fails the transaction as through Kysely, and the rollback leaves the pool clean", async () => {
    const name = `direct-fail-${Date.now()}`;
    const failing = compiledQuery((_db, value: number) => sql`SELECT 1 / ${value}::int AS x`);
    const outcome = await inTransaction(database.handle.db, async (trx) => {
      await trx
        .insertInto("catalog_products")
        .values({ name, category: "direct", price: 1_000, description: "", status: "active", created_at: new Date(), updated_at: new Date() })
        .execute();
      await failing(trx, 0);
      return "committed";
    }).catch((error: { code?: string }) => error.code);
    expect(outcome).toBe("22012");
    expect((await insertedCategory(database.handle.db, name)).rows[0]?.n).toBe(0);
    expect((await backendPid(database.handle.db, 1)).rows[0]?.tag).toBe(1);
  });
});
