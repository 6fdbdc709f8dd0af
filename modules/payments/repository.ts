/** All SQL of card payments: payment_card_payments. */
import type { CardPaymentStatus, Db, Tx } from "../../db/index.ts";
import { LockRank, noteLock } from "../../db/index.ts";

type Executor = Db | Tx;

const columns = ["id", "user_id", "amount", "gateway_key", "status", "order_id", "gateway_reference", "lease_until", "recovery_attempts"] as const;

export const cardPaymentRepository = {
  /** Records an authorization before the gateway is called, in its own committed statement. */
  async record(db: Db, row: { userId: number; amount: number; gatewayKey: string; leaseUntil: Date; at: Date }): Promise<number> {
    const inserted = await db
      .insertInto("payment_card_payments")
      .values({
        user_id: row.userId,
        amount: row.amount,
        gateway_key: row.gatewayKey,
        status: "authorizing",
        lease_until: row.leaseUntil,
        created_at: row.at,
        updated_at: row.at,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return inserted.id;
  },

  /** Moves a card payment on when it is in one of `from`; false when someone else moved it first. */
  async move(
    executor: Executor,
    id: number,
    from: CardPaymentStatus[],
    to: CardPaymentStatus,
    at: Date,
    fields: { reference?: string; orderId?: number; leaseUntil?: Date } = {},
  ): Promise<boolean> {
    if (executor.isTransaction) noteLock(executor, LockRank.CardPayment, id);
    const result = await executor
      .updateTable("payment_card_payments")
      .set({
        status: to,
        updated_at: at,
        ...(fields.reference !== undefined ? { gateway_reference: fields.reference } : {}),
        ...(fields.orderId !== undefined ? { order_id: fields.orderId } : {}),
        ...(fields.leaseUntil !== undefined ? { lease_until: fields.leaseUntil } : {}),
      })
      .where("id", "=", id)
      .where("status", "in", from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  find(executor: Executor, id: number) {
    return executor.selectFrom("payment_card_payments").select(columns).where("id", "=", id).executeTakeFirst();
  },

  /**
   * Takes over rows that still owe the gateway a call and whose lease ran out (their request died or
   * gave up), pushing the lease so no other instance takes them meanwhile. SKIP LOCKED: instances never wait.
   */
  async takeOverStale(db: Db, now: Date, leaseUntil: Date, limit: number) {
    const stale = db
      .selectFrom("payment_card_payments")
      .select("id")
      .where("status", "in", ["authorizing", "authorized", "voiding", "capturing", "reversing"])
      .where("lease_until", "<=", now)
      .orderBy("lease_until")
      .limit(limit)
      .forUpdate()
      .skipLocked();
    return db
      .updateTable("payment_card_payments")
      .set((eb) => ({ lease_until: leaseUntil, updated_at: now, recovery_attempts: eb("recovery_attempts", "+", 1) }))
      .where("id", "in", stale)
      .returning(columns)
      .execute();
  },

  /** Rows that still owe the gateway a call, by status: 0 everywhere once recovery has caught up. */
  async unsettled(db: Db): Promise<Record<"authorizing" | "authorized" | "voiding" | "capturing" | "reversing", number>> {
    const rows = await db
      .selectFrom("payment_card_payments")
      .select(["status", (eb) => eb.fn.countAll<number>().as("n")])
      .where("status", "in", ["authorizing", "authorized", "voiding", "capturing", "reversing"])
      .groupBy("status")
      .execute();
    const count = (status: string) => Number(rows.find((r) => r.status === status)?.n ?? 0);
    return {
      authorizing: count("authorizing"),
      authorized: count("authorized"),
      voiding: count("voiding"),
      capturing: count("capturing"),
      reversing: count("reversing"),
    };
  },
};
