/**
 * A whole Agora per test file: its own database and Redis prefix, a manual clock, fakes for the
 * outside world, and typed clients that go through the real Hono app and tRPC stack in-process.
 */

import { sql } from "kysely";
import { type AgoraClient, createAgoraClient } from "../../apps/client/index.ts";
import { type FakeCarrier, startFakeCarrier } from "../../apps/fakes/carrier.ts";
import { type FakeDataPlatform, startFakeDataPlatform } from "../../apps/fakes/data-platform.ts";
import { type FakePaymentGateway, startFakePaymentGateway } from "../../apps/fakes/payment-gateway.ts";
import { type Agora, createAgora } from "../../apps/server/compose.ts";
import { type AgoraConfig, loadConfig } from "../../apps/server/config.ts";
import type { Db } from "../../db/index.ts";
import { createLogger, createMemoryInfra, createRedisInfra, type Infra, ManualClock } from "../../modules/kernel/index.ts";
import type { NotificationSender } from "../../modules/notifications/index.ts";
import { HttpDataPlatform } from "../../modules/outbox/index.ts";
import { HttpCardGateway } from "../../modules/payments/index.ts";
import { HttpCarrier } from "../../modules/shipping/index.ts";
import { HttpPaymentGateway } from "../../modules/wallet/index.ts";
import { createTestDatabase, type TestDatabase, type TestDatabaseRoute } from "./postgres.ts";
import { createTestRedis, createTestRedisCluster, type TestRedis } from "./redis.ts";

export interface TestAgoraOptions {
  /** "redis" (default): real Redis under a fresh prefix; "cluster": the test Redis Cluster; "memory": the in-process adapters. */
  infra?: "redis" | "cluster" | "memory";
  /** Share another TestAgora's Redis (prefix included) instead of a fresh one; the owner cleans it up. */
  sharedRedis?: TestRedis;
  clock?: ManualClock;
  config?: Partial<AgoraConfig>;
  poolSize?: number;
  /** How the pool reaches the test database (default: directly; pgbouncer.test.ts goes through PgBouncer). */
  databaseRoute?: TestDatabaseRoute;
  /** Default: the sender built from config (recording only, without SMTP_URL/SMS_URL). */
  notificationSender?: NotificationSender;
}

export interface Customer {
  id: number;
  email: string;
  token: string;
  client: AgoraClient;
}

export interface TestAgora {
  agora: Agora;
  db: Db;
  infra: Infra;
  clock: ManualClock;
  database: TestDatabase;
  redis: TestRedis | null;
  /** The fake card gateway this Agora charges through (real HTTP on loopback). */
  gateway: FakePaymentGateway;
  /** The fake data platform paid orders are synced to; the poller is driven by hand: `t.agora.outboxPoller.runOnce()`. */
  dataPlatform: FakeDataPlatform;
  /** The fake carrier; its signed webhooks go into this Agora's own Hono app. */
  carrier: FakeCarrier;
  /** A client as an anonymous visitor, or with a bearer token. */
  client(token?: string): AgoraClient;
  signUpCustomer(label?: string): Promise<Customer>;
  signUpCustomers(count: number, label?: string): Promise<Customer[]>;
  admin(): Promise<Customer>;
  /** Charges a customer's wallet through the API (and the fake gateway); returns the balance. */
  fund(customer: Customer, amount: number): Promise<number>;
  /** An active product with stock, created by the admin. */
  createProduct(fields?: {
    name?: string;
    price?: number;
    stock?: number;
    category?: string;
    lowStockThreshold?: number;
  }): Promise<{ id: number; name: string; price: number }>;
  close(): Promise<void>;
}

let sequence = 0;

export async function startTestAgora(options: TestAgoraOptions = {}): Promise<TestAgora> {
  const clock = options.clock ?? new ManualClock();
  const database = await createTestDatabase(options.poolSize ?? 20, options.databaseRoute);
  const redis =
    options.sharedRedis ?? (options.infra === "memory" ? null : options.infra === "cluster" ? await createTestRedisCluster() : await createTestRedis());
  const infra = redis ? createRedisInfra(redis.client, redis.prefix) : createMemoryInfra(clock, `mem${++sequence}:`);
  const config: AgoraConfig = {
    ...loadConfig({}),
    nodeEnv: "test",
    // argon2id stays, at a cost that lets a test sign up hundreds of customers quickly.
    passwordMemoryCost: 256,
    passwordTimeCost: 1,
    // Tests run the poller by hand so they can move the clock between attempts.
    outboxPollerEnabled: false,
    // Each event's rows per destination are written with it, so a module's tests find its row at once
    // and deliver it with a poller of their own. Writing once and fanning out (production's default) is
    // tested where it matters: outbox-delivery.test.ts and outbox-fan-out.test.ts.
    outboxFanOut: false,
    // Charge recovery is driven by hand too (wallet.recoverCharges) after moving the clock.
    walletChargeRecoveryIntervalMs: 0,
    carrierWebhookSecret: "test-carrier-secret",
    // Deliberately generous: tests fire hundreds of calls from one customer and one address.
    // tests/integration/limits.test.ts sets small limits and checks them.
    writesPerMinutePerCaller: 1_000_000,
    writesPerMinutePerAddress: 1_000_000,
    searchesPerMinutePerCaller: 1_000_000,
    searchesPerMinutePerAddress: 1_000_000,
    signUpsPerHourPerAddress: 1_000_000,
    ...options.config,
  };
  const gateway = startFakePaymentGateway();
  const paymentGateway = new HttpPaymentGateway({ baseUrl: gateway.url, timeoutMs: 1_000 });
  const dataPlatform = startFakeDataPlatform();
  let agoraFetch: (request: Request) => Promise<Response> = () => Promise.reject(new Error("agora not started"));
  const carrier = startFakeCarrier({ webhookSecret: "test-carrier-secret", now: () => clock.now(), webhookFetch: (request) => agoraFetch(request) });
  const ports = {
    paymentGateway,
    cardGateway: new HttpCardGateway({ baseUrl: gateway.url, timeoutMs: 1_000 }),
    dataPlatform: new HttpDataPlatform({ baseUrl: dataPlatform.url, timeoutMs: 500 }),
    carrier: new HttpCarrier({ baseUrl: carrier.url, timeoutMs: 1_000 }),
    notificationSender: options.notificationSender,
  };
  const agora = createAgora({
    database: database.handle,
    infra,
    clock,
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
    metrics: null,
    config,
    ports,
  });
  agora.start();
  agoraFetch = async (request) => agora.app.fetch(request);

  const inProcessFetch = ((input: string | URL | Request, init?: RequestInit) =>
    agora.app.fetch(input instanceof Request ? new Request(input, init) : new Request(String(input), init))) as typeof fetch;
  const client = (token?: string) => createAgoraClient({ url: "http://agora.test", token, fetch: inProcessFetch });

  let adminPromise: Promise<Customer> | undefined;
  const run = Math.random().toString(36).slice(2, 8);
  let counter = 0;

  async function signUpCustomer(label = "customer"): Promise<Customer> {
    const n = ++counter;
    const email = `${label}-${n}-${run}@agora.test`;
    const session = await client().identity.signUp.mutate({ email, password: "correct-horse-battery", name: `${label} ${n}` });
    return { id: session.user.id, email, token: session.token, client: client(session.token) };
  }

  const testAgora: TestAgora = {
    agora,
    db: database.handle.db,
    infra,
    clock,
    database,
    redis,
    gateway,
    dataPlatform,
    carrier,
    client,
    signUpCustomer,
    async signUpCustomers(count, label) {
      const customers: Customer[] = [];
      // In small waves: sign-up hashes passwords, which is CPU work.
      for (let i = 0; i < count; i += 20) {
        customers.push(...(await Promise.all(Array.from({ length: Math.min(20, count - i) }, () => signUpCustomer(label)))));
      }
      return customers;
    },
    admin() {
      adminPromise ??= (async () => {
        const email = `admin-${run}@agora.test`;
        const profile = await agora.services.identity.ensureAdmin({ email, password: "admin-password-1", name: "Admin" });
        const session = await client().identity.login.mutate({ email, password: "admin-password-1" });
        return { id: profile.id, email, token: session.token, client: client(session.token) };
      })();
      return adminPromise;
    },
    async fund(customer, amount) {
      let balance = 0;
      for (let left = amount; left > 0; left -= config.chargeMax) {
        balance = (await customer.client.wallet.charge.mutate({ amount: Math.max(config.chargeMin, Math.min(left, config.chargeMax)) })).currentBalance;
      }
      return balance;
    },
    async createProduct(fields = {}) {
      const admin = await testAgora.admin();
      const n = ++counter;
      const product = await admin.client.catalog.admin.create.mutate({
        name: fields.name ?? `Product ${n}`,
        category: fields.category ?? "general",
        price: fields.price ?? 10_000,
        initialStock: fields.stock ?? 100,
        lowStockThreshold: fields.lowStockThreshold ?? 0,
      });
      return { id: product.id, name: product.name, price: product.price };
    },
    async close() {
      await agora.stop();
      await gateway.stop();
      await dataPlatform.stop();
      await carrier.stop();
      if (!options.sharedRedis) await redis?.cleanup();
      await database.drop();
    },
  };
  return testAgora;
}

/** Every call settled: the results, each one's code ("ok" or the domain code), and how many of each. */
export async function settleCalls<T>(calls: Array<Promise<T>>) {
  const results = await Promise.allSettled(calls);
  const codes = await Promise.all(results.map((r) => (r.status === "fulfilled" ? "ok" : codeOf(Promise.reject(r.reason)))));
  const tally: Record<string, number> = {};
  for (const code of codes) tally[code] = (tally[code] ?? 0) + 1;
  return { results, codes, tally };
}

/** The books of the whole database: customers whose wallet is not the sum of its ledger, or is negative ([] when they balance). */
export async function unbalancedWallets(db: Db): Promise<number[]> {
  const { rows } = await sql<{ user_id: number }>`
    select a.user_id from wallet_accounts a
    left join (select user_id, sum(amount) as total from wallet_ledger group by user_id) l on l.user_id = a.user_id
    where a.balance <> coalesce(l.total, 0) or a.balance < 0`.execute(db);
  return rows.map((row) => Number(row.user_id));
}

/** The domain code a rejected call carried, for `expect(await codeOf(p)).toBe("...")`. */
export async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    const data = (error as { data?: { domainCode?: string | null; code?: string } }).data;
    return data?.domainCode ?? data?.code ?? String(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** The whole error data of a rejected call. */
export async function errorOf(call: Promise<unknown>): Promise<{
  message: string;
  data: Record<string, unknown> & {
    code: string;
    httpStatus: number;
    domainCode: string | null;
    details: Record<string, unknown> | null;
    fieldErrors: Record<string, string[]> | null;
  };
}> {
  try {
    await call;
  } catch (error) {
    return error as never;
  }
  throw new Error("expected the call to fail, but it succeeded");
}
