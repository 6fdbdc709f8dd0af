/**
 * `bun run bench web`: the web pages' budgets, measured (never asserted in tests).
 *
 * 1. First meaningful paint of the storefront `/` (first product card shown) and the console `/admin`
 *    (an operator's dashboard figures shown) in headless Chromium over loopback, each from a cold
 *    browser context (no cache), with the Performance API's first-contentful-paint and load times.
 *    Budget: ≤ 1 s.
 * 2. The console's order search (`orders.admin.list`, paged on the server) over 100,000 orders seeded
 *    with one INSERT … SELECT generate_series: p50/p99 of each kind of search, and the query plans.
 *
 * Writes the "Web pages" section of docs/benchmarks.md with `--docs`. A scratch database, Redis prefix
 * and server process of its own, removed at the end.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import { createAgoraClient } from "../../apps/client/index.ts";
import { withServerEngineEnv } from "../../apps/server/config.ts";
import { launchChromium } from "../../tests/browser/browser.ts";
import { loadAverage } from "./proc.ts";
import { createScratchDatabase, createScratchRedis, freePort, REDIS_URL, repoRoot, type ScratchDatabase, spawnChild } from "./services.ts";
import { fmtMs, markdownTable, percentiles, progress, randomId } from "./util.ts";

const ORDERS = 100_000;
const PAGE_LOADS = 5;
const SEARCHES = 200;

export async function runWebBench(options: { docs: boolean }): Promise<number> {
  const logDir = join(repoRoot, "bench-results", "logs");
  const database = await createScratchDatabase("web");
  const redis = await createScratchRedis();
  const port = await freePort();
  const admin = { email: `admin-${randomId(6)}@bench.agora.test`, password: `bench-admin-${randomId(12)}` };
  const server = await spawnChild({
    name: "server-web",
    args: ["apps/server/main.ts"],
    env: withServerEngineEnv({
      ...process.env,
      NODE_ENV: "production",
      LOG_LEVEL: "warn",
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: database.url,
      REDIS_URL,
      REDIS_PREFIX: redis.prefix,
      PASSWORD_MEMORY_COST: "256",
      PASSWORD_TIME_COST: "1",
      ADMIN_EMAIL: admin.email,
      ADMIN_PASSWORD: admin.password,
      AGORA_DEMO: "true",
      PAYMENT_GATEWAY_URL: "http://127.0.0.1:9", // nothing here is paid: no gateway is called
      CARRIER_WEBHOOK_SECRET: `bench-${randomId(24)}`,
    }),
    port,
    readyPath: "/ready",
    logDir,
  });
  progress("web", `server pid ${server.pid} on ${server.url}`);

  const db = database.handle.db;
  const seedStarted = performance.now();
  await seedOrders(db);
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  progress("web", `seeded ${ORDERS.toLocaleString("en")} orders in ${seedSeconds.toFixed(1)} s`);
  const products = await createAgoraClient({ url: server.url, token: (await createAgoraClient({ url: server.url }).identity.login.mutate(admin)).token });
  for (let i = 1; i <= 12; i++)
    await products.catalog.admin.create.mutate({ name: `벤치 상품 ${i}`, category: "bench", price: 10_000 + i * 1000, initialStock: 50 });

  // ── 1. page loads ───────────────────────────────────────────────────────
  const { token } = await createAgoraClient({ url: server.url }).identity.login.mutate(admin);
  const browser = await launchChromium();
  const loads: Record<string, { meaningful: number[]; fcp: number[]; load: number[] }> = {};
  try {
    for (const [name, path, ready, signedIn] of [
      ["storefront /", "/", '[data-testid="product-card"]', false],
      ["console /admin (dashboard)", "/admin", '[data-testid="today-sales"]', true],
    ] as const) {
      const samples = { meaningful: [] as number[], fcp: [] as number[], load: [] as number[] };
      for (let i = 0; i < PAGE_LOADS + 1; i++) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        if (signedIn) await context.request.post(`${server.url}/session`, { data: { token } });
        const page = await context.newPage();
        // In the page, from its first byte: the moment the meaningful element is in the document, and the
        // frame after it (rAF, then a task: that frame has been painted). Read by the page itself, so
        // Playwright's polling and round trips are not counted in it.
        await page.addInitScript(`window.__meaningful = new Promise((resolve) => {
          const seen = () => {
            if (!document.querySelector(${JSON.stringify(ready)})) return false;
            requestAnimationFrame(() => setTimeout(() => resolve(performance.now()), 0));
            return true;
          };
          if (!seen()) {
            const observer = new MutationObserver(() => { if (seen()) observer.disconnect(); });
            observer.observe(document, { childList: true, subtree: true });
          }
        })`);
        await page.goto(`${server.url}${path}`, { waitUntil: "commit" });
        await page.waitForSelector(ready, { timeout: 30_000 });
        // Milliseconds since navigation start: the meaningful element painted (never before the first paint), first paint, load.
        const timing = await page.evaluate<{ meaningful: number; fcp: number; load: number }>(`new Promise((resolve) => {
          const settle = async () => {
            const shown = await window.__meaningful;
            const nav = performance.getEntriesByType("navigation")[0];
            const fcp = performance.getEntriesByName("first-contentful-paint")[0];
            resolve({ meaningful: fcp ? Math.max(shown, fcp.startTime) : shown, fcp: fcp ? fcp.startTime : NaN, load: nav ? nav.loadEventEnd : NaN });
          };
          document.readyState === "complete" ? settle() : addEventListener("load", settle);
        })`);
        await context.close();
        if (i === 0) continue; // the first load warms the server (its first bundle request, the first queries)
        samples.meaningful.push(timing.meaningful);
        samples.fcp.push(timing.fcp);
        samples.load.push(timing.load);
      }
      loads[name] = samples;
      progress("web", `${name}: meaningful p50 ${fmtMs(percentiles(samples.meaningful).p50)}`);
    }
  } finally {
    await browser.close();
  }

  // ── 2. order search over 100,000 orders ─────────────────────────────────
  const client = createAgoraClient({ url: server.url, token });
  const latest = await db.selectFrom("order_orders").select(sql<Date>`max(created_at)`.as("at")).executeTakeFirstOrThrow();
  const weekAgo = new Date(new Date(latest.at).getTime() - 7 * 86_400_000);
  const firstPage = await client.orders.admin.list.query({ limit: 20 });
  const searches: [string, Parameters<typeof client.orders.admin.list.query>[0]][] = [
    ["newest 20 (no filter)", { limit: 20 }],
    ["page 2 (cursor)", { limit: 20, cursor: firstPage.nextCursor ?? undefined }],
    ["status = paid (common)", { status: "paid", limit: 20 }],
    ["status = refunded (rare)", { status: "refunded", limit: 20 }],
    ["one customer", { userId: (await db.selectFrom("order_orders").select("user_id").limit(1).executeTakeFirstOrThrow()).user_id, limit: 20 }],
    ["last 7 days", { from: weekAgo, limit: 20 }],
    ["status + last 7 days", { status: "delivered", from: weekAgo, limit: 20 }],
  ];
  const searchRows: { name: string; p50: number; p99: number; items: number }[] = [];
  for (const [name, input] of searches) {
    const times: number[] = [];
    let items = 0;
    for (let i = 0; i < SEARCHES + 10; i++) {
      const started = performance.now();
      const page = await client.orders.admin.list.query(input);
      if (i >= 10) times.push(performance.now() - started);
      items = page.items.length;
    }
    const p = percentiles(times);
    searchRows.push({ name, p50: p.p50, p99: p.p99, items });
    progress("web", `search ${name}: p50 ${fmtMs(p.p50)}, p99 ${fmtMs(p.p99)} (${items} items)`);
  }
  const plans = await queryPlans(db, weekAgo);
  for (const [name, plan] of plans) progress("web", `plan ${name}: ${plan}`);
  const [load1] = loadAverage();
  await server.stop();

  const section = renderSection({ loads, searchRows, plans, seedSeconds, load1 });
  process.stdout.write(`\n${section}\n`);
  if (options.docs) writeSection(section);
  return 0;
}

/** BENCHMARK FIXTURE: 100,000 orders of 1,000 customers over the last 90 days, statuses in shop-like shares. */
async function seedOrders(db: ScratchDatabase["handle"]["db"]): Promise<void> {
  await sql`
    INSERT INTO identity_users (email, password_hash, name, role, status, created_at, updated_at)
    SELECT 'orders-' || g || '@bench.agora.test', 'fixture: cannot log in', 'Order fixture ' || g, 'customer', 'active', now(), now()
      FROM generate_series(1, 1000) AS g`.execute(db);
  await sql`
    WITH users AS (SELECT array_agg(id ORDER BY id) AS ids FROM identity_users WHERE email LIKE 'orders-%@bench.agora.test'),
    o AS (
      SELECT g, now() - (${sql.lit(ORDERS)} - g) * interval '77 seconds' AS at,
             CASE WHEN g % 100 < 40 THEN 'delivered' WHEN g % 100 < 60 THEN 'shipped' WHEN g % 100 < 72 THEN 'preparing'
                  WHEN g % 100 < 84 THEN 'paid' WHEN g % 100 < 92 THEN 'cancelled' WHEN g % 100 < 95 THEN 'expired'
                  WHEN g % 100 < 99 THEN 'pending_payment' ELSE 'refunded' END AS status,
             (1 + (hashint4(g) & 2147483647) % 200) * 1000 AS amount
        FROM generate_series(1, ${sql.lit(ORDERS)}) AS g
    )
    INSERT INTO order_orders (user_id, status, subtotal_amount, discount_amount, final_amount, created_at, updated_at, paid_at, payment_due_at, cancelled_at)
    SELECT users.ids[1 + (hashint4(g + 7) & 2147483647) % 1000], status, amount, 0, amount, at, at,
           CASE WHEN status IN ('pending_payment', 'expired') THEN NULL ELSE at + interval '1 minute' END,
           at + interval '15 minutes',
           CASE WHEN status = 'cancelled' THEN at + interval '1 hour' END
      FROM o, users`.execute(db);
  await sql`VACUUM (ANALYZE) order_orders`.execute(db);
}

/** EXPLAIN of the statements orders.admin.list runs, as the repository builds them (one line per plan). */
async function queryPlans(db: Parameters<typeof seedOrders>[0], weekAgo: Date): Promise<[string, string][]> {
  const explain = async (query: ReturnType<typeof sql>) => {
    const { rows } = await sql<{ "QUERY PLAN": string }>`EXPLAIN ${query}`.execute(db);
    return rows
      .map((r) => r["QUERY PLAN"].trim())
      .filter((line) => /Scan|Sort|Limit/.test(line))
      .map((line) => line.replace(/\s+\(cost=[^)]*\)/, "").replace(/^->\s*/, ""))
      .join(" → ");
  };
  return [
    ["newest 20", await explain(sql`SELECT * FROM order_orders ORDER BY id DESC LIMIT 21`)],
    ["status = refunded", await explain(sql`SELECT * FROM order_orders WHERE status = 'refunded' ORDER BY id DESC LIMIT 21`)],
    ["one customer", await explain(sql`SELECT * FROM order_orders WHERE user_id = (SELECT min(user_id) FROM order_orders) ORDER BY id DESC LIMIT 21`)],
    ["status + last 7 days", await explain(sql`SELECT * FROM order_orders WHERE status = 'delivered' AND created_at >= ${weekAgo} ORDER BY id DESC LIMIT 21`)],
  ];
}

function renderSection(r: {
  loads: Record<string, { meaningful: number[]; fcp: number[]; load: number[] }>;
  searchRows: { name: string; p50: number; p99: number; items: number }[];
  plans: [string, string][];
  seedSeconds: number;
  load1: number;
}): string {
  const loadRows = Object.entries(r.loads).map(([name, s]) => {
    const m = percentiles(s.meaningful);
    return [name, fmtMs(m.p50), fmtMs(m.max), fmtMs(percentiles(s.fcp).p50), fmtMs(percentiles(s.load).p50), m.max <= 1000 ? "met" : "MISSED"];
  });
  return [
    "## Web pages (`bun run bench web`)",
    "",
    `Measured ${new Date().toISOString().slice(0, 16)}Z on the shared 2-core machine, load average ${r.load1.toFixed(1)} at the end of the run (the run's own server, Chromium and seeding included; above ~2 other work was sharing the cores).`,
    `Headless Chromium over loopback, ${PAGE_LOADS} cold loads each (new browser context, no cache; one warm-up load first). "Meaningful": the first product card (storefront) or the dashboard's sales figure (console) is on screen — timed in the page (a MutationObserver from the first byte, then the frame that paints it; never before the first contentful paint), so Playwright's own polling is not counted. Budget: ≤ 1 s.`,
    "",
    markdownTable(["page", "meaningful p50 (ms)", "meaningful max (ms)", "first contentful paint p50 (ms)", "load event p50 (ms)", "≤ 1 s"], loadRows, [
      false,
      true,
      true,
      true,
      true,
      false,
    ]),
    "",
    `The console's order search, \`orders.admin.list\` (20 a page, paged on the server by cursor), over ${ORDERS.toLocaleString("en")} orders (seeded with one INSERT … SELECT generate_series in ${r.seedSeconds.toFixed(1)} s), ${SEARCHES} sequential calls each through the typed client:`,
    "",
    markdownTable(
      ["search", "p50 (ms)", "p99 (ms)", "items"],
      r.searchRows.map((s) => [s.name, fmtMs(s.p50), fmtMs(s.p99), String(s.items)]),
      [false, true, true, true],
    ),
    "",
    "Query plans (EXPLAIN of the statements the orders repository builds):",
    "",
    ...r.plans.map(([name, plan]) => `- ${name}: \`${plan}\``),
    "",
  ].join("\n");
}

/** Replaces (or appends) the "Web pages" section of docs/benchmarks.md; the rest is `bench all`'s. */
function writeSection(section: string): void {
  const file = join(repoRoot, "docs/benchmarks.md");
  const doc = readFileSync(file, "utf8");
  const start = doc.indexOf("## Web pages (`bun run bench web`)");
  if (start < 0) {
    writeFileSync(file, `${doc.trimEnd()}\n\n${section}`);
    return;
  }
  const next = doc.indexOf("\n## ", start + 1);
  writeFileSync(file, `${doc.slice(0, start)}${section}${next < 0 ? "" : doc.slice(next)}`);
}
