/**
 * The PostgreSQL floor for an order (issue 9): what PostgreSQL itself does per second for the
 * writes any order must make, measured with pgbench in the same run as the scenarios, so a write
 * scenario can be read as a ratio to it (the machine's noise cancels).
 *
 * One transaction: the customer's wallet debited (conditional UPDATE of a random customer), the
 * order and its one line inserted (one statement: INSERT … RETURNING in a CTE feeding the line),
 * and the stock taken (conditional UPDATE) LAST, as Agora's lock order does, so the hot row is held
 * only for its statement and the commit. Run twice: on one hot product (every transaction queues
 * on one stock row, like order-rush-hot and the coupon row of coupon-storm) and on random products
 * (like order-rush-spread and the random wallets of charge-storm). Prepared protocol (-M prepared),
 * as many clients as the server has pool connections (the scenarios' 200 HTTP connections reach
 * PostgreSQL through that pool), on a scratch database with tables shaped like Agora's (the same
 * columns, CHECKs, foreign keys and indexes as db/migrations for these four tables).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { createScratchDatabase } from "./services.ts";
import { percentiles, progress } from "./util.ts";

export type FloorKind = "hot" | "random";

export interface FloorResult {
  kind: FloorKind;
  /** Committed transactions per second (pgbench's tps, without connection time). */
  tps: number;
  transactions: number;
  failed: number;
  latencyMs: { mean: number; p50: number; p99: number };
}

export interface Floors {
  pgbench: string;
  clients: number;
  seconds: number;
  hot: FloorResult;
  random: FloorResult;
}

/** Which floor each write scenario is read against. */
export const FLOOR_OF: Readonly<Record<string, FloorKind>> = {
  "coupon-storm": "hot",
  "order-rush-hot": "hot",
  "order-rush-spread": "random",
  "charge-storm": "random",
};

/** Issue 9's targets: these scenarios at least this share of their floor. */
export const FLOOR_TARGETS: Readonly<Record<string, number>> = {
  "order-rush-hot": 0.5,
  "order-rush-spread": 0.5,
};

const PRODUCTS = 1_000;
const CUSTOMERS = 2_000;

/** PGBENCH, then pgbench on PATH, then the newest /usr/lib/postgresql/<version>/bin/pgbench (Debian's layout). */
export function findPgbench(): string | null {
  if (process.env.PGBENCH && existsSync(process.env.PGBENCH)) return process.env.PGBENCH;
  const onPath = Bun.which("pgbench");
  if (onPath) return onPath;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "pgbench")))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  return versions[0] ? join(root, versions[0], "bin", "pgbench") : null;
}

export const FLOOR_SCHEMA = [
  `CREATE TABLE identity_users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE)`,
  `CREATE TABLE catalog_products (id bigint PRIMARY KEY, name text NOT NULL, price bigint NOT NULL CHECK (price >= 0))`,
  `CREATE TABLE inventory_stock (
     product_id          bigint PRIMARY KEY REFERENCES catalog_products (id) ON DELETE CASCADE,
     quantity            integer NOT NULL CHECK (quantity >= 0),
     low_stock_threshold integer NOT NULL DEFAULT 10 CHECK (low_stock_threshold >= 0),
     updated_at          timestamptz NOT NULL)`,
  `CREATE TABLE wallet_accounts (
     user_id    bigint PRIMARY KEY REFERENCES identity_users (id),
     balance    bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
     created_at timestamptz NOT NULL,
     updated_at timestamptz NOT NULL)`,
  `CREATE TABLE order_orders (
     id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     user_id          bigint NOT NULL REFERENCES identity_users (id),
     status           text NOT NULL CHECK (status IN ('pending_payment', 'paid', 'preparing', 'shipped', 'delivered', 'cancelled', 'refunded', 'expired')),
     subtotal_amount  bigint NOT NULL CHECK (subtotal_amount >= 0),
     discount_amount  bigint NOT NULL DEFAULT 0 CHECK (discount_amount >= 0 AND discount_amount <= subtotal_amount),
     final_amount     bigint NOT NULL CHECK (final_amount = subtotal_amount - discount_amount),
     created_at       timestamptz NOT NULL,
     updated_at       timestamptz NOT NULL,
     paid_at          timestamptz,
     payment_due_at   timestamptz,
     cancelled_at     timestamptz,
     cancel_reason    text)`,
  `CREATE INDEX order_orders_user_idx ON order_orders (user_id, id DESC)`,
  `CREATE INDEX order_orders_status_created_idx ON order_orders (status, created_at)`,
  `CREATE INDEX order_orders_created_idx ON order_orders (created_at, id)`,
  `CREATE TABLE order_lines (
     id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     order_id     bigint NOT NULL REFERENCES order_orders (id),
     product_id   bigint NOT NULL REFERENCES catalog_products (id),
     product_name text NOT NULL,
     unit_price   bigint NOT NULL CHECK (unit_price >= 0),
     quantity     integer NOT NULL CHECK (quantity > 0),
     line_amount  bigint NOT NULL CHECK (line_amount = unit_price * quantity))`,
  `CREATE INDEX order_lines_order_idx ON order_lines (order_id)`,
  `INSERT INTO identity_users SELECT g, 'floor-' || g || '@bench.agora.test' FROM generate_series(1, ${CUSTOMERS}) g`,
  `INSERT INTO wallet_accounts SELECT g, 1000000000000, now(), now() FROM generate_series(1, ${CUSTOMERS}) g`,
  `INSERT INTO catalog_products SELECT g, 'floor product ' || g, 1000 FROM generate_series(1, ${PRODUCTS}) g`,
  `INSERT INTO inventory_stock (product_id, quantity, updated_at) SELECT g, 1000000000, now() FROM generate_series(1, ${PRODUCTS}) g`,
  `ANALYZE`,
];

/** The pgbench script: one order's writes, the hot row last. */
export function floorScript(kind: FloorKind): string {
  return [
    `\\set customer random(1, ${CUSTOMERS})`,
    kind === "hot" ? "\\set product 1" : `\\set product random(1, ${PRODUCTS})`,
    "BEGIN;",
    "UPDATE wallet_accounts SET balance = balance - 1000, updated_at = now() WHERE user_id = :customer AND balance >= 1000;",
    "WITH placed AS (INSERT INTO order_orders (user_id, status, subtotal_amount, final_amount, created_at, updated_at, paid_at) " +
      "VALUES (:customer, 'paid', 1000, 1000, now(), now(), now()) RETURNING id) " +
      "INSERT INTO order_lines (order_id, product_id, product_name, unit_price, quantity, line_amount) SELECT id, :product, 'floor product', 1000, 1, 1000 FROM placed;",
    "UPDATE inventory_stock SET quantity = quantity - 1, updated_at = now() WHERE product_id = :product AND quantity >= 1;",
    "END;",
    "",
  ].join("\n");
}

/** pgbench's "tps = 1234.5 (without initial connection time)" and its failed count. */
export function parsePgbenchOutput(stdout: string): { tps: number; transactions: number; failed: number } {
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? Number.NaN);
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? 0);
  const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
  if (!Number.isFinite(tps)) throw new Error(`pgbench: no tps in its output:\n${stdout.slice(-2000)}`);
  return { tps, transactions, failed };
}

/** Per-transaction log lines (-l): "client_id transaction_no time_us script_no epoch epoch_us"; the third field is the latency. */
export function latenciesFromLog(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    const us = Number(line.split(" ")[2]);
    if (Number.isFinite(us) && line.length > 0) out.push(us / 1000);
  }
  return out;
}

async function runPgbench(pgbench: string, url: string, kind: FloorKind, clients: number, seconds: number, dir: string): Promise<FloorResult> {
  const script = join(dir, `${kind}.sql`);
  writeFileSync(script, floorScript(kind));
  const prefix = join(dir, `log-${kind}`);
  const args = [pgbench, "-n", "-M", "prepared", "-c", String(clients), "-j", "2", "-T", String(seconds), "-f", script, "-l", `--log-prefix=${prefix}`, url];
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`pgbench exited with ${code}: ${stderr.slice(-2000)}`);
  const parsed = parsePgbenchOutput(stdout);
  const latencies = readdirSync(dir)
    .filter((f) => f.startsWith(`log-${kind}`))
    .flatMap((f) => latenciesFromLog(readFileSync(join(dir, f), "utf8")));
  const p = percentiles(latencies);
  return { kind, ...parsed, latencyMs: { mean: p.mean, p50: p.p50, p99: p.p99 } };
}

/** Both floors on a scratch database of their own; null (with the reason shown) when pgbench is missing. */
export async function measureFloors(clients: number, seconds: number): Promise<Floors | null> {
  const pgbench = findPgbench();
  if (!pgbench) {
    progress("floor", "pgbench not found (set PGBENCH, or `apt-get install postgresql-contrib` / `postgresql-client`): no PostgreSQL floor in this run");
    return null;
  }
  const database = await createScratchDatabase("floor", {}, { migrate: false });
  const dir = mkdtempSync(join(tmpdir(), "agora-floor-"));
  try {
    for (const statement of FLOOR_SCHEMA) await sql.raw(statement).execute(database.handle.db);
    const results: Partial<Record<FloorKind, FloorResult>> = {};
    for (const kind of ["hot", "random"] as const) {
      progress("floor", `pgbench ${kind === "hot" ? "one hot product" : "random products"}: ${clients} clients, ${seconds} s, -M prepared`);
      const result = await runPgbench(pgbench, database.url, kind, clients, seconds, dir);
      progress(
        "floor",
        `${kind}: ${Math.round(result.tps)} orders/s, p50 ${result.latencyMs.p50.toFixed(1)} ms, p99 ${result.latencyMs.p99.toFixed(1)} ms${result.failed ? `, ${result.failed} failed` : ""}`,
      );
      results[kind] = result;
    }
    return { pgbench, clients, seconds, hot: results.hot as FloorResult, random: results.random as FloorResult };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await database.drop();
  }
}
