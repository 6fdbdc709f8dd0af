/**
 * `bun scripts/bench/order-statements.ts [--rounds N] [--seconds S] [--batch B]`: what PostgreSQL
 * alone allows for Agora's order as it is written today, and what writing several orders per
 * transaction would buy (issue 9: the design question behind order-rush-spread).
 *
 * pgbench runs, on a scratch database migrated to Agora's schema (every table, index, CHECK,
 * foreign key and trigger of db/migrations), the statements one keyed wallet order sends
 * (modules/orders/repository.ts, sales, outbox, wallet, idempotency and catalog repositories, as
 * logged with log_statement = all), in the same transaction shape:
 *
 *   single   one order per transaction: the key claim with the order, its line and its payment;
 *            the pending sale; 4 outbox rows (one per subscribed destination); the wallet debit
 *            with its ledger entry; the key's completion; the stock with its movement.
 *   batched  B orders per transaction (distinct customers and products), each statement above
 *            written once for all of them (multi-row INSERTs, UPDATE … FROM a list).
 *   lean     one order per transaction with fewer rows: one outbox row instead of four, no pending
 *            sale, no stock movement (what those rows cost, not a proposal to drop what they record).
 *
 * plus the random-product floor (floor.ts) in the same run. Alternating rounds; orders/s of each.
 * No HTTP, no server: the server's own CPU per order comes on top (docs/benchmarks.md).
 * The texts below copy the repositories' statements; if those change, change these.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { findPgbench, measureFloors, parsePgbenchOutput } from "./floor.ts";
import { createScratchDatabase } from "./services.ts";
import { progress } from "./util.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const ROUNDS = option("--rounds", 3);
const SECONDS = option("--seconds", 5);
const BATCH = option("--batch", 8);
const CLIENTS = 10; // the server's default pool (DB_POOL_SIZE), as the floor
const CUSTOMERS = 20_000;
const PRODUCTS = 1_000;

const HASH = "e7fc1d14ac6ca5e3311985971f52d9a2495d75cb2128db6da22e45b0fcc5d810";
const PAYLOAD = `'{"items": [{"quantity": 1, "productId": 3, "unitPrice": 1000, "productName": "Product 24"}], "paidAt": "2026-11-21T09:00:00.000Z", "userId": 3, "orderId": 23, "finalAmount": 1000, "discountAmount": 0, "subtotalAmount": 1000}'::jsonb`;
const RESPONSE = `'{"json": {"status": "paid", "orderId": 22, "payments": [{"amount": 1000, "method": "wallet"}], "createdAt": "2026-11-21T09:00:00.000Z", "finalAmount": 1000, "discountAmount": 0, "subtotalAmount": 1000, "remainingBalance": 48000}, "meta": {"v": 1, "values": {"createdAt": ["Date"]}}}'::jsonb`;
// The rows of stop 24's measurement; since then the webhooks fan-out row is written only when an endpoint wants the event.
const DESTINATIONS = `ARRAY['data-platform', 'shipping', 'notifications', 'webhooks']`;
const STOCK_SET = `quantity = CASE WHEN quantity >= low_stock_threshold AND quantity - 1 < low_stock_threshold AND quantity - 1 >= 0 THEN NULL ELSE quantity - 1 END, updated_at = now()`;

/** One order per transaction, as Agora sends it; `lean` leaves out three of the rows. */
function singleScript(lean: boolean): string {
  return [
    `\\set u random(1, ${CUSTOMERS})`,
    `\\set p random(1, ${PRODUCTS})`,
    "\\set k random(1, 1000000000000)",
    "BEGIN;",
    `WITH claim AS (INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status, created_at, updated_at) VALUES (:u, 'orders.place', 'k-' || :k, '${HASH}', 'in_progress', now(), now()) ON CONFLICT (user_id, scope, key) DO NOTHING RETURNING key),
  existing AS (SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = :u AND scope = 'orders.place' AND key = 'k-' || :k),
  o AS (INSERT INTO order_orders (user_id, status, subtotal_amount, discount_amount, final_amount, issued_coupon_id, paid_at, payment_due_at, shipping_address, created_at, updated_at) SELECT :u, 'paid', 1000, 0, 1000, NULL, now(), NULL, NULL, now(), now() FROM claim RETURNING id, created_at),
  l AS (INSERT INTO order_lines (order_id, product_id, product_name, unit_price, quantity, line_amount) SELECT o.id, :p, 'Product x', 1000, 1, 1000 FROM o),
  pm AS (INSERT INTO order_payments (order_id, method, amount, status, card_payment_id, created_at) SELECT o.id, 'wallet', 1000, 'paid', NULL, o.created_at FROM o)
  SELECT (SELECT id FROM o) AS id, existing.request_hash, existing.status, existing.response FROM (VALUES (1)) AS one (n) LEFT JOIN existing ON NOT EXISTS (SELECT 1 FROM claim);`.replace(
      /\n\s*/g,
      " ",
    ),
    lean ? "" : "INSERT INTO sales_pending (day, product_id, sold_quantity, order_count) VALUES (current_date, :p, 1, 1);",
    `INSERT INTO outbox_events (id, aggregate_type, aggregate_id, type, destination, payload, status, next_attempt_at, created_at) SELECT gen_random_uuid(), 'order', :k::text, 'order.paid', d, ${PAYLOAD}, 'pending', now(), now() FROM unnest(${lean ? "ARRAY['all']" : DESTINATIONS}) d;`,
    "WITH debited AS (UPDATE wallet_accounts SET balance = balance - 1000, updated_at = now() WHERE user_id = :u AND balance >= 1000 RETURNING user_id, balance) INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, order_id, gateway_reference, created_at) SELECT debited.user_id, 'payment', -1000, debited.balance, :k, NULL, now() FROM debited RETURNING id, balance_after;",
    `UPDATE idempotency_keys SET status = 'completed', response = ${RESPONSE}, updated_at = now() WHERE user_id = :u AND scope = 'orders.place' AND key = 'k-' || :k;`,
    lean
      ? `UPDATE inventory_stock SET ${STOCK_SET} WHERE product_id = :p;`
      : `WITH changed AS (UPDATE inventory_stock SET ${STOCK_SET} WHERE product_id = :p RETURNING product_id, quantity) INSERT INTO inventory_movements (product_id, kind, quantity_change, quantity_after, reason, actor_id, order_id, created_at) SELECT product_id, 'sale', -1, quantity, NULL, NULL, :k, now() FROM changed;`,
    "COMMIT;",
    "",
  ]
    .filter((line) => line !== "")
    .join("\n");
}

/** `batch` orders per transaction: distinct customers (u + g × stride) and products, each statement once for all. */
function batchedScript(batch: number): string {
  const userStride = Math.floor(CUSTOMERS / batch);
  const productStride = Math.floor(PRODUCTS / batch);
  const g = `generate_series(0, ${batch - 1}) g`;
  const user = `:u + ${userStride} * g`;
  const product = `:p + ${productStride} * g`;
  return [
    `\\set u random(1, ${userStride})`,
    `\\set p random(1, ${productStride})`,
    "\\set k random(1, 1000000000000)",
    "BEGIN;",
    `WITH input AS (SELECT ${user} AS user_id, ${product} AS product_id, 'k-' || :k || '-' || g AS key FROM ${g}),
  claim AS (INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status, created_at, updated_at) SELECT user_id, 'orders.place', key, '${HASH}', 'in_progress', now(), now() FROM input ON CONFLICT (user_id, scope, key) DO NOTHING RETURNING user_id, key),
  o AS (INSERT INTO order_orders (user_id, status, subtotal_amount, discount_amount, final_amount, issued_coupon_id, paid_at, payment_due_at, shipping_address, created_at, updated_at) SELECT user_id, 'paid', 1000, 0, 1000, NULL, now(), NULL, NULL, now(), now() FROM claim RETURNING id, user_id, created_at),
  l AS (INSERT INTO order_lines (order_id, product_id, product_name, unit_price, quantity, line_amount) SELECT o.id, i.product_id, 'Product x', 1000, 1, 1000 FROM o JOIN input i USING (user_id)),
  pm AS (INSERT INTO order_payments (order_id, method, amount, status, card_payment_id, created_at) SELECT o.id, 'wallet', 1000, 'paid', NULL, o.created_at FROM o)
  SELECT o.id, o.user_id FROM o;`.replace(/\n\s*/g, " "),
    `INSERT INTO sales_pending (day, product_id, sold_quantity, order_count) SELECT current_date, ${product}, 1, 1 FROM ${g};`,
    `INSERT INTO outbox_events (id, aggregate_type, aggregate_id, type, destination, payload, status, next_attempt_at, created_at) SELECT gen_random_uuid(), 'order', (:k::bigint + g)::text, 'order.paid', d, ${PAYLOAD}, 'pending', now(), now() FROM ${g}, unnest(${DESTINATIONS}) d;`,
    `WITH input AS (SELECT ${user} AS user_id FROM ${g}), debited AS (UPDATE wallet_accounts w SET balance = balance - 1000, updated_at = now() FROM input WHERE w.user_id = input.user_id AND balance >= 1000 RETURNING w.user_id, w.balance) INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, order_id, gateway_reference, created_at) SELECT debited.user_id, 'payment', -1000, debited.balance, :k, NULL, now() FROM debited RETURNING id, balance_after;`,
    `UPDATE idempotency_keys k SET status = 'completed', response = ${RESPONSE}, updated_at = now() FROM ${g} WHERE k.user_id = ${user} AND k.scope = 'orders.place' AND k.key = 'k-' || :k || '-' || g;`,
    `WITH input AS (SELECT ${product} AS product_id FROM ${g}), changed AS (UPDATE inventory_stock s SET ${STOCK_SET} FROM input WHERE s.product_id = input.product_id RETURNING s.product_id, s.quantity) INSERT INTO inventory_movements (product_id, kind, quantity_change, quantity_after, reason, actor_id, order_id, created_at) SELECT product_id, 'sale', -1, quantity, NULL, NULL, :k, now() FROM changed;`,
    "COMMIT;",
    "",
  ].join("\n");
}

const pgbench = findPgbench();
if (!pgbench) throw new Error("pgbench not found (apt-get install postgresql-client)");
const database = await createScratchDatabase("statements");
const dir = mkdtempSync(join(tmpdir(), "agora-statements-"));
try {
  const db = database.handle.db;
  await sql`INSERT INTO identity_users (email, password_hash, name, created_at, updated_at)
            SELECT 'statements-' || g || '@bench.agora.test', 'x', 'Bench', now(), now() FROM generate_series(1, ${CUSTOMERS}) g`.execute(db);
  await sql`INSERT INTO wallet_accounts (user_id, balance, created_at, updated_at) SELECT id, 100000000, now(), now() FROM identity_users`.execute(db);
  await sql`INSERT INTO catalog_products (name, category, price, created_at, updated_at)
            SELECT 'Product ' || g, 'general', 1000, now(), now() FROM generate_series(1, ${PRODUCTS}) g`.execute(db);
  await sql`INSERT INTO inventory_stock (product_id, quantity, low_stock_threshold, updated_at) SELECT id, 1000000000, 0, now() FROM catalog_products`.execute(
    db,
  );
  await sql`ANALYZE`.execute(db);
  const [firstUser, firstProduct] = await Promise.all([
    sql<{ id: number }>`SELECT min(id)::int AS id FROM identity_users`.execute(db),
    sql<{ id: number }>`SELECT min(id)::int AS id FROM catalog_products`.execute(db),
  ]);
  if (firstUser.rows[0]?.id !== 1 || firstProduct.rows[0]?.id !== 1) throw new Error("expected ids from 1 on a fresh database");

  const scripts = { single: singleScript(false), [`batched ×${BATCH}`]: batchedScript(BATCH), lean: singleScript(true) } as Record<string, string>;
  const perTransaction: Record<string, number> = { single: 1, [`batched ×${BATCH}`]: BATCH, lean: 1 };
  const results: Record<string, number[]> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, script] of Object.entries(scripts)) {
      const file = join(dir, `${name.replace(/\W+/g, "-")}.sql`);
      writeFileSync(file, script);
      const proc = Bun.spawn([pgbench, "-n", "-M", "prepared", "-c", String(CLIENTS), "-j", "2", "-T", String(SECONDS), "-f", file, database.url], {
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (code !== 0) throw new Error(`pgbench (${name}) exited with ${code}: ${stderr.slice(-2000)}`);
      const orders = parsePgbenchOutput(stdout).tps * (perTransaction[name] ?? 1);
      results[name] = [...(results[name] ?? []), orders];
      progress("statements", `round ${round}: ${name}: ${Math.round(orders).toLocaleString("en-US")} orders/s`);
    }
  }
  const floors = await measureFloors(CLIENTS, SECONDS);
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const single = mean(results.single ?? [0]);
  console.log(`\n| statements (${CLIENTS} clients, ${SECONDS} s × ${ROUNDS} rounds) | orders/s, each round | mean | × single | × random floor |`);
  console.log("| --- | --- | --- | --- | --- |");
  for (const [name, values] of Object.entries(results)) {
    const m = mean(values);
    const floorRatio = floors ? (m / floors.random.tps).toFixed(2) : "–";
    console.log(
      `| ${name} | ${values.map((v) => Math.round(v).toLocaleString("en-US")).join(" / ")} | ${Math.round(m).toLocaleString("en-US")} | ${(m / single).toFixed(2)} | ${floorRatio} |`,
    );
  }
  if (floors) console.log(`| random-product floor (floor.ts) | ${Math.round(floors.random.tps).toLocaleString("en-US")} | | | 1.00 |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await database.drop();
}
