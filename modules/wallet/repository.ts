/** All SQL of the wallet: wallet_accounts, wallet_ledger and wallet_charge_attempts. */
import { sql } from "kysely";
import type { ChargeAttemptStatus, Db, LedgerEntryKind, Tx } from "../../db/index.ts";
import { compiledQuery, LockRank, noteLock } from "../../db/index.ts";

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
  idempotencyKey: string | null;
  leaseUntil: Date;
  at: Date;
}

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

const attemptColumns = ["id", "user_id", "amount", "gateway_key", "idempotency_key", "status", "gateway_reference", "lease_until"] as const;

export const walletRepository = {
  // ── charge attempts ─────────────────────────────────────────────────────

  /**
   * Records a card charge before the gateway is called, in its own committed statement, and reads
   * the balance in the same round trip (for the cap pre-check). A gateway key whose earlier attempt
   * ended without money (declined, failed) is opened again: the customer retries with the same key.
   * Undefined attemptId: the key's attempt is still unsettled or already took money.
   */
  async recordAttempt(db: Db, attempt: NewChargeAttempt): Promise<{ attemptId: number | undefined; balance: number }> {
    const result = await sql<{ attempt_id: number | null; balance: number | null }>`
      WITH attempt AS (
        INSERT INTO wallet_charge_attempts AS a (user_id, amount, gateway_key, idempotency_key, status, lease_until, created_at, updated_at)
        VALUES (${attempt.userId}, ${attempt.amount}, ${attempt.gatewayKey}, ${attempt.idempotencyKey}, 'pending', ${attempt.leaseUntil}, ${attempt.at}, ${attempt.at})
        ON CONFLICT (gateway_key) DO UPDATE SET status = 'pending', lease_until = excluded.lease_until, updated_at = excluded.updated_at
         WHERE a.status IN ('declined', 'failed')
        RETURNING id
      )
      SELECT (SELECT id FROM attempt) AS attempt_id, (SELECT balance FROM wallet_accounts WHERE user_id = ${attempt.userId}) AS balance`.execute(db);
    const row = result.rows[0];
    return { attemptId: row?.attempt_id == null ? undefined : Number(row.attempt_id), balance: Number(row?.balance ?? 0) };
  },

  /**
   * Settles an approved attempt in ONE statement: the attempt moves pending → credited (its row lock
   * makes a racing settler wait, then find it settled), the account is created or credited unless
   * that would pass `maxBalance`, and the "charge" ledger entry is written.
   * "settled-elsewhere": the attempt was no longer pending; "over-cap": nothing may be written (roll back).
   */
  async creditAttempt(
    trx: Tx,
    attempt: { id: number; userId: number; amount: number; reference: string; maxBalance: number; at: Date },
  ): Promise<{ balanceAfter: number; ledgerEntryId: number } | "settled-elsewhere" | "over-cap"> {
    noteLock(trx, LockRank.ChargeAttempt, attempt.id);
    noteLock(trx, LockRank.Wallet, attempt.userId);
    const { id, userId, amount, reference, maxBalance, at } = attempt;
    const result = await sql<{ settled: number; ledger_entry_id: number | null; balance_after: number | null }>`
      WITH settled AS (
        UPDATE wallet_charge_attempts SET status = 'credited', gateway_reference = ${reference}, updated_at = ${at}
         WHERE id = ${id} AND status = 'pending'
        RETURNING id
      ), credited AS (
        INSERT INTO wallet_accounts AS w (user_id, balance, created_at, updated_at)
        SELECT ${userId}, ${amount}, ${at}, ${at} FROM settled WHERE ${amount}::bigint <= ${maxBalance}::bigint
        ON CONFLICT (user_id) DO UPDATE SET balance = w.balance + excluded.balance, updated_at = excluded.updated_at
         WHERE w.balance + excluded.balance <= ${maxBalance}
        RETURNING balance
      ), entry AS (
        INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, order_id, gateway_reference, created_at)
        SELECT ${userId}, 'charge', ${amount}, balance, NULL, ${reference}, ${at} FROM credited
        RETURNING id, balance_after
      )
      SELECT (SELECT count(*) FROM settled)::int AS settled, (SELECT id FROM entry) AS ledger_entry_id, (SELECT balance_after FROM entry) AS balance_after`.execute(
      trx,
    );
    const row = result.rows[0];
    if (!row || Number(row.settled) === 0) return "settled-elsewhere";
    if (row.ledger_entry_id == null) return "over-cap";
    return { balanceAfter: Number(row.balance_after), ledgerEntryId: Number(row.ledger_entry_id) };
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

  /** Whether the customer's key ever recorded an attempt (a claim without one never reached the gateway). */
  async hasAttemptFor(db: Db, userId: number, idempotencyKey: string): Promise<boolean> {
    const row = await db
      .selectFrom("wallet_charge_attempts")
      .select("id")
      .where("user_id", "=", userId)
      .where("idempotency_key", "=", idempotencyKey)
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
