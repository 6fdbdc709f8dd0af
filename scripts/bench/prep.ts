/**
 * Data preparation. Two paths, kept apart on purpose:
 *
 *  - Through the API (the typed client, like any other client): customers sign up and get their
 *    sessions (the bench server runs with a low PASSWORD_MEMORY_COST so argon2id stays cheap),
 *    wallets are charged through wallet.charge and the fake card gateway, the admin creates
 *    products and coupons. Everything the flash-sale scenarios touch is made this way, so the
 *    invariants hold over data the application itself wrote.
 *
 *  - Bulk SQL fixtures (INSERT … SELECT generate_series), only for the read scenarios'
 *    own scratch database: 100,000 catalog products and up to a million historical order lines
 *    with their sales_daily aggregate. This is BENCHMARK FIXTURE DATA written straight into the
 *    harness's scratch database, not an application code path; nothing else reads it.
 */
import { sql } from "kysely";
import { type AgoraClient, createAgoraClient } from "../../apps/client/index.ts";
import type { Db } from "../../db/index.ts";
import { forEachConcurrent, progress, randomId } from "./util.ts";

export interface Customer {
  id: number;
  token: string;
}

export interface Api {
  url: string;
  client(token?: string): AgoraClient;
}

export function api(url: string): Api {
  return { url, client: (token?: string) => createAgoraClient({ url, token, batch: false }) };
}

export const BENCH_PASSWORD = "bench-password-1";

/** How wallets get their money, for the progress line and the docs. */
export const FUNDING_NOTE = "one wallet.charge each through the API and the fake gateway";

/** Signs `count` customers up through identity.signUp; each answer carries its session token. */
export async function signUpCustomers(api: Api, count: number, runId: string, phase: string, concurrency = 48): Promise<Customer[]> {
  const customers: Customer[] = new Array(count);
  const anonymous = api.client();
  await forEachConcurrent(
    count,
    concurrency,
    async (i) => {
      const session = await anonymous.identity.signUp.mutate({
        email: `c${i}-${runId}@bench.agora.test`,
        password: BENCH_PASSWORD,
        name: `Bench customer ${i}`,
      });
      customers[i] = { id: session.user.id, token: session.token };
    },
    (done) => progress(phase, `signed up ${done}/${count} customers`),
    2000,
  );
  return customers;
}

/** Charges each customer's wallet once through wallet.charge (and the fake card gateway). */
export async function fundCustomers(api: Api, customers: Customer[], amount: number, phase: string, concurrency = 64): Promise<void> {
  await forEachConcurrent(
    customers.length,
    concurrency,
    async (i) => {
      const customer = customers[i] as Customer;
      await api.client(customer.token).wallet.charge.mutate({ amount, idempotencyKey: `bench-fund-${customer.id}` });
    },
    (done) => progress(phase, `charged ${done}/${customers.length} wallets with ${amount} won`),
    1000,
  );
}

export async function loginAdmin(api: Api, email: string, password: string): Promise<string> {
  return (await api.client().identity.login.mutate({ email, password })).token;
}

export interface CreatedProduct {
  id: number;
  price: number;
  stock: number;
}

export async function createProducts(
  api: Api,
  adminToken: string,
  count: number,
  fields: { price: number; stock: number; name: string },
  phase: string,
): Promise<CreatedProduct[]> {
  const admin = api.client(adminToken);
  const products: CreatedProduct[] = new Array(count);
  await forEachConcurrent(
    count,
    16,
    async (i) => {
      const p = await admin.catalog.admin.create.mutate({
        name: count === 1 ? fields.name : `${fields.name} ${i + 1}`,
        category: "bench",
        price: fields.price,
        initialStock: fields.stock,
        lowStockThreshold: 0,
      });
      products[i] = { id: p.id, price: p.price, stock: fields.stock };
    },
    count >= 100 ? (done) => progress(phase, `created ${done}/${count} products`) : undefined,
    500,
  );
  return products;
}

export async function createCoupon(api: Api, adminToken: string, quantity: number, name: string): Promise<number> {
  const now = Date.now();
  const coupon = await api.client(adminToken).coupons.admin.create.mutate({
    name,
    discountType: "fixed",
    discountValue: 1_000,
    totalQuantity: quantity,
    issueStartsAt: new Date(now - 60_000),
    issueEndsAt: new Date(now + 3_600_000),
    validDays: 7,
  });
  return coupon.couponId;
}

// ── bulk fixtures (read scenarios' scratch database only) ─────────────────

const ADJECTIVES = ["Classic", "Organic", "Wireless", "Compact", "Deluxe", "Vintage", "Smart", "Eco", "Premium", "Mini", "Ultra", "Handmade"];
const NOUNS = [
  "Mug",
  "Lamp",
  "Chair",
  "Speaker",
  "Backpack",
  "Notebook",
  "Jacket",
  "Kettle",
  "Sneakers",
  "Blanket",
  "Watch",
  "Camera",
  "Serum",
  "Coffee",
  "Puzzle",
];
const FINISHES = ["Red", "Blue", "Walnut", "Steel", "Linen", "Oak", "Black", "White"];
export const FIXTURE_CATEGORIES = Array.from({ length: 20 }, (_, i) => `cat-${String(i + 1).padStart(2, "0")}`);

const textArray = (values: string[]) => sql.raw(`ARRAY[${values.map((v) => `'${v.replaceAll("'", "''")}'`).join(",")}]`);

/**
 * BENCHMARK FIXTURE: `count` products in one INSERT … SELECT generate_series, with stock rows and
 * their initial inbound movements. Names are "<adjective> <noun> <finish> No. <n>", each part
 * picked by an independent hash of n, so searches can be common ("Vintage", 1 in 12), mid
 * ("Kettle Walnut", 1 in 120) or rare ("No. 4242"), in any category. 2% are hidden; created_at
 * spreads over the last `count` minutes.
 */
export async function bulkProducts(db: Db, count: number): Promise<{ firstId: number; lastId: number }> {
  const pick = (values: string[], seed: number) => sql`(${textArray(values)})[1 + (hashint4(g + ${sql.lit(seed)}) & 2147483647) % ${sql.lit(values.length)}]`;
  const range = await sql<{ first_id: number | null; last_id: number | null }>`
    WITH inserted AS (
      INSERT INTO catalog_products (name, category, price, description, status, created_at, updated_at)
      SELECT ${pick(ADJECTIVES, 0)} || ' ' || ${pick(NOUNS, 1_000_003)} || ' ' || ${pick(FINISHES, 2_000_003)} || ' No. ' || g,
             (${textArray(FIXTURE_CATEGORIES)})[1 + g % ${sql.lit(FIXTURE_CATEGORIES.length)}],
             (1 + (hashint4(g + 3000017) & 2147483647) % 500) * 990,
             'Benchmark fixture product',
             CASE WHEN g % 50 = 0 THEN 'hidden' ELSE 'active' END,
             now() - (${sql.lit(count)} - g) * interval '1 minute',
             now() - (${sql.lit(count)} - g) * interval '1 minute'
        FROM generate_series(1, ${sql.lit(count)}) AS g
      RETURNING id
    )
    SELECT min(id) AS first_id, max(id) AS last_id FROM inserted`.execute(db);
  const firstId = Number(range.rows[0]?.first_id);
  const lastId = Number(range.rows[0]?.last_id);
  await sql`
    INSERT INTO inventory_stock (product_id, quantity, low_stock_threshold, updated_at)
    SELECT id, 20 + (id * 31) % 200, 10, now() FROM catalog_products WHERE id BETWEEN ${firstId} AND ${lastId}`.execute(db);
  await sql`
    INSERT INTO inventory_movements (product_id, kind, quantity_change, quantity_after, reason, created_at)
    SELECT product_id, 'inbound', quantity, quantity, 'benchmark fixture', now() FROM inventory_stock WHERE product_id BETWEEN ${firstId} AND ${lastId}`.execute(
    db,
  );
  // As a catalog that has been live for a while: hint bits set, visibility map and statistics current.
  for (const table of ["catalog_products", "inventory_stock", "inventory_movements"]) await sql`VACUUM (ANALYZE) ${sql.table(table)}`.execute(db);
  return { firstId, lastId };
}

/**
 * BENCHMARK FIXTURE: adds `lines` historical order lines (two per delivered order, paid at random
 * moments of the last 30 days, products skewed towards a popular head: id ~ first + n·u³) and
 * adds them to sales_daily exactly as recordSale would have. One fixture customer owns them.
 * Order ids are assigned here (OVERRIDING SYSTEM VALUE) so lines can refer to them in one pass;
 * the identity sequence is moved past them afterwards.
 */
export async function bulkOrderHistory(db: Db, lines: number, products: { firstId: number; lastId: number }): Promise<void> {
  const orders = Math.ceil(lines / 2);
  const span = products.lastId - products.firstId + 1;
  const user = await sql<{ id: number }>`
    INSERT INTO identity_users (email, password_hash, name, role, status, created_at, updated_at)
    VALUES (${`history-${randomId(6)}@bench.agora.test`}, 'fixture: cannot log in', 'Order history fixture', 'customer', 'active', now(), now())
    RETURNING id`.execute(db);
  const userId = Number(user.rows[0]?.id);
  const superuser = (await sql<{ s: boolean }>`SELECT rolsuper AS s FROM pg_roles WHERE rolname = current_user`.execute(db)).rows[0]?.s === true;
  await db.transaction().execute(async (trx) => {
    // Fixture rows are consistent by construction (and checked afterwards against sales_daily):
    // skip the per-row foreign-key triggers, which would otherwise make up most of the load time.
    if (superuser) await sql`SET LOCAL session_replication_role = replica`.execute(trx);
    await sql`SET LOCAL synchronous_commit = off`.execute(trx);
    await sql`SET LOCAL work_mem = '256MB'`.execute(trx);
    await sql`
      CREATE TEMP TABLE bench_fixture_lines ON COMMIT DROP AS
      WITH base AS (SELECT coalesce(max(id), 0) AS id FROM order_orders),
      o AS (
        SELECT base.id + g AS order_id, now() - random() * interval '30 days' AS paid_at
          FROM base, generate_series(1, ${sql.lit(orders)}) AS g
      )
      SELECT o.order_id, o.paid_at, l.n,
             ${sql.lit(products.firstId)} + floor(${sql.lit(span)} * power(random(), 3))::bigint AS product_id,
             1 + floor(random() * 3)::int AS quantity
        FROM o CROSS JOIN (VALUES (1), (2)) AS l(n)`.execute(trx);
    await sql`
      INSERT INTO order_orders (id, user_id, status, subtotal_amount, discount_amount, final_amount, created_at, updated_at, paid_at)
      OVERRIDING SYSTEM VALUE
      SELECT f.order_id, ${userId}, 'delivered', sum(p.price * f.quantity), 0, sum(p.price * f.quantity), min(f.paid_at), min(f.paid_at), min(f.paid_at)
        FROM bench_fixture_lines f JOIN catalog_products p ON p.id = f.product_id
       GROUP BY f.order_id`.execute(trx);
    await sql`
      INSERT INTO order_lines (order_id, product_id, product_name, unit_price, quantity, line_amount)
      SELECT f.order_id, f.product_id, p.name, p.price, f.quantity, p.price * f.quantity
        FROM bench_fixture_lines f JOIN catalog_products p ON p.id = f.product_id`.execute(trx);
    await sql`
      INSERT INTO sales_daily (day, product_id, sold_quantity, order_count)
      SELECT (paid_at AT TIME ZONE 'UTC')::date, product_id, sum(quantity), count(DISTINCT order_id)
        FROM bench_fixture_lines GROUP BY 1, 2
      ON CONFLICT (day, product_id) DO UPDATE
        SET sold_quantity = sales_daily.sold_quantity + EXCLUDED.sold_quantity,
            order_count = sales_daily.order_count + EXCLUDED.order_count`.execute(trx);
    await sql`SELECT setval(pg_get_serial_sequence('order_orders', 'id'), (SELECT max(id) FROM order_orders))`.execute(trx);
  });
  for (const table of ["order_orders", "order_lines", "sales_daily"]) await sql`ANALYZE ${sql.table(table)}`.execute(db);
  await sql`VACUUM (ANALYZE) sales_daily`.execute(db).catch(() => {});
}
