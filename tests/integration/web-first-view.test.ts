/**
 * The pages carry their first view's data (apps/web/serve.ts): the storefront's home is rendered on the
 * server from public data only and is the same for everyone; the console's carries the caller's own
 * answers, only to that caller, and no cache may keep it. The real server process (the pages are
 * mounted by apps/server/main.ts) on PostgreSQL and Redis.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import superjson from "superjson";
import { type AgoraClient, createAgoraClient } from "../../apps/client/index.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { createTestRedis, type TestRedis } from "../support/redis.ts";
import { type ServerProcess, startServerProcess } from "../support/server-process.ts";

const ADMIN = { email: "first-view-admin@agora.test", password: "first-view-admin-1" };
const TRICKY_NAME = "키보드 </script><script>alert(1)</script>";

let database: TestDatabase;
let redis: TestRedis;
let server: ServerProcess;
let admin: AgoraClient;
let adminToken: string;
let customerToken: string;

beforeAll(async () => {
  database = await createTestDatabase(4);
  redis = await createTestRedis();
  server = await startServerProcess({
    readyTimeoutMs: 60_000,
    env: {
      NODE_ENV: "production",
      AGORA_DEMO: "true",
      DATABASE_URL: database.url,
      REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
      REDIS_PREFIX: redis.prefix,
      PAYMENT_GATEWAY_URL: "http://127.0.0.1:9", // nothing is paid here
      CARRIER_WEBHOOK_SECRET: "first-view-secret",
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      PASSWORD_MEMORY_COST: "256",
      PASSWORD_TIME_COST: "1",
      DB_POOL_SIZE: "4",
      LOG_LEVEL: "warn",
    },
  });
  adminToken = (await createAgoraClient({ url: server.url }).identity.login.mutate(ADMIN)).token;
  admin = createAgoraClient({ url: server.url, token: adminToken });
  await admin.catalog.admin.create.mutate({ name: TRICKY_NAME, category: "keyboards", price: 30_000, initialStock: 5 });
  customerToken = (
    await createAgoraClient({ url: server.url }).identity.signUp.mutate({ email: "first-view-kim@agora.test", password: "long-password-1", name: "김첫화면" })
  ).token;
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await redis?.cleanup();
  await database?.drop();
}, 60_000);

async function page(path: string, token?: string) {
  const response = await fetch(`${server.url}${path}`, { headers: token ? { cookie: `agora_session=${token}` } : {} });
  const html = await response.text();
  const block = /<script type="application\/json" id="first-view">([^<]*)<\/script>/.exec(html)?.[1];
  const answers = block ? new Map(superjson.parse<[unknown[], unknown][]>(block).map(([key, data]) => [JSON.stringify(key), data])) : new Map();
  return { response, html, answers };
}

describe("the first view comes with the page", () => {
  test("storefront /: the new arrivals rendered on the server and their data in the page; nothing of the visitor's", async () => {
    const { response, html, answers } = await page("/", customerToken);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(html).toContain('<div id="root" data-rendered="ko">');
    expect(html).toContain('data-testid="product-card"');
    expect(html).toContain("₩30,000");
    const newest = answers.get(JSON.stringify(["catalog", "home"])) as { items: { name: string }[] };
    expect(newest.items.map((p) => p.name)).toContain(TRICKY_NAME);
    expect([...answers.keys()].sort()).toEqual([JSON.stringify(["catalog", "home"]), JSON.stringify(["coupons"]), JSON.stringify(["popular"])]);
    // A logged-in customer's page is the same as a visitor's: no name, no session.
    expect(html).not.toContain("김첫화면");
    expect(html).not.toContain("first-view-kim");
  }, 30_000);

  test("a product name cannot close the data block or inject markup", async () => {
    const { html } = await page("/");
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("키보드 &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"); // React's escaping in the rendered card
    expect(html.match(/<\/script>/g)?.length).toBe(html.match(/<script/g)?.length);
  }, 30_000);

  test("console /admin as the admin: me and the dashboard's figures, private to this response", async () => {
    const { response, answers } = await page("/admin", adminToken);
    expect(response.headers.get("cache-control")).toBe("private, no-store");
    expect((answers.get(JSON.stringify(["me"])) as { email: string; role: string }).role).toBe("admin");
    expect(answers.get(JSON.stringify(["reports", "sales", 1]))).toMatchObject({ totals: { paidOrders: 0 } });
    expect(answers.get(JSON.stringify(["reports", "inventory"]))).toBeDefined();
  }, 30_000);

  test("console /admin as a customer or a visitor: no operator data, the refusal is left to the page", async () => {
    const customer = await page("/admin", customerToken);
    expect((customer.answers.get(JSON.stringify(["me"])) as { name: string; role: string }).role).toBe("customer");
    expect(customer.answers.has(JSON.stringify(["reports", "sales", 1]))).toBe(false);
    expect(customer.answers.has(JSON.stringify(["reports", "inventory"]))).toBe(false);
    expect(customer.html).not.toContain(ADMIN.email);

    const visitor = await page("/admin");
    expect(visitor.answers.get(JSON.stringify(["me"]))).toBeNull();
    expect(visitor.answers.size).toBe(1);
    expect(visitor.response.headers.get("cache-control")).toBe("private, no-store");
  }, 30_000);

  test("assets are gzipped for clients that accept it, with a year's cache on their hashed names", async () => {
    const { html } = await page("/");
    const script = /<script type="module" crossorigin src="([^"]+)"/.exec(html)?.[1];
    expect(script).toMatch(/^\/assets\/.+\.js$/);
    const zipped = await fetch(`${server.url}${script}`, { headers: { "accept-encoding": "gzip" }, decompress: false });
    expect(zipped.headers.get("content-encoding")).toBe("gzip");
    expect(zipped.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const plain = await fetch(`${server.url}${script}`, { headers: { "accept-encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect((await plain.text()).length).toBeGreaterThan(Number(zipped.headers.get("content-length")));
  }, 30_000);
});
