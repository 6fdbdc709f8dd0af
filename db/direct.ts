/**
 * Compiled statements (db/compiled.ts) straight to the pg client, past Kysely's executor.
 *
 * Kysely runs every statement through its connection provider and connection wrapper: 12–14 µs
 * of server CPU per statement on these machines over the ~33 µs of the pg client and Agora's
 * wrapper (`bun scripts/bench/statement-cost.ts`), with ten statements on every order. A compiled statement has
 * nothing for Kysely to do (no plugins, no building), so it goes to the client the transaction's
 * BEGIN went to, through the same wrapper as every other statement (db/client.ts: naming,
 * db/pipeline.ts: BEGIN with the first statement, deferral). What has no client here (PGlite, a
 * transaction not opened by `inTransaction`) goes through Kysely as before.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { QueryResult } from "kysely";

/** A pool client's (wrapped) `query`, or the pool's for lone statements. */
export type DirectQuery = (text: string, values: unknown[]) => Promise<{ command?: string; rowCount?: number | null; rows?: unknown[] }>;

/** While a transaction opens: the client its BEGIN is sent to. */
const opening = new AsyncLocalStorage<{ query?: DirectQuery }>();
const transactionQueries = new WeakMap<object, DirectQuery>();
const databaseQueries = new WeakMap<object, DirectQuery>();

/**
 * Opens a transaction with `open` (Kysely's `transaction().execute`), learning the client its BEGIN
 * goes to; `bind(trx)` lets the transaction's compiled statements use it, until `unbind(trx)`.
 */
export function openingTransaction<T>(open: (bind: (trx: object) => void, unbind: (trx: object) => void) => Promise<T>): Promise<T> {
  const slot: { query?: DirectQuery } = {};
  return opening.run(slot, () =>
    open(
      (trx) => {
        if (slot.query) transactionQueries.set(trx, slot.query);
      },
      (trx) => transactionQueries.delete(trx),
    ),
  );
}

/** Told by a wrapped client that it is sending BEGIN (db/client.ts). */
export function noteBegin(query: DirectQuery): void {
  const slot = opening.getStore();
  if (slot && !slot.query) slot.query = query;
}

/** Lone statements of `db` go to `query` (a client checked out for each, as Kysely would). */
export function registerDatabaseQuery(db: object, query: DirectQuery): void {
  databaseQueries.set(db, query);
}

/** The direct path for `executor` (a transaction or the database), if it has one. */
export function directQueryOf(executor: object): DirectQuery | undefined {
  return transactionQueries.get(executor) ?? databaseQueries.get(executor);
}

/** A pg result as Kysely's PostgreSQL driver hands it on. */
export function asQueryResult<Row>(result: { command?: string; rowCount?: number | null; rows?: unknown[] }): QueryResult<Row> {
  const { command, rowCount } = result;
  const affects = command === "INSERT" || command === "UPDATE" || command === "DELETE" || command === "MERGE";
  return { rows: (result.rows ?? []) as Row[], ...(affects ? { numAffectedRows: BigInt(rowCount ?? 0) } : {}) };
}
