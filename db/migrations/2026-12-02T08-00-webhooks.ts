import { type Kysely, sql } from "kysely";

/**
 * Webhooks for integrators (modules/webhooks). An endpoint is a URL, a signing secret (sealed like
 * personal data, kernel/pii.ts: it must be opened to sign) and the event types it wants. Each event
 * sent to an endpoint is one delivery row, unique per (endpoint, event): a fan-out that runs twice
 * writes it once. The outbox does the sending, retries and dead state; the row is the log the
 * operator reads.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE webhook_endpoints (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
      secret text NOT NULL,
      event_types text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 50),
      description text NOT NULL DEFAULT '' CHECK (length(description) <= 200),
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
      created_by bigint REFERENCES identity_users (id),
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX webhook_endpoints_event_types_idx ON webhook_endpoints USING gin (event_types) WHERE status = 'active'`.execute(db);
  await sql`
    CREATE TABLE webhook_deliveries (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      endpoint_id bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
      event_id uuid NOT NULL,
      event_type text NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'dead', 'skipped')),
      attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
      last_status_code integer CHECK (last_status_code BETWEEN 100 AND 599),
      last_error text CHECK (length(last_error) <= 1000),
      created_at timestamptz NOT NULL,
      last_attempt_at timestamptz,
      delivered_at timestamptz,
      CONSTRAINT webhook_deliveries_once_per_event UNIQUE (endpoint_id, event_id)
    )`.execute(db);
  await sql`CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC)`.execute(db);
}
