/**
 * A row lock cannot be taken outside a transaction: `Db` (the database outside one) and `Tx` are
 * disjoint types. The `@ts-expect-error` lines make `bun run typecheck` fail the day either
 * compiles; the tests check the one place a Kysely instance becomes a `Db`.
 */
import { describe, expect, test } from "bun:test";
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from "kysely";
import type { Database, Db, Tx } from "../../db/index.ts";
import { outsideTransaction } from "../../db/unit-of-work.ts";

export function lockHelpersTakeOnlyATransaction(db: Db, executor: Db | Tx, lockHelper: (trx: Tx) => void): void {
  // @ts-expect-error the database outside a transaction is not a transaction
  lockHelper(db);
  // @ts-expect-error nor can it be cast to one
  lockHelper(db as Tx);
  // A `Db | Tx` narrows on isTransaction: no cast needed.
  if (executor.isTransaction) lockHelper(executor);
}

function offlineKysely(): Kysely<Database> {
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
}

describe("outsideTransaction", () => {
  test("accepts the database outside a transaction", () => {
    const kysely = offlineKysely();
    expect(outsideTransaction(kysely)).toBe(kysely as Db);
  });

  test("refuses a transaction", async () => {
    const kysely = offlineKysely();
    await expect(kysely.transaction().execute(async (trx) => outsideTransaction(trx))).rejects.toThrow("is a transaction");
  });
});
