import { type RawBuilder, sql } from "kysely";
import type { Db, Tx } from "../../db/index.ts";
import { compiledQuery, LockRank, noteLock } from "../../db/index.ts";

export interface KeyId {
  userId: number;
  scope: string;
  key: string;
}

// The claim and the completion run on every keyed order and charge: compiled once (db/compiled.ts).
const insertKey = compiledQuery((db, userId: number, scope: string, key: string, requestHash: string, status: "in_progress" | "completed", at: Date) =>
  db
    .insertInto("idempotency_keys")
    .values({ user_id: userId, scope, key, request_hash: requestHash, status, created_at: at, updated_at: at })
    .onConflict((oc) => oc.columns(["user_id", "scope", "key"]).doNothing())
    .returning("key"),
);

const completeKey = compiledQuery((db, userId: number, scope: string, key: string, response: string, at: Date) =>
  db
    .updateTable("idempotency_keys")
    .set({ status: "completed", response, updated_at: at })
    .where("user_id", "=", userId)
    .where("scope", "=", scope)
    .where("key", "=", key),
);

/** Read by every keyed order refused at its price (was the key used before?): compiled once. */
const findKey = compiledQuery(
  (_db, userId: number, scope: string, key: string) =>
    sql<KeyRow>`SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = ${userId} AND scope = ${scope} AND key = ${key}`,
);

/** A key as a statement found it: what decides between replaying, refusing and waiting. */
export interface KeyRow {
  request_hash: string;
  status: "in_progress" | "completed";
  response: unknown;
}

/**
 * The key's SQL as parts of another module's statement (a CTE each), for a flow that claims its key
 * in the same round trip as its own first write and completes it in the same statement as its last
 * (the wallet's charge: the claim with the charge attempt, the completion with the credit). The values
 * are only placed as parameters, so the statement can be compiled once (db/compiled.ts).
 */
export const keyStatementParts = {
  /** Inserts the key in progress unless it exists; returns `key` only when this statement claimed it. */
  claim: (userId: number, scope: string, key: string, requestHash: string, at: Date): RawBuilder<{ key: string }> => sql`
    INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status, created_at, updated_at)
    VALUES (${userId}, ${scope}, ${key}, ${requestHash}, 'in_progress', ${at}, ${at})
    ON CONFLICT (user_id, scope, key) DO NOTHING
    RETURNING key`,

  /** The key as the statement's snapshot shows it (a KeyRow): read beside `claim`, it is the key that was there first. */
  existing: (userId: number, scope: string, key: string): RawBuilder<KeyRow> => sql`
    SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = ${userId} AND scope = ${scope} AND key = ${key}`,

  /**
   * A key's stored answer as a reference (service.ts, `AnswerReference`) to `id`, an expression of the
   * statement that claims the key: for a key completed as it is claimed, before its answer is known.
   */
  reference: (kind: string, id: RawBuilder<unknown>): RawBuilder<unknown> =>
    sql`jsonb_build_object('reference', jsonb_build_object('kind', ${kind}::text, 'id', ${id}))`,

  /** Completes the key with `response` (serialized by `storedResponse`) when `condition` holds; no key (null) is no row. */
  complete: (
    userId: number,
    scope: string | null,
    key: string | null,
    response: string,
    at: Date,
    condition: RawBuilder<boolean>,
  ): RawBuilder<{ key: string }> => sql`
    UPDATE idempotency_keys SET status = 'completed', response = ${response}, updated_at = ${at}
     WHERE user_id = ${userId} AND scope = ${scope} AND key = ${key} AND status = 'in_progress' AND ${condition}
    RETURNING key`,

  /** Gives the key back (deletes it while in progress) when `condition` holds, as `releaseClaim` does; no key (null) is no row. */
  release: (userId: number, scope: string | null, key: string | null, condition: RawBuilder<boolean>): RawBuilder<{ key: string }> => sql`
    DELETE FROM idempotency_keys
     WHERE user_id = ${userId} AND scope = ${scope} AND key = ${key} AND status = 'in_progress' AND ${condition}
    RETURNING key`,
};

export const idempotencyRepository = {
  /**
   * Inserts the key unless it exists. A concurrent transaction holding an uncommitted insert of
   * the same key makes this wait until that transaction ends: the unique key serializes retries.
   */
  async tryInsert(executor: Db | Tx, id: KeyId, requestHash: string, status: "in_progress" | "completed", at: Date): Promise<boolean> {
    if (executor.isTransaction) noteLock(executor, LockRank.IdempotencyKey);
    const result = await insertKey(executor, id.userId, id.scope, id.key, requestHash, status, at);
    return result.rows.length > 0;
  },

  async find(executor: Db | Tx, id: KeyId): Promise<KeyRow | undefined> {
    return (await findKey(executor, id.userId, id.scope, id.key)).rows[0];
  },

  async complete(executor: Db | Tx, id: KeyId, response: string, at: Date): Promise<void> {
    await completeKey(executor, id.userId, id.scope, id.key, response, at);
  },

  /** Deletes the key while it is in progress (and, with `claimedBefore`, only if claimed before then). */
  async deleteInProgress(executor: Db | Tx, id: KeyId, claimedBefore?: Date): Promise<boolean> {
    if (executor.isTransaction) noteLock(executor, LockRank.IdempotencyKey);
    const result = await executor
      .deleteFrom("idempotency_keys")
      .where("user_id", "=", id.userId)
      .where("scope", "=", id.scope)
      .where("key", "=", id.key)
      .where("status", "=", "in_progress")
      .$if(claimedBefore !== undefined, (q) => q.where("updated_at", "<", claimedBefore as Date))
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },

  /** Keys of `scope` still in progress that were claimed before `claimedBefore`, oldest first. */
  staleInProgress(db: Db, scope: string, claimedBefore: Date, limit: number) {
    return db
      .selectFrom("idempotency_keys")
      .select(["user_id", "key"])
      .where("scope", "=", scope)
      .where("status", "=", "in_progress")
      .where("updated_at", "<", claimedBefore)
      .orderBy("updated_at")
      .limit(limit)
      .execute();
  },

  async deleteOlderThan(db: Db, before: Date): Promise<number> {
    const result = await db.deleteFrom("idempotency_keys").where("created_at", "<", before).executeTakeFirst();
    return Number(result.numDeletedRows);
  },
};
