import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // One outbox row per (event, destination): each downstream system has its own retries and state.
  await sql`ALTER TABLE outbox_events ADD COLUMN destination text NOT NULL DEFAULT 'data-platform'`.execute(db);
  await sql`ALTER TABLE outbox_events ALTER COLUMN destination DROP DEFAULT`.execute(db);
  await sql`CREATE INDEX outbox_events_status_idx ON outbox_events (status, destination, id)`.execute(db);

  await sql`ALTER TABLE order_orders ADD COLUMN shipping_address text`.execute(db);

  // ── shipping
  await sql`
    CREATE TABLE shipping_shipments (
      id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      order_id        bigint NOT NULL REFERENCES order_orders (id),
      user_id         bigint NOT NULL REFERENCES identity_users (id),
      status          text NOT NULL CHECK (status IN ('requested', 'ready', 'in_transit', 'delivered', 'cancelled')),
      carrier         text,
      tracking_number text,
      address         text,
      requested_at    timestamptz NOT NULL,
      updated_at      timestamptz NOT NULL,
      delivered_at    timestamptz,
      CONSTRAINT shipping_shipments_order_key UNIQUE (order_id)
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX shipping_shipments_tracking_idx ON shipping_shipments (tracking_number) WHERE tracking_number IS NOT NULL`.execute(db);
  await sql`
    CREATE TABLE shipping_tracking_events (
      id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      shipment_id      bigint NOT NULL REFERENCES shipping_shipments (id),
      -- The carrier's id for the update: a replayed webhook finds it taken and changes nothing.
      carrier_event_id text,
      status           text NOT NULL,
      description      text NOT NULL DEFAULT '',
      occurred_at      timestamptz NOT NULL,
      received_at      timestamptz NOT NULL,
      CONSTRAINT shipping_tracking_events_carrier_event_key UNIQUE (carrier_event_id)
    )`.execute(db);
  await sql`CREATE INDEX shipping_tracking_events_shipment_idx ON shipping_tracking_events (shipment_id, occurred_at)`.execute(db);

  // ── notifications: who it was for, and which event caused it (a retried event sends nothing twice).
  await sql`ALTER TABLE notification_messages ADD COLUMN user_id bigint`.execute(db);
  await sql`ALTER TABLE notification_messages ADD COLUMN source_event_id uuid`.execute(db);
  await sql`ALTER TABLE notification_messages ADD COLUMN status text NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'failed'))`.execute(db);
  await sql`CREATE UNIQUE INDEX notification_messages_source_idx ON notification_messages (source_event_id, channel, recipient, template) WHERE source_event_id IS NOT NULL`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX notification_messages_source_idx`.execute(db);
  await sql`ALTER TABLE notification_messages DROP COLUMN status, DROP COLUMN source_event_id, DROP COLUMN user_id`.execute(db);
  await sql`DROP TABLE shipping_tracking_events`.execute(db);
  await sql`DROP TABLE shipping_shipments`.execute(db);
  await sql`ALTER TABLE order_orders DROP COLUMN shipping_address`.execute(db);
  await sql`DROP INDEX outbox_events_status_idx`.execute(db);
  await sql`ALTER TABLE outbox_events DROP COLUMN destination`.execute(db);
}
