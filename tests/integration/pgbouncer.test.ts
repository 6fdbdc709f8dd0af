/**
 * Agora behind PgBouncer in transaction pooling mode (Debian's package; scripts/pgbouncer.sh starts it
 * on 127.0.0.1:6432 and this file starts it when it is installed but not running). Between two
 * transactions a client may land on another server connection, so nothing may outlive a transaction:
 * no named prepared statements unless PgBouncer >= 1.21 keeps them (DATABASE_PREPARED_STATEMENTS=false turns
 * them off; Debian 12 ships 1.18), no session settings, no session
 * advisory locks, and no LISTEN (DATABASE_LISTEN_URL gives the poller a direct connection).
 *
 * Real flows run through it, several customers at once so that transactions interleave on PgBouncer's
 * server connections, and the books are checked afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import pg from "pg";
import { createDatabase } from "../../db/index.ts";
import { type Customer, startTestAgora, type TestAgora } from "../support/agora.ts";
import { openMessages } from "../support/notification-log.ts";

const BOUNCER = new URL(process.env.TEST_PGBOUNCER_URL ?? "postgres://postgres@127.0.0.1:6432/");
const installed = Bun.which("pgbouncer") !== null || existsSync("/usr/sbin/pgbouncer");
if (!installed) console.warn("pgbouncer.test.ts: skipped, pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)");

/** The same database, through PgBouncer. */
const throughBouncer = (directUrl: string) => {
  const url = new URL(directUrl);
  url.host = BOUNCER.host;
  return url.toString();
};

/** PgBouncer's admin console (simple queries only). */
async function bouncerAdmin(command: string): Promise<Array<Record<string, unknown>>> {
  const url = new URL(BOUNCER);
  url.pathname = "/pgbouncer";
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query(command)).rows;
  } finally {
    await client.end();
  }
}

async function bouncerAnswers(): Promise<boolean> {
  try {
    await bouncerAdmin("SHOW VERSION");
    return true;
  } catch {
    return false;
  }
}

const DAY = 86_400_000;
let t: TestAgora;

beforeAll(async () => {
  if (!installed) return;
  if (!(await bouncerAnswers())) {
    const started = Bun.spawnSync(["bash", join(import.meta.dir, "../../scripts/pgbouncer.sh"), "start"], { stderr: "pipe", stdout: "pipe" });
    if (started.exitCode !== 0) throw new Error(`scripts/pgbouncer.sh start failed: ${started.stderr.toString()}`);
  }
  t = await startTestAgora({
    databaseRoute: {
      connectUrl: throughBouncer,
      // Debian 12's PgBouncer is 1.18: no max_prepared_statements, so the order path's named statements
      // are turned off, as DATABASE_PREPARED_STATEMENTS=false does for a server behind it.
      preparedStatements: false,
      // PgBouncer keeps server connections to the database open; let go of them so it can be dropped.
      beforeDrop: async (name) => void (await bouncerAdmin(`KILL "${name}"`).catch(() => {})),
    },
  });
});
afterAll(() => t?.close());

describe.skipIf(!installed)("through PgBouncer in transaction mode", () => {
  test("the pool really goes through PgBouncer, in transaction mode", async () => {
    await t.signUpCustomer("first");
    const pools = await bouncerAdmin("SHOW POOLS");
    const ours = pools.find((p) => p.database === t.database.name);
    expect(ours?.pool_mode).toBe("transaction");
    expect(Number(ours?.sv_active ?? 0) + Number(ours?.sv_idle ?? 0) + Number(ours?.sv_used ?? 0)).toBeGreaterThan(0);
  });

  test("sign-up, charge, coupon issue, order place and cancel, outbox drain: the books and the invariants hold", async () => {
    const admin = await t.admin();
    const product = await t.createProduct({ name: "풀러 뒤의 상품", price: 10_000, stock: 12 });
    const coupon = await admin.client.coupons.admin.create.mutate({
      name: "2,000 off",
      discountType: "fixed",
      discountValue: 2_000,
      totalQuantity: 5,
      issueStartsAt: new Date(t.clock.now().getTime() - 1_000),
      issueEndsAt: new Date(t.clock.now().getTime() + DAY),
      validDays: 7,
    });
    const customers: Customer[] = await t.signUpCustomers(10, "bouncer");
    // Charges at once: each is a recorded attempt, a gateway call and a credit, in their own transactions.
    await Promise.all(customers.map((c) => t.fund(c, 30_000)));

    // Ten customers race for five coupons.
    const issued = await Promise.allSettled(customers.map((c) => c.client.coupons.issue.mutate({ couponId: coupon.couponId })));
    const winners = issued.flatMap((r, i) => (r.status === "fulfilled" ? [{ customer: customers[i] as Customer, userCouponId: r.value.userCouponId }] : []));
    expect(winners).toHaveLength(5);

    // Everyone orders two units of twelve at once; coupon holders use theirs.
    const orders = await Promise.allSettled(
      customers.map((c) => {
        const win = winners.find((w) => w.customer === c);
        return c.client.orders.place.mutate({
          items: [{ productId: product.id, quantity: 2 }],
          shippingAddress: "서울특별시 중구 세종대로 110",
          ...(win ? { userCouponId: win.userCouponId } : {}),
        });
      }),
    );
    const placed = orders.flatMap((r, i) => (r.status === "fulfilled" ? [{ customer: customers[i] as Customer, order: r.value }] : []));
    expect(placed).toHaveLength(6); // 12 units, 2 each
    for (const r of orders) if (r.status === "rejected") expect((r.reason as { data?: { domainCode?: string } }).data?.domainCode).toBe("INSUFFICIENT_STOCK");

    // Two of them cancel: stock, money and coupons come back.
    const cancelled = placed.slice(0, 2);
    await Promise.all(cancelled.map(({ customer, order }) => customer.client.orders.cancel.mutate({ orderId: order.orderId })));

    const stock = await t.db.selectFrom("inventory_stock").select("quantity").where("product_id", "=", product.id).executeTakeFirstOrThrow();
    expect(stock.quantity).toBe(12 - 2 * (placed.length - cancelled.length));

    for (const c of customers) {
      const account = await t.db.selectFrom("wallet_accounts").select("balance").where("user_id", "=", c.id).executeTakeFirstOrThrow();
      const ledger = await t.db.selectFrom("wallet_ledger").select(["amount", "balance_after"]).where("user_id", "=", c.id).orderBy("id").execute();
      let running = 0;
      for (const entry of ledger) {
        running += entry.amount;
        expect(entry.balance_after).toBe(running);
      }
      expect(account.balance).toBe(running);
      const mine = placed.find((p) => p.customer === c);
      const paid = mine && !cancelled.includes(mine) ? mine.order.finalAmount : 0;
      expect(account.balance).toBe(30_000 - paid);
    }

    const used = await t.db.selectFrom("coupon_issued").select(["user_id", "status"]).where("coupon_id", "=", coupon.couponId).execute();
    expect(used).toHaveLength(5);
    expect(new Set(used.map((u) => u.user_id)).size).toBe(5);

    // The outbox drains through PgBouncer: every event delivered once, one receipt per paid order.
    for (let r = await t.agora.outboxPoller.runOnce(); r.claimed > 0; r = await t.agora.outboxPoller.runOnce()) {}
    const pending = await t.db.selectFrom("outbox_events").select(["type", "status"]).where("status", "!=", "sent").execute();
    expect(pending).toEqual([]);
    const receipts = await openMessages(
      await t.db.selectFrom("notification_messages").select(["recipient", "user_id"]).where("template", "=", "order.paid").execute(),
    );
    expect(receipts.map((m) => m.recipient).sort()).toEqual(placed.map((p) => p.customer.email).sort());
    expect(t.dataPlatform.applied().filter((e) => e.type === "order.paid")).toHaveLength(placed.length);
  });

  test("LISTEN through PgBouncer is refused with the way out; DATABASE_LISTEN_URL's direct connection hears the outbox", async () => {
    const direct = t.database.url;
    const pooled = await createDatabase({ url: throughBouncer(direct), poolSize: 2 });
    try {
      const error = await pooled.listen("agora_outbox", () => {}).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain("DATABASE_LISTEN_URL");
    } finally {
      await pooled.close();
    }

    const split = await createDatabase({ url: throughBouncer(direct), listenUrl: direct, poolSize: 2 });
    try {
      const heard: string[] = [];
      const unsubscribe = await split.listen("agora_bouncer_test", (payload) => heard.push(payload ?? ""));
      // Sent through PgBouncer, heard on the direct connection.
      await sql`SELECT pg_notify('agora_bouncer_test', 'hello')`.execute(split.db);
      for (let i = 0; i < 100 && heard.length === 0; i++) await Bun.sleep(20);
      expect(heard).toEqual(["hello"]);
      await unsubscribe();
    } finally {
      await split.close();
    }
  });

  test("DB_STATEMENT_TIMEOUT_MS, which PgBouncer refuses at connect, is left out with a warning instead of failing every connection", async () => {
    const warnings: string[] = [];
    const pooled = await createDatabase({ url: throughBouncer(t.database.url), poolSize: 1, statementTimeoutMs: 1_234, warn: (m) => warnings.push(m) });
    try {
      expect((await sql<{ answer: number }>`SELECT 1 AS answer`.execute(pooled.db)).rows[0]?.answer).toBe(1);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain("ALTER ROLE");
      // What the handle reports is what startup reads: no SET/RESET around migrations through the pooler.
      expect(pooled.statementTimeoutMs).toBe(0);
    } finally {
      await pooled.close();
    }
    // Directly, the same setting is applied.
    const direct = await createDatabase({ url: t.database.url, poolSize: 1, statementTimeoutMs: 1_234, warn: (m) => warnings.push(m) });
    try {
      expect((await sql<{ statement_timeout: string }>`SHOW statement_timeout`.execute(direct.db)).rows[0]?.statement_timeout).toBe("1234ms");
      expect(direct.statementTimeoutMs).toBe(1_234);
      expect(warnings).toHaveLength(1);
    } finally {
      await direct.close();
    }
  });
});
