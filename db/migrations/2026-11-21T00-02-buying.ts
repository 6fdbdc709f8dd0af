import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // ── wallet: balance equals the sum of its ledger; never negative, never above the cap.
  await sql`
    CREATE TABLE wallet_accounts (
      user_id    bigint PRIMARY KEY REFERENCES identity_users (id),
      balance    bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`.execute(db);
  await sql`
    CREATE TABLE wallet_ledger (
      id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id           bigint NOT NULL REFERENCES wallet_accounts (user_id),
      kind              text NOT NULL CHECK (kind IN ('charge', 'payment', 'refund')),
      amount            bigint NOT NULL CHECK (amount <> 0),
      balance_after     bigint NOT NULL CHECK (balance_after >= 0),
      order_id          bigint,
      gateway_reference text,
      created_at        timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX wallet_ledger_user_idx ON wallet_ledger (user_id, id)`.execute(db);

  // ── cart
  await sql`
    CREATE TABLE cart_items (
      user_id    bigint NOT NULL REFERENCES identity_users (id) ON DELETE CASCADE,
      product_id bigint NOT NULL REFERENCES catalog_products (id) ON DELETE CASCADE,
      quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
      added_at   timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      PRIMARY KEY (user_id, product_id)
    )`.execute(db);

  // ── coupons: the database refuses over-issue (CHECK) and double issue (UNIQUE).
  await sql`
    CREATE TABLE coupon_coupons (
      id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name                text NOT NULL,
      discount_type       text NOT NULL CHECK (discount_type IN ('fixed', 'percent')),
      discount_value      bigint NOT NULL CHECK (discount_value > 0),
      max_discount_amount bigint CHECK (max_discount_amount > 0),
      min_order_amount    bigint NOT NULL DEFAULT 0 CHECK (min_order_amount >= 0),
      total_quantity      integer NOT NULL CHECK (total_quantity > 0),
      issued_quantity     integer NOT NULL DEFAULT 0 CHECK (issued_quantity >= 0 AND issued_quantity <= total_quantity),
      issue_starts_at     timestamptz NOT NULL,
      issue_ends_at       timestamptz NOT NULL,
      valid_days          integer NOT NULL CHECK (valid_days > 0),
      created_at          timestamptz NOT NULL,
      updated_at          timestamptz NOT NULL,
      CHECK (issue_ends_at > issue_starts_at),
      CHECK (discount_type = 'fixed' OR discount_value <= 100)
    )`.execute(db);
  await sql`
    CREATE TABLE coupon_issued (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      coupon_id  bigint NOT NULL REFERENCES coupon_coupons (id),
      user_id    bigint NOT NULL REFERENCES identity_users (id),
      status     text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'used')),
      issued_at  timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      used_at    timestamptz,
      order_id   bigint,
      CONSTRAINT coupon_issued_one_per_customer UNIQUE (coupon_id, user_id)
    )`.execute(db);
  await sql`CREATE INDEX coupon_issued_user_idx ON coupon_issued (user_id, id)`.execute(db);
  await sql`
    CREATE TABLE coupon_history (
      id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      issued_coupon_id bigint NOT NULL REFERENCES coupon_issued (id),
      action           text NOT NULL CHECK (action IN ('issued', 'used', 'restored')),
      order_id         bigint,
      created_at       timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX coupon_history_issued_idx ON coupon_history (issued_coupon_id, id)`.execute(db);

  // ── orders
  await sql`
    CREATE TABLE order_orders (
      id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id          bigint NOT NULL REFERENCES identity_users (id),
      status           text NOT NULL CHECK (status IN ('pending_payment', 'paid', 'preparing', 'shipped', 'delivered', 'cancelled', 'refunded', 'expired')),
      subtotal_amount  bigint NOT NULL CHECK (subtotal_amount >= 0),
      discount_amount  bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0 AND discount_amount <= subtotal_amount),
      final_amount     bigint NOT NULL CHECK (final_amount = subtotal_amount - discount_amount),
      issued_coupon_id bigint REFERENCES coupon_issued (id),
      created_at       timestamptz NOT NULL,
      updated_at       timestamptz NOT NULL,
      paid_at          timestamptz,
      payment_due_at   timestamptz,
      cancelled_at     timestamptz,
      cancel_reason    text
    )`.execute(db);
  await sql`CREATE INDEX order_orders_user_idx ON order_orders (user_id, id DESC)`.execute(db);
  await sql`CREATE INDEX order_orders_status_created_idx ON order_orders (status, created_at)`.execute(db);
  await sql`CREATE INDEX order_orders_created_idx ON order_orders (created_at, id)`.execute(db);
  await sql`
    CREATE TABLE order_lines (
      id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      order_id     bigint NOT NULL REFERENCES order_orders (id),
      product_id   bigint NOT NULL REFERENCES catalog_products (id),
      product_name text NOT NULL,
      unit_price   bigint NOT NULL CHECK (unit_price >= 0),
      quantity     integer NOT NULL CHECK (quantity > 0),
      line_amount  bigint NOT NULL CHECK (line_amount = unit_price * quantity)
    )`.execute(db);
  await sql`CREATE INDEX order_lines_order_idx ON order_lines (order_id)`.execute(db);
  await sql`
    CREATE TABLE order_payments (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      order_id   bigint NOT NULL REFERENCES order_orders (id),
      method     text NOT NULL CHECK (method IN ('wallet')),
      amount     bigint NOT NULL CHECK (amount >= 0),
      status     text NOT NULL CHECK (status IN ('paid', 'refunded')),
      created_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX order_payments_order_idx ON order_payments (order_id)`.execute(db);

  // ── sales: daily aggregate so "popular over N days" reads at most N x products rows.
  await sql`
    CREATE TABLE sales_daily (
      day           date NOT NULL,
      product_id    bigint NOT NULL REFERENCES catalog_products (id),
      sold_quantity integer NOT NULL CHECK (sold_quantity >= 0),
      order_count   integer NOT NULL CHECK (order_count >= 0),
      PRIMARY KEY (day, product_id)
    )`.execute(db);

  // ── idempotency: one row per (customer, scope, key); the unique key makes a racing retry wait.
  await sql`
    CREATE TABLE idempotency_keys (
      user_id      bigint NOT NULL REFERENCES identity_users (id),
      scope        text NOT NULL,
      key          text NOT NULL,
      request_hash text NOT NULL,
      status       text NOT NULL CHECK (status IN ('in_progress', 'completed')),
      response     jsonb,
      created_at   timestamptz NOT NULL,
      updated_at   timestamptz NOT NULL,
      PRIMARY KEY (user_id, scope, key)
    )`.execute(db);

  // ── outbox: written in the same transaction as the change it announces.
  await sql`
    CREATE TABLE outbox_events (
      id              uuid PRIMARY KEY,
      aggregate_type  text NOT NULL,
      aggregate_id    text NOT NULL,
      type            text NOT NULL,
      payload         jsonb NOT NULL,
      status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
      attempts        integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL,
      locked_until    timestamptz,
      locked_by       text,
      last_error      text,
      created_at      timestamptz NOT NULL,
      sent_at         timestamptz
    )`.execute(db);
  await sql`CREATE INDEX outbox_events_due_idx ON outbox_events (next_attempt_at) WHERE status = 'pending'`.execute(db);
  await sql`CREATE INDEX outbox_events_aggregate_idx ON outbox_events (aggregate_type, aggregate_id)`.execute(db);

  // ── notifications (dev adapter records here) and restock sign-ups
  await sql`
    CREATE TABLE notification_messages (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      channel    text NOT NULL CHECK (channel IN ('email', 'sms')),
      recipient  text NOT NULL,
      template   text NOT NULL,
      subject    text NOT NULL,
      body       text NOT NULL,
      created_at timestamptz NOT NULL
    )`.execute(db);
  await sql`
    CREATE TABLE inventory_restock_subscriptions (
      id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      product_id  bigint NOT NULL REFERENCES catalog_products (id) ON DELETE CASCADE,
      user_id     bigint NOT NULL REFERENCES identity_users (id),
      channel     text NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'sms')),
      created_at  timestamptz NOT NULL,
      notified_at timestamptz
    )`.execute(db);
  // One open sign-up per customer and product.
  await sql`CREATE UNIQUE INDEX inventory_restock_open_idx ON inventory_restock_subscriptions (product_id, user_id) WHERE notified_at IS NULL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    "inventory_restock_subscriptions",
    "notification_messages",
    "outbox_events",
    "idempotency_keys",
    "sales_daily",
    "order_payments",
    "order_lines",
    "order_orders",
    "coupon_history",
    "coupon_issued",
    "coupon_coupons",
    "cart_items",
    "wallet_ledger",
    "wallet_accounts",
  ]) {
    await sql`DROP TABLE ${sql.table(table)}`.execute(db);
  }
}
