/** All SQL of the wallet: wallet_accounts and wallet_ledger. */
import { sql } from "kysely";
import type { Db, LedgerEntryKind, Tx } from "../../db/index.ts";
import { LockRank, noteLock } from "../../db/index.ts";

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

export const walletRepository = {
  /** Creates the account row at balance 0 unless it exists. A new row is locked by this transaction. */
  async ensureAccount(trx: Tx, userId: number, at: Date): Promise<void> {
    noteLock(trx, LockRank.Wallet, userId);
    await trx
      .insertInto("wallet_accounts")
      .values({ user_id: userId, balance: 0, created_at: at, updated_at: at })
      .onConflict((oc) => oc.column("user_id").doNothing())
      .execute();
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
    const result = await sql<{ id: number; balance_after: number }>`
      WITH debited AS (
        UPDATE wallet_accounts SET balance = balance - ${amount}, updated_at = ${at}
         WHERE user_id = ${userId} AND balance >= ${amount}
        RETURNING balance
      )
      INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, order_id, gateway_reference, created_at)
      SELECT ${userId}, 'payment', ${-amount}, debited.balance, ${orderId}, NULL, ${at} FROM debited
      RETURNING id, balance_after`.execute(trx);
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

  async insertLedgerEntry(trx: Tx, entry: NewLedgerEntry): Promise<number> {
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
