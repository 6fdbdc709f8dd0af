/** All SQL of the wallet: wallet_accounts, wallet_ledger and wallet_charge_attempts. */
import { sql } from "kysely";
import type { ChargeAttemptStatus, Db, LedgerEntryKind, Tx } from "../../db/index.ts";
import { compiledQuery, LockRank, noteLock } from "../../db/index.ts";
import { type KeyRow, keyStatementParts } from "../idempotency/index.ts";

type Executor = Db | Tx;

export interface NewLedgerEntry {
  userId: number;
  kind: LedgerEntryKind;
  amount: number;
  balanceAfter: number;
  orderId: number | null;
  gatewayReference: string | null;
  at: Date;
}

export interface NewChargeAttempt {
  userId: number;
  amount: number;
  gatewayKey: string;
  leaseUntil: Date;
  at: Date;
}

// The two statements of every charge (and the keyless record) are compiled once and run as prepared
// statements (db/compiled.ts): they are CTEs whose parse and plan would otherwise be paid each time.

const recordAttemptStatement = compiledQuery(
  (_db, userId: number, amount: number, gatewayKey: string, leaseUntil: Date, at: Date) =>
    // A gateway key whose earlier attempt ended without money (declined, failed) is opened again.
    sql<{ attempt_id: number | null; balance: number | null }>`
    WITH attempt AS (
      INSERT INTO wallet_charge_attempts AS a (user_id, amount, gateway_key, idempotency_key, status, lease_until, created_at, updated_at)
      VALUES (${userId}, ${amount}, ${gatewayKey}, NULL, 'pending', ${leaseUntil}, ${at}, ${at})
      ON CONFLICT (gateway_key) DO UPDATE SET status = 'pending', lease_until = excluded.lease_until, updated_at = excluded.updated_at
       WHERE a.status IN ('declined', 'failed')
      RETURNING id
    )
    SELECT (SELECT id FROM attempt) AS attempt_id, (SELECT balance FROM wallet_accounts WHERE user_id = ${userId}) AS balance`,
);

/** A claim statement's row for one charge: whether it claimed the key, its attempt, the balance, and the key when it was there first. */
type ClaimRow = {
  claimed: boolean;
  attempt_id: number | null;
  balance: number | null;
  request_hash: string | null;
  status: KeyRow["status"] | null;
  response: unknown;
};

/** One charge's claim, as the service reads it (claimOf). */
type ClaimedCharge = { claimed: boolean; attemptId: number | undefined; balance: number; existing: KeyRow | undefined };

const claimKeyAndRecordAttemptStatement = compiledQuery(
  (_db, userId: number, scope: string, idempotencyKey: string, requestHash: string, amount: number, gatewayKey: string, leaseUntil: Date, at: Date) =>
    // The attempt is inserted FROM claim: no row when the key was there first. The gateway key is
    // derived from the idempotency key, so a key given back after a decline reopens its attempt.
    sql<ClaimRow>`
    WITH claim AS (${keyStatementParts.claim(userId, scope, idempotencyKey, requestHash, at)}),
    existing AS (${keyStatementParts.existing(userId, scope, idempotencyKey)}),
    attempt AS (
      INSERT INTO wallet_charge_attempts AS a (user_id, amount, gateway_key, idempotency_key, status, lease_until, created_at, updated_at)
      SELECT ${userId}, ${amount}, ${gatewayKey}, claim.key, 'pending', ${leaseUntil}, ${at}, ${at} FROM claim
      ON CONFLICT (gateway_key) DO UPDATE SET status = 'pending', lease_until = excluded.lease_until, updated_at = excluded.updated_at
       WHERE a.status IN ('declined', 'failed')
      RETURNING id
    )
    SELECT EXISTS (SELECT 1 FROM claim) AS claimed,
           (SELECT id FROM attempt) AS attempt_id,
           (SELECT balance FROM wallet_accounts WHERE user_id = ${userId}) AS balance,
           existing.request_hash, existing.status, existing.response
      FROM (VALUES (1)) AS one (n) LEFT JOIN existing ON true`,
);

const settleApprovedStatement = compiledQuery(
  (
    _db,
    id: number,
    userId: number,
    amount: number,
    reference: string,
    maxBalance: number,
    leaseUntil: Date,
    at: Date,
    scope: string | null,
    idempotencyKey: string | null,
    response: string,
  ) =>
    // Lock order: the attempt (ChargeAttempt) before the account (Wallet); the key row (rank 1) is
    // written last, which is safe: while the claim is in progress nobody else locks it (retries only
    // read it, or wait on it holding nothing). Past the cap `credited` is empty, so is `entry`, and
    // the attempt goes to "voiding" instead: nothing is credited, nothing needs rolling back.
    sql<{ status: "credited" | "voiding" | null; ledger_entry_id: number | null; balance_after: number | null }>`
    WITH pending AS (
      SELECT id FROM wallet_charge_attempts WHERE id = ${id} AND status = 'pending' FOR UPDATE
    ), credited AS (
      INSERT INTO wallet_accounts AS w (user_id, balance, created_at, updated_at)
      SELECT ${userId}, ${amount}, ${at}, ${at} FROM pending WHERE ${amount}::bigint <= ${maxBalance}::bigint
      ON CONFLICT (user_id) DO UPDATE SET balance = w.balance + excluded.balance, updated_at = excluded.updated_at
       WHERE w.balance + excluded.balance <= ${maxBalance}
      RETURNING balance
    ), entry AS (
      INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, order_id, gateway_reference, created_at)
      SELECT ${userId}, 'charge', ${amount}, balance, NULL, ${reference}, ${at} FROM credited
      RETURNING id, balance_after
    ), settled AS (
      UPDATE wallet_charge_attempts
         SET status = CASE WHEN EXISTS (SELECT 1 FROM entry) THEN 'credited' ELSE 'voiding' END,
             gateway_reference = ${reference}, lease_until = ${leaseUntil}, updated_at = ${at}
       WHERE id IN (SELECT id FROM pending)
      RETURNING status
    ), completed AS (${keyStatementParts.complete(userId, scope, idempotencyKey, response, at, sql<boolean>`EXISTS (SELECT 1 FROM entry)`)})
    SELECT (SELECT status FROM settled) AS status, (SELECT id FROM entry) AS ledger_entry_id, (SELECT balance_after FROM entry) AS balance_after`,
);

const closeAttemptStatement = compiledQuery(
  (_db, id: number, to: ChargeAttemptStatus, at: Date, userId: number, scope: string | null, idempotencyKey: string | null) =>
    // One commit for both: a request that dies after closing the attempt cannot leave its key in progress.
    sql<{ closed: boolean }>`
    WITH closed AS (
      UPDATE wallet_charge_attempts SET status = ${to}, updated_at = ${at} WHERE id = ${id} AND status = 'pending'
      RETURNING id
    ), released AS (${keyStatementParts.release(userId, scope, idempotencyKey, sql<boolean>`EXISTS (SELECT 1 FROM closed)`)})
    SELECT EXISTS (SELECT 1 FROM closed) AS closed`,
);

/**
 * `claimKeyAndRecordAttemptStatement` for several customers' charges in ONE statement (their own
 * commit, shared): one charge per customer, so the customer joins a row to its input. Per input
 * row, in order: whether this statement claimed the key, the attempt, the balance, and the key as
 * the statement's snapshot shows it when it was there first.
 */
const claimKeysAndRecordAttemptsStatement = compiledQuery(
  (_db, userIds: number[], scopes: string[], keys: string[], requestHashes: string[], amounts: number[], gatewayKeys: string[], leaseUntil: Date, at: Date) =>
    sql<ClaimRow & { user_id: number }>`
    WITH input AS (
      SELECT * FROM unnest(${userIds}::int8[], ${scopes}::text[], ${keys}::text[], ${requestHashes}::text[], ${amounts}::int8[], ${gatewayKeys}::text[])
             WITH ORDINALITY AS i(user_id, scope, key, request_hash, amount, gateway_key, n)
    ), claim AS (
      INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status, created_at, updated_at)
      SELECT user_id, scope, key, request_hash, 'in_progress', ${at}::timestamptz, ${at}::timestamptz FROM input ORDER BY user_id
      ON CONFLICT (user_id, scope, key) DO NOTHING
      RETURNING user_id, key
    ), existing AS (
      SELECT k.user_id, k.request_hash, k.status, k.response
        FROM idempotency_keys k JOIN input i ON k.user_id = i.user_id AND k.scope = i.scope AND k.key = i.key
    ), attempt AS (
      INSERT INTO wallet_charge_attempts AS a (user_id, amount, gateway_key, idempotency_key, status, lease_until, created_at, updated_at)
      SELECT i.user_id, i.amount, i.gateway_key, claim.key, 'pending', ${leaseUntil}::timestamptz, ${at}::timestamptz, ${at}::timestamptz
        FROM input i JOIN claim ON claim.user_id = i.user_id ORDER BY i.n
      ON CONFLICT (gateway_key) DO UPDATE SET status = 'pending', lease_until = excluded.lease_until, updated_at = excluded.updated_at
       WHERE a.status IN ('declined', 'failed')
      RETURNING id, user_id
    )
    SELECT i.user_id, claim.user_id IS NOT NULL AS claimed, attempt.id AS attempt_id, w.balance,
           existing.request_hash, existing.status, existing.response
      FROM input i
      LEFT JOIN claim ON claim.user_id = i.user_id
      LEFT JOIN attempt ON attempt.user_id = i.user_id
      LEFT JOIN wallet_accounts w ON w.user_id = i.user_id
      LEFT JOIN existing ON existing.user_id = i.user_id
     ORDER BY i.n`,
);

/**
 * `settleApprovedStatement` for several customers' approved charges in ONE statement: the attempts
 * locked in ascending id order (rank ChargeAttempt), then the accounts in ascending customer order
 * (rank Wallet), each credited up to the cap; per input row, in order, what the single statement
 * answers. An account another transaction holds (an order of that customer waiting for a flash-sale
 * stock row, say) is skipped, not waited for: its row answers "busy" and nothing of it is written,
 * so one customer's lock never holds up the others' credits (the caller settles it on its own).
 */
const settleApprovedManyStatement = compiledQuery(
  (
    _db,
    ids: number[],
    userIds: number[],
    amounts: number[],
    references: string[],
    scopes: Array<string | null>,
    keys: Array<string | null>,
    responses: string[],
    leasesUntil: Date[],
    ats: Date[],
    maxBalance: number,
  ) =>
    sql<{ id: number; status: "credited" | "voiding" | "busy" | null; ledger_entry_id: number | null; balance_after: number | null }>`
    WITH input AS (
      SELECT * FROM unnest(${ids}::int8[], ${userIds}::int8[], ${amounts}::int8[], ${references}::text[], ${scopes}::text[], ${keys}::text[], ${responses}::text[],
                           ${leasesUntil}::timestamptz[], ${ats}::timestamptz[])
             WITH ORDINALITY AS i(id, user_id, amount, reference, scope, key, response, lease_until, at, n)
    ), pending AS (
      SELECT id FROM wallet_charge_attempts WHERE id IN (SELECT id FROM input) AND status = 'pending' ORDER BY id FOR UPDATE
    ), free AS MATERIALIZED (
      SELECT user_id FROM wallet_accounts WHERE user_id IN (SELECT i.user_id FROM input i JOIN pending p ON p.id = i.id)
       ORDER BY user_id FOR NO KEY UPDATE SKIP LOCKED
    ), busy AS (
      SELECT w.user_id FROM wallet_accounts w JOIN input i ON i.user_id = w.user_id JOIN pending p ON p.id = i.id
       WHERE w.user_id NOT IN (SELECT user_id FROM free)
    ), go AS (
      SELECT i.* FROM input i JOIN pending p ON p.id = i.id WHERE i.user_id NOT IN (SELECT user_id FROM busy)
    ), credited AS (
      INSERT INTO wallet_accounts AS w (user_id, balance, created_at, updated_at)
      SELECT i.user_id, i.amount, i.at, i.at FROM go i
       WHERE i.amount <= ${maxBalance}::bigint ORDER BY i.user_id
      ON CONFLICT (user_id) DO UPDATE SET balance = w.balance + excluded.balance, updated_at = excluded.updated_at
       WHERE w.balance + excluded.balance <= ${maxBalance}
      RETURNING user_id, balance
    ), entry AS (
      INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, order_id, gateway_reference, created_at)
      SELECT i.user_id, 'charge', i.amount, c.balance, NULL, i.reference, i.at FROM credited c JOIN input i ON i.user_id = c.user_id ORDER BY i.n
      RETURNING id, user_id, balance_after
    ), settled AS (
      UPDATE wallet_charge_attempts a
         SET status = CASE WHEN e.id IS NOT NULL THEN 'credited' ELSE 'voiding' END,
             gateway_reference = i.reference, lease_until = i.lease_until, updated_at = i.at
        FROM go i LEFT JOIN entry e ON e.user_id = i.user_id
       WHERE a.id = i.id
      RETURNING a.id, a.status
    ), completed AS (
      UPDATE idempotency_keys k SET status = 'completed', response = i.response::jsonb, updated_at = i.at
        FROM input i JOIN entry e ON e.user_id = i.user_id
       WHERE i.key IS NOT NULL AND k.user_id = i.user_id AND k.scope = i.scope AND k.key = i.key AND k.status = 'in_progress'
      RETURNING k.key
    )
    SELECT i.id, CASE WHEN busy.user_id IS NOT NULL THEN 'busy' ELSE settled.status END AS status, entry.id AS ledger_entry_id, entry.balance_after
      FROM input i LEFT JOIN settled ON settled.id = i.id LEFT JOIN entry ON entry.user_id = i.user_id LEFT JOIN busy ON busy.user_id = i.user_id
     ORDER BY i.n`,
);

/** On every order paid from the wallet: compiled once (db/compiled.ts), run as a named prepared statement. */
const debitWithLedgerEntry = compiledQuery(
  (_db, userId: number, amount: number, orderId: number | null, at: Date) =>
    sql<{ id: number; balance_after: number }>`
      WITH debited AS (
        UPDATE wallet_accounts SET balance = balance - ${amount}::int8, updated_at = ${at}
         WHERE user_id = ${userId}::int8 AND balance >= ${amount}::int8
        RETURNING user_id, balance
      )
      INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, order_id, gateway_reference, created_at)
      SELECT debited.user_id, 'payment', -${amount}::int8, debited.balance, ${orderId}::int8, NULL, ${at} FROM debited
      RETURNING id, balance_after`,
);

/**
 * A batch of orders' debits (one per customer) in ONE statement: the accounts are locked in
 * ascending customer order first (LockRows over a sort emits them in that order, and the UPDATE
 * only reaches rows that came out of it). An account another transaction holds is skipped, not
 * waited for, so one customer's lock does not hold up the batch: like a customer whose balance
 * does not cover the amount, it is left out (no row back), and the caller runs that order alone.
 */
const debitManyWithLedgerEntries = compiledQuery(
  (_db, userIds: number[], amounts: number[], orderIds: number[], at: Date) =>
    sql<{ user_id: number; balance_after: number }>`
      WITH input AS (
        SELECT * FROM unnest(${userIds}::int8[], ${amounts}::int8[], ${orderIds}::int8[]) AS i(user_id, amount, order_id)
      ), locked AS MATERIALIZED (
        SELECT user_id FROM wallet_accounts WHERE user_id IN (SELECT user_id FROM input) ORDER BY user_id FOR NO KEY UPDATE SKIP LOCKED
      ), debited AS (
        UPDATE wallet_accounts w SET balance = w.balance - i.amount, updated_at = ${at}
          FROM input i JOIN locked l ON l.user_id = i.user_id
         WHERE w.user_id = i.user_id AND w.balance >= i.amount
        RETURNING w.user_id, w.balance, i.amount, i.order_id
      )
      INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, order_id, gateway_reference, created_at)
      SELECT user_id, 'payment', -amount, balance, order_id, NULL, ${at} FROM debited
      RETURNING user_id, balance_after`,
);

/** What a claim statement (one customer's or a batch's row) says of one charge. */
function claimOf(row: ClaimRow): ClaimedCharge {
  return {
    claimed: row.claimed,
    attemptId: row.attempt_id == null ? undefined : Number(row.attempt_id),
    balance: Number(row.balance ?? 0),
    existing: row.request_hash == null || row.status == null ? undefined : { request_hash: row.request_hash, status: row.status, response: row.response },
  };
}

/** What a settle statement did with one approved charge ("busy": only a batch skips a held account). */
type Settlement = { balanceAfter: number; ledgerEntryId: number; at: Date } | "settled-elsewhere" | "voiding" | "busy";

function settlementOf(
  row: { status: "credited" | "voiding" | "busy" | null; ledger_entry_id: number | null; balance_after: number | null },
  at: Date,
): Settlement {
  if (row.status === null) return "settled-elsewhere";
  if (row.status === "busy") return "busy";
  if (row.status === "voiding" || row.ledger_entry_id == null) return "voiding";
  return { balanceAfter: Number(row.balance_after), ledgerEntryId: Number(row.ledger_entry_id), at };
}

const attemptColumns = ["id", "user_id", "amount", "gateway_key", "idempotency_key", "status", "gateway_reference", "lease_until"] as const;

export const walletRepository = {
  // ── charge attempts ─────────────────────────────────────────────────────

  /**
   * Records a card charge without an idempotency key before the gateway is called, in its own
   * committed statement, and reads the balance in the same round trip (for the cap pre-check).
   * Undefined attemptId: the gateway key's attempt is still unsettled or already took money.
   */
  async recordAttempt(db: Db, attempt: NewChargeAttempt): Promise<{ attemptId: number | undefined; balance: number }> {
    const { rows } = await recordAttemptStatement(db, attempt.userId, attempt.amount, attempt.gatewayKey, attempt.leaseUntil, attempt.at);
    const row = rows[0];
    return { attemptId: row?.attempt_id == null ? undefined : Number(row.attempt_id), balance: Number(row?.balance ?? 0) };
  },

  /**
   * The first statement of a keyed charge: claims the customer's idempotency key and, only when this
   * statement claimed it, records the attempt (as `recordAttempt`); reads the balance too. When the key
   * was there already, `existing` is that key (replay, refuse or wait: the idempotency module decides),
   * and nothing is written. One round trip, one commit: a concurrent retry sees the key and the attempt
   * together or neither.
   */
  async claimKeyAndRecordAttempt(db: Db, attempt: NewChargeAttempt & { scope: string; idempotencyKey: string; requestHash: string }): Promise<ClaimedCharge> {
    const { userId, amount, gatewayKey, leaseUntil, at } = attempt;
    const { rows } = await claimKeyAndRecordAttemptStatement(
      db,
      userId,
      attempt.scope,
      attempt.idempotencyKey,
      attempt.requestHash,
      amount,
      gatewayKey,
      leaseUntil,
      at,
    );
    const row = rows[0];
    if (!row) throw new Error("wallet: the claim statement returned no row");
    return claimOf(row);
  },

  /**
   * Settles an approved attempt in ONE statement (one round trip, no transaction held open): the
   * attempt's row is locked while still pending (a racing settler waits, then finds it settled); the
   * account is created or credited unless that would pass `maxBalance`; the "charge" ledger entry is
   * written; the attempt moves to "credited", or, past the cap, to "voiding" (with a new lease: the
   * approval must be given back); and the customer's key, if any, is completed with `response` in the
   * same commit as the credit. "settled-elsewhere": the attempt was no longer pending, nothing written.
   */
  async settleApproved(
    db: Db,
    attempt: {
      id: number;
      userId: number;
      amount: number;
      reference: string;
      maxBalance: number;
      leaseUntil: Date;
      at: Date;
      key: { scope: string; key: string; response: string } | null;
    },
  ): Promise<{ balanceAfter: number; ledgerEntryId: number; at: Date } | "settled-elsewhere" | "voiding"> {
    const { id, userId, amount, reference, maxBalance, leaseUntil, at, key } = attempt;
    const { rows } = await settleApprovedStatement(
      db,
      id,
      userId,
      amount,
      reference,
      maxBalance,
      leaseUntil,
      at,
      key?.scope ?? null,
      key?.key ?? null,
      key?.response ?? "null",
    );
    const row = rows[0];
    if (!row) return "settled-elsewhere";
    return settlementOf(row, at) as Exclude<Settlement, "busy">;
  },

  /**
   * `claimKeyAndRecordAttempt` for several customers' charges (one each) in one statement and one
   * commit; the answers in order. A batch whose statement fails changes nothing (one statement).
   */
  async claimKeysAndRecordAttempts(
    db: Db,
    attempts: Array<Omit<NewChargeAttempt, "leaseUntil" | "at"> & { scope: string; idempotencyKey: string; requestHash: string }>,
    leaseUntil: Date,
    at: Date,
  ): Promise<Array<ClaimedCharge>> {
    if (new Set(attempts.map((a) => a.userId)).size !== attempts.length) throw new Error("wallet: a batch holds one charge per customer");
    const { rows } = await claimKeysAndRecordAttemptsStatement(
      db,
      attempts.map((a) => a.userId),
      attempts.map((a) => a.scope),
      attempts.map((a) => a.idempotencyKey),
      attempts.map((a) => a.requestHash),
      attempts.map((a) => a.amount),
      attempts.map((a) => a.gatewayKey),
      leaseUntil,
      at,
    );
    if (rows.length !== attempts.length) throw new Error(`wallet: the batch claim answered ${rows.length} rows for ${attempts.length}`);
    return rows.map(claimOf);
  },

  /** `settleApproved` for several customers' approved charges (one each) in one statement and one commit; the answers in order. */
  async settleApprovedMany(
    db: Db,
    attempts: Array<{
      id: number;
      userId: number;
      amount: number;
      reference: string;
      leaseUntil: Date;
      at: Date;
      key: { scope: string; key: string; response: string } | null;
    }>,
    maxBalance: number,
  ): Promise<Settlement[]> {
    if (new Set(attempts.map((a) => a.userId)).size !== attempts.length) throw new Error("wallet: a batch holds one charge per customer");
    const { rows } = await settleApprovedManyStatement(
      db,
      attempts.map((a) => a.id),
      attempts.map((a) => a.userId),
      attempts.map((a) => a.amount),
      attempts.map((a) => a.reference),
      attempts.map((a) => a.key?.scope ?? null),
      attempts.map((a) => a.key?.key ?? null),
      attempts.map((a) => a.key?.response ?? "null"),
      attempts.map((a) => a.leaseUntil),
      attempts.map((a) => a.at),
      maxBalance,
    );
    if (rows.length !== attempts.length) throw new Error(`wallet: the batch settle answered ${rows.length} rows for ${attempts.length}`);
    return rows.map((row, i) => settlementOf(row, (attempts[i] as { at: Date }).at));
  },

  /**
   * Closes a pending attempt that took no money ("declined", or "failed": refused before the gateway,
   * or never seen by it) and, in the same statement, gives the customer's key back so a retry runs
   * again. False: another settler closed or settled it first (and dealt with the key).
   */
  async closeAttempt(
    db: Db,
    attempt: { id: number; userId: number; to: "declined" | "failed"; at: Date; key: { scope: string; key: string } | null },
  ): Promise<boolean> {
    const { rows } = await closeAttemptStatement(db, attempt.id, attempt.to, attempt.at, attempt.userId, attempt.key?.scope ?? null, attempt.key?.key ?? null);
    return rows[0]?.closed === true;
  },

  /** Moves an attempt on when it is in one of `from`; false when another settler moved it first. */
  async moveAttempt(
    executor: Executor,
    id: number,
    from: ChargeAttemptStatus[],
    to: ChargeAttemptStatus,
    at: Date,
    fields: { reference?: string; leaseUntil?: Date } = {},
  ): Promise<boolean> {
    if (executor.isTransaction) noteLock(executor, LockRank.ChargeAttempt, id);
    const result = await executor
      .updateTable("wallet_charge_attempts")
      .set({
        status: to,
        updated_at: at,
        ...(fields.reference !== undefined ? { gateway_reference: fields.reference } : {}),
        ...(fields.leaseUntil !== undefined ? { lease_until: fields.leaseUntil } : {}),
      })
      .where("id", "=", id)
      .where("status", "in", from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  /**
   * Whether the customer's key has an attempt that may have taken money (pending, credited, voiding,
   * voided). A claim without one never charged a card: none recorded, or it was closed (declined,
   * failed) by a request that died before giving the key back.
   */
  async hasOpenOrPaidAttemptFor(db: Db, userId: number, idempotencyKey: string): Promise<boolean> {
    const row = await db
      .selectFrom("wallet_charge_attempts")
      .select("id")
      .where("user_id", "=", userId)
      .where("idempotency_key", "=", idempotencyKey)
      .where("status", "not in", ["declined", "failed"])
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  },

  findAttemptByGatewayKey(db: Db, gatewayKey: string) {
    return db.selectFrom("wallet_charge_attempts").select(attemptColumns).where("gateway_key", "=", gatewayKey).executeTakeFirst();
  },

  /**
   * Takes over unsettled attempts whose lease ran out (their request died or gave up), pushing the
   * lease to `leaseUntil` so no other instance takes them meanwhile. SKIP LOCKED: instances never wait
   * on each other. With `gatewayKey`, only that attempt.
   */
  async takeOverStaleAttempts(db: Db, now: Date, leaseUntil: Date, limit: number, gatewayKey?: string) {
    const stale = db
      .selectFrom("wallet_charge_attempts")
      .select("id")
      .where("status", "in", ["pending", "voiding"])
      .where("lease_until", "<=", now)
      .$if(gatewayKey !== undefined, (q) => q.where("gateway_key", "=", gatewayKey as string))
      .orderBy("lease_until")
      .limit(limit)
      .forUpdate()
      .skipLocked();
    return db
      .updateTable("wallet_charge_attempts")
      .set((eb) => ({ lease_until: leaseUntil, updated_at: now, recovery_attempts: eb("recovery_attempts", "+", 1) }))
      .where("id", "in", stale)
      .returning([...attemptColumns, "recovery_attempts"])
      .execute();
  },

  /** The "charge" entry a settled attempt wrote, for a request that lost the race to settle it. */
  findChargeEntry(db: Db, userId: number, reference: string) {
    return db
      .selectFrom("wallet_ledger")
      .select(["id", "amount", "balance_after", "created_at"])
      .where("user_id", "=", userId)
      .where("kind", "=", "charge")
      .where("gateway_reference", "=", reference)
      .executeTakeFirst();
  },

  async attemptStatus(db: Db, id: number): Promise<ChargeAttemptStatus | undefined> {
    const row = await db.selectFrom("wallet_charge_attempts").select("status").where("id", "=", id).executeTakeFirst();
    return row?.status;
  },

  /** Attempts not settled yet, by status: what reconciliation still owes (an admin and benchmark check). */
  async unsettledAttempts(db: Db): Promise<{ pending: number; voiding: number }> {
    const rows = await db
      .selectFrom("wallet_charge_attempts")
      .select(["status", (eb) => eb.fn.countAll<number>().as("n")])
      .where("status", "in", ["pending", "voiding"])
      .groupBy("status")
      .execute();
    const count = (status: string) => Number(rows.find((r) => r.status === status)?.n ?? 0);
    return { pending: count("pending"), voiding: count("voiding") };
  },

  // ── accounts and ledger ─────────────────────────────────────────────────

  /** Creates the account row at balance 0 unless it exists. A new row is locked by this transaction. */
  async ensureAccount(trx: Tx, userId: number, at: Date): Promise<void> {
    noteLock(trx, LockRank.Wallet, userId);
    await trx
      .insertInto("wallet_accounts")
      .values({ user_id: userId, balance: 0, created_at: at, updated_at: at })
      .onConflict((oc) => oc.column("user_id").doNothing())
      .execute();
  },

  /** Charges of a customer not settled yet (pending or being voided): money that may still arrive. */
  async unsettledAttemptsOf(db: Executor, userId: number): Promise<number> {
    const row = await db
      .selectFrom("wallet_charge_attempts")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("user_id", "=", userId)
      .where("status", "in", ["pending", "voiding"])
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },

  /** Locks the account row until the transaction ends; undefined when there is no account. */
  async lockAccount(trx: Tx, userId: number): Promise<number | undefined> {
    noteLock(trx, LockRank.Wallet, userId);
    const row = await trx.selectFrom("wallet_accounts").select("balance").where("user_id", "=", userId).forUpdate().executeTakeFirst();
    return row?.balance;
  },

  /**
   * Takes `amount` if the balance covers it and writes the "payment" ledger entry, in ONE statement
   * (a data-modifying CTE: one round trip while the order's locks are held). The conditional UPDATE's
   * row lock is the exclusive lock: a racing debit waits, then re-checks the condition on the new
   * balance. Undefined when refused (not enough, or no account); nothing is written then.
   */
  async debitWithEntry(
    trx: Tx,
    userId: number,
    amount: number,
    orderId: number | null,
    at: Date,
  ): Promise<{ balanceAfter: number; ledgerEntryId: number } | undefined> {
    noteLock(trx, LockRank.Wallet, userId);
    const result = await debitWithLedgerEntry(trx, userId, amount, orderId, at);
    const row = result.rows[0];
    return row && { balanceAfter: Number(row.balance_after), ledgerEntryId: Number(row.id) };
  },

  /**
   * `debitWithEntry` for a batch of orders, one per customer: the balance after each debit that
   * was covered, by customer. A customer missing from the answer was not debited (not enough, or
   * no account); the others were, so the caller rolls back when it cannot go on without them.
   */
  async debitManyWithEntries(trx: Tx, debits: Array<{ userId: number; amount: number; orderId: number }>, at: Date): Promise<Map<number, number>> {
    if (debits.length === 0) return new Map();
    noteLock(trx, LockRank.Wallet, Math.min(...debits.map((d) => d.userId)));
    const result = await debitManyWithLedgerEntries(
      trx,
      debits.map((d) => d.userId),
      debits.map((d) => d.amount),
      debits.map((d) => d.orderId),
      at,
    );
    return new Map(result.rows.map((row) => [Number(row.user_id), Number(row.balance_after)]));
  },

  /** Adds `amount`; the account must exist. Returns the new balance. */
  async credit(trx: Tx, userId: number, amount: number, at: Date): Promise<number> {
    noteLock(trx, LockRank.Wallet, userId);
    const row = await trx
      .updateTable("wallet_accounts")
      .set((eb) => ({ balance: eb("balance", "+", amount), updated_at: at }))
      .where("user_id", "=", userId)
      .returning("balance")
      .executeTakeFirstOrThrow();
    return row.balance;
  },

  /** A new row, but its foreign key share-locks the account row (rank Wallet): FOR UPDATE on it waits, and this on that. */
  async insertLedgerEntry(trx: Tx, entry: NewLedgerEntry): Promise<number> {
    noteLock(trx, LockRank.Wallet, entry.userId);
    const row = await trx
      .insertInto("wallet_ledger")
      .values({
        user_id: entry.userId,
        kind: entry.kind,
        amount: entry.amount,
        balance_after: entry.balanceAfter,
        order_id: entry.orderId,
        gateway_reference: entry.gatewayReference,
        created_at: entry.at,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return row.id;
  },

  /** The balance an order's payment left (its ledger entry); undefined when the wallet paid nothing. */
  async balanceAfterPayment(db: Executor, userId: number, orderId: number): Promise<number | undefined> {
    const entry = await db
      .selectFrom("wallet_ledger")
      .select("balance_after")
      .where("user_id", "=", userId)
      .where("order_id", "=", orderId)
      .where("kind", "=", "payment")
      .orderBy("id")
      .executeTakeFirst();
    return entry?.balance_after;
  },

  findAccount(db: Executor, userId: number) {
    return db.selectFrom("wallet_accounts").select(["balance", "updated_at"]).where("user_id", "=", userId).executeTakeFirst();
  },

  /** Newest first, keyset-paged by id. */
  listLedger(db: Executor, userId: number, beforeId: number | undefined, limit: number) {
    let q = db
      .selectFrom("wallet_ledger")
      .select(["id", "kind", "amount", "balance_after", "order_id", "gateway_reference", "created_at"])
      .where("user_id", "=", userId)
      .orderBy("id", "desc")
      .limit(limit);
    if (beforeId !== undefined) q = q.where("id", "<", beforeId);
    return q.execute();
  },

  async ledgerTotals(db: Executor, userId: number): Promise<{ sum: number; count: number }> {
    const row = await db
      .selectFrom("wallet_ledger")
      .select((eb) => [eb.fn.coalesce(eb.fn.sum<number>("amount"), eb.lit(0)).as("sum"), eb.fn.countAll<number>().as("count")])
      .where("user_id", "=", userId)
      .executeTakeFirstOrThrow();
    return { sum: Number(row.sum), count: Number(row.count) };
  },

  /** Accounts whose balance is not the sum of their ledger (a full scan: an admin check). */
  async booksMismatches(db: Executor, limit: number) {
    const totals = db
      .selectFrom("wallet_ledger")
      .select(["user_id", (eb) => eb.fn.sum<number>("amount").as("total")])
      .groupBy("user_id")
      .as("l");
    const rows = await db
      .selectFrom("wallet_accounts as a")
      .leftJoin(totals, "l.user_id", "a.user_id")
      .select(["a.user_id", "a.balance", (eb) => eb.fn.coalesce("l.total", eb.lit(0)).as("ledger_sum")])
      .where((eb) => eb(eb.fn.coalesce("l.total", eb.lit(0)), "<>", eb.ref("a.balance")))
      .orderBy("a.user_id")
      .limit(limit)
      .execute();
    return rows.map((r) => ({ userId: r.user_id, balance: r.balance, ledgerSum: Number(r.ledger_sum) }));
  },

  async countAccounts(db: Executor): Promise<number> {
    const row = await db
      .selectFrom("wallet_accounts")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },

  /** Money customers hold now, and what moved through wallets in [from, to). */
  async totals(db: Executor, from: Date, to: Date) {
    const held = await db.selectFrom("wallet_accounts").select(sql<number>`coalesce(sum(balance), 0)::int8`.as("balance")).executeTakeFirstOrThrow();
    const moved = await db
      .selectFrom("wallet_ledger")
      .select([
        sql<number>`coalesce(sum(amount) filter (where kind = 'charge'), 0)::int8`.as("charged"),
        sql<number>`coalesce(-sum(amount) filter (where kind = 'payment'), 0)::int8`.as("paid"),
        sql<number>`coalesce(sum(amount) filter (where kind = 'refund'), 0)::int8`.as("refunded"),
      ])
      .where("created_at", ">=", from)
      .where("created_at", "<", to)
      .executeTakeFirstOrThrow();
    return { balance: Number(held.balance), charged: Number(moved.charged), paid: Number(moved.paid), refunded: Number(moved.refunded) };
  },
};
