/**
 * `bun run db:backup` / `db:restore`, as an operator runs them: back up a shop with orders, wallets
 * and a cancellation, wipe the database, restore, and find every row and the books verified.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { createDatabase, migrateToLatest } from "../../db/index.ts";
import { startTestAgora, type TestAgora } from "../support/agora.ts";

const repoRoot = new URL("../..", import.meta.url).pathname;
const tables = [
  "identity_users",
  "catalog_products",
  "inventory_stock",
  "inventory_movements",
  "wallet_accounts",
  "wallet_ledger",
  "order_orders",
  "order_lines",
  "outbox_events",
];

let t: TestAgora;
let dir: string;

beforeAll(async () => {
  t = await startTestAgora();
  dir = mkdtempSync(join(tmpdir(), "agora-backup-"));
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

async function script(args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  const child = Bun.spawn([process.execPath, "scripts/db-backup.ts", ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, output: stdout + stderr };
}

async function snapshot(): Promise<Record<string, string>> {
  const rows: Record<string, string> = {};
  for (const table of tables) {
    // Row count and a checksum of every row's text: what was restored is what was backed up.
    const result = await sql<{
      n: number;
      digest: string;
    }>`SELECT count(*)::int AS n, coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') AS digest FROM ${sql.table(table)} t`.execute(t.db);
    rows[table] = `${result.rows[0]?.n}:${result.rows[0]?.digest}`;
  }
  return rows;
}

describe("backup and restore on PostgreSQL", () => {
  test("back up, wipe, restore: every order, wallet and ledger entry is back and the books verify", async () => {
    const [a, b] = await t.signUpCustomers(2, "backup");
    if (!a || !b) throw new Error("two customers");
    const product = await t.createProduct({ price: 12_000, stock: 20 });
    await t.fund(a, 100_000);
    await t.fund(b, 50_000);
    await a.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 2 }] });
    const cancelled = await b.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] });
    await b.client.orders.cancel.mutate({ orderId: cancelled.orderId, reason: "changed my mind" });
    const before = await snapshot();
    expect(before.order_orders?.startsWith("2:")).toBe(true);
    const epochBefore = await sql<{ epoch: string }>`SELECT epoch::text FROM coupon_admission_epoch`.execute(t.db);

    const file = join(dir, "shop.dump");
    const env = { DATABASE_URL: t.database.url };
    const backup = await script(["backup", "--out", file], env);
    expect(backup).toMatchObject({ code: 0 });
    expect(backup.output).toContain("backed up postgres");

    // The operator's order: stop the shop's background work (the sales roll-up, the pollers) before
    // wiping, or DROP SCHEMA deadlocks with a roll-up that is touching the tables.
    await t.agora.stop();
    await sql`DROP SCHEMA public CASCADE`.execute(t.db);
    await sql`CREATE SCHEMA public`.execute(t.db);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`.execute(t.db)).rows[0]?.n).toBe(0);

    const refused = await script(["restore", file], env);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain("--yes");
    const restore = await script(["restore", file, "--yes"], env);
    expect(restore).toMatchObject({ code: 0 });

    expect(await snapshot()).toEqual(before);
    // Coupon admission starts fresh: Redis state written after the backup is not this database's.
    const epochAfter = await sql<{ epoch: string }>`SELECT epoch::text FROM coupon_admission_epoch`.execute(t.db);
    expect(epochAfter.rows[0]?.epoch).not.toBe(epochBefore.rows[0]?.epoch);
    expect(await t.agora.services.wallet.verifyBooks()).toEqual({ checkedAccounts: 2, mismatches: [] });
    t.agora.start();
    // The restored shop works: the customer can order again.
    expect((await a.client.orders.place.mutate({ items: [{ productId: product.id, quantity: 1 }] })).finalAmount).toBe(12_000);
  }, 60_000);
});

describe("backup and restore of the embedded database", () => {
  test("PGlite's own dump restores into a new folder; the old one is moved aside, not deleted", async () => {
    const dataDir = join(dir, "data");
    const handle = await createDatabase({ dataDir });
    await migrateToLatest(handle.db);
    await sql`INSERT INTO identity_users (email, password_hash, name, role, created_at, updated_at) VALUES ('kim@agora.test', 'x', 'Kim', 'customer', now(), now())`.execute(
      handle.db,
    );
    await handle.close();

    const file = join(dir, "embedded.tar.gz");
    const env = { DATA_DIR: dataDir };
    expect((await script(["backup", "--out", file], env)).code).toBe(0);
    const restore = await script(["restore", file, "--yes"], env);
    expect(restore.code).toBe(0);
    expect(restore.output).toContain(".before-restore-");

    const restored = await createDatabase({ dataDir });
    try {
      const users = await restored.db.selectFrom("identity_users").select("email").execute();
      expect(users).toEqual([{ email: "kim@agora.test" }]);
    } finally {
      await restored.close();
    }
    // PGlite starts slowly (an in-process PostgreSQL compiled to WebAssembly, four opens here).
  }, 240_000);
});
