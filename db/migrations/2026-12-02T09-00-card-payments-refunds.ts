import { type Kysely, sql } from "kysely";

/**
 * Several payment methods, and refunds as their own record.
 *
 * payment_card_payments (modules/payments): every card authorization is recorded before the gateway
 * is called, like wallet_charge_attempts, so a process that dies between the gateway's answer and
 * the order's commit leaves a row that recovery settles by asking the gateway: an authorization no
 * order took is voided, one an order took is captured, one of a cancelled order is given back.
 *
 * order_payments: one row per method an order was paid with (wallet, card, both for a split).
 * order_refunds: the money an order gave back, per source, why and by whom. A refund (a return after
 * delivery) writes refunded_at/refund_reason, no longer cancelled_at/cancel_reason.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE payment_card_payments (
      id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id           bigint NOT NULL REFERENCES identity_users (id),
      amount            bigint NOT NULL CHECK (amount > 0),
      gateway_key       text NOT NULL UNIQUE,
      status            text NOT NULL CHECK (status IN ('authorizing', 'authorized', 'declined', 'failed', 'voiding', 'voided',
                                                        'capturing', 'captured', 'reversing', 'reversed')),
      order_id          bigint,
      gateway_reference text,
      lease_until       timestamptz NOT NULL,
      recovery_attempts integer NOT NULL DEFAULT 0,
      created_at        timestamptz NOT NULL,
      updated_at        timestamptz NOT NULL,
      CHECK (status IN ('authorizing', 'declined', 'failed') OR gateway_reference IS NOT NULL),
      CHECK (status NOT IN ('capturing', 'captured', 'reversing', 'reversed') OR order_id IS NOT NULL)
    )`.execute(db);
  // Recovery's scan: only rows that still owe the gateway a call, oldest lease first.
  await sql`CREATE INDEX payment_card_payments_unsettled_idx ON payment_card_payments (lease_until)
             WHERE status IN ('authorizing', 'authorized', 'voiding', 'capturing', 'reversing')`.execute(db);
  await sql`CREATE UNIQUE INDEX payment_card_payments_order_idx ON payment_card_payments (order_id) WHERE order_id IS NOT NULL`.execute(db);

  await sql`ALTER TABLE order_payments DROP CONSTRAINT order_payments_method_check`.execute(db);
  await sql`ALTER TABLE order_payments ADD CONSTRAINT order_payments_method_check CHECK (method IN ('wallet', 'card'))`.execute(db);
  await sql`ALTER TABLE order_payments ADD COLUMN card_payment_id bigint REFERENCES payment_card_payments (id)`.execute(db);
  await sql`ALTER TABLE order_payments ADD CONSTRAINT order_payments_card_check CHECK ((method = 'card') = (card_payment_id IS NOT NULL))`.execute(db);
  await sql`DROP INDEX order_payments_order_idx`.execute(db);
  await sql`CREATE UNIQUE INDEX order_payments_order_method_idx ON order_payments (order_id, method)`.execute(db);

  await sql`
    CREATE TABLE order_refunds (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      order_id      bigint NOT NULL REFERENCES order_orders (id),
      kind          text NOT NULL CHECK (kind IN ('cancellation', 'return')),
      wallet_amount bigint NOT NULL CHECK (wallet_amount >= 0),
      card_amount   bigint NOT NULL CHECK (card_amount >= 0),
      reason        text NOT NULL,
      actor_id      bigint REFERENCES identity_users (id),
      created_at    timestamptz NOT NULL
    )`.execute(db);
  // An order gives its money back once.
  await sql`CREATE UNIQUE INDEX order_refunds_order_idx ON order_refunds (order_id)`.execute(db);

  await sql`ALTER TABLE order_orders ADD COLUMN refunded_at timestamptz, ADD COLUMN refund_reason text`.execute(db);
  // Refunds written before this migration kept their time and reason in the cancellation fields.
  await sql`
    UPDATE order_orders SET refunded_at = cancelled_at, refund_reason = cancel_reason, cancelled_at = NULL, cancel_reason = NULL
     WHERE status = 'refunded'`.execute(db);
  // Their refund records, from the payments marked refunded (wallet only until now).
  await sql`
    INSERT INTO order_refunds (order_id, kind, wallet_amount, card_amount, reason, actor_id, created_at)
    SELECT o.id, CASE WHEN o.status = 'refunded' THEN 'return' ELSE 'cancellation' END, p.amount, 0,
           coalesce(o.refund_reason, o.cancel_reason, 'refunded'), NULL, coalesce(o.refunded_at, o.cancelled_at, o.updated_at)
      FROM order_payments p JOIN order_orders o ON o.id = p.order_id
     WHERE p.status = 'refunded'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    UPDATE order_orders SET cancelled_at = refunded_at, cancel_reason = refund_reason WHERE status = 'refunded'`.execute(db);
  await sql`ALTER TABLE order_orders DROP COLUMN refunded_at, DROP COLUMN refund_reason`.execute(db);
  await sql`DROP TABLE order_refunds`.execute(db);
  await sql`DELETE FROM order_payments WHERE method <> 'wallet'`.execute(db);
  await sql`DROP INDEX order_payments_order_method_idx`.execute(db);
  await sql`CREATE UNIQUE INDEX order_payments_order_idx ON order_payments (order_id)`.execute(db);
  await sql`ALTER TABLE order_payments DROP CONSTRAINT order_payments_card_check`.execute(db);
  await sql`ALTER TABLE order_payments DROP COLUMN card_payment_id`.execute(db);
  await sql`ALTER TABLE order_payments DROP CONSTRAINT order_payments_method_check`.execute(db);
  await sql`ALTER TABLE order_payments ADD CONSTRAINT order_payments_method_check CHECK (method IN ('wallet'))`.execute(db);
  await sql`DROP TABLE payment_card_payments`.execute(db);
}
