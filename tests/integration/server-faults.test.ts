/**
 * The server as a process, under faults a data centre produces: database connections terminated
 * while idle and while busy, and a production start without real integrations.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pg from "pg";
import { createAgoraClient, domainCodeOf, TRPCClientError } from "../../apps/client/index.ts";
import { type FakeCarrier, startFakeCarrier } from "../../apps/fakes/carrier.ts";
import { type FakeDataPlatform, startFakeDataPlatform } from "../../apps/fakes/data-platform.ts";
import { type FakePaymentGateway, startFakePaymentGateway } from "../../apps/fakes/payment-gateway.ts";
import { createTestDatabase, serverUrl, type TestDatabase } from "../support/postgres.ts";
import { createTestRedis, type TestRedis } from "../support/redis.ts";
import { freePort, type ServerProcess, startServerProcess } from "../support/server-process.ts";

let database: TestDatabase;
let redis: TestRedis;
let gateway: FakePaymentGateway;
let dataPlatform: FakeDataPlatform;
let carrier: FakeCarrier;
let port: number;
let env: Record<string, string>;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase(2);
  redis = await createTestRedis();
  port = await freePort();
  gateway = startFakePaymentGateway({ latencyMs: 5 });
  dataPlatform = startFakeDataPlatform();
  carrier = startFakeCarrier({ webhookUrl: `http://127.0.0.1:${port}/webhooks/carrier`, webhookSecret: "faults-secret" });
  env = {
    NODE_ENV: "production",
    DATABASE_URL: database.url,
    REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
    REDIS_PREFIX: redis.prefix,
    PAYMENT_GATEWAY_URL: gateway.url,
    DATA_PLATFORM_URL: dataPlatform.url,
    CARRIER_URL: carrier.url,
    CARRIER_WEBHOOK_SECRET: "faults-secret",
    // Email is only recorded here: the one fake this test allows, explicitly.
    AGORA_DEMO: "true",
    PASSWORD_MEMORY_COST: "256",
    PASSWORD_TIME_COST: "1",
    DB_POOL_SIZE: "5",
  };
});

afterAll(async () => {
  for (const server of servers) await server.kill();
  await gateway.stop();
  await dataPlatform.stop();
  await carrier.stop();
  await redis.cleanup();
  await database.drop();
});

async function start(extra: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess({ env: { ...env, ...extra }, port });
  servers.push(server);
  return server;
}

/** Terminates every connection the server holds to its database, as an operator or a failover would. */
async function terminateBackends(): Promise<number> {
  const admin = new pg.Client({ connectionString: await serverUrl() });
  await admin.connect();
  try {
    const result = await admin.query(
      "select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = $1 and application_name = 'agora' and pid <> pg_backend_pid()",
      [database.name],
    );
    return result.rows[0].n;
  } finally {
    await admin.end();
  }
}

/** The HTTP status of a failed call, or 200. */
async function statusOf(call: Promise<unknown>): Promise<{ status: number; domainCode: string | null }> {
  try {
    await call;
    return { status: 200, domainCode: null };
  } catch (error) {
    if (error instanceof TRPCClientError) return { status: (error.data as { httpStatus?: number })?.httpStatus ?? 0, domainCode: domainCodeOf(error) };
    return { status: 0, domainCode: String(error) };
  }
}

describe("production start", () => {
  test("refuses the built-in fakes with one line naming the variables", async () => {
    const server = await startServerProcess({
      env: { NODE_ENV: "production", DATABASE_URL: database.url, CARRIER_WEBHOOK_SECRET: "x" },
      waitForReady: false,
    });
    servers.push(server);
    expect(await server.process.exited).toBe(1);
    const output = server.output();
    expect(output).toContain("PAYMENT_GATEWAY_URL, DATA_PLATFORM_URL, CARRIER_URL, SMTP_URL, SMS_URL");
    expect(output).toContain("AGORA_DEMO=true");
    expect(output.trim().split("\n")).toHaveLength(1);
  });
});

describe("database connections that drop", () => {
  test("terminated while idle and while busy: the server stays up, answers 503 or success, never 500, and says so once", async () => {
    const server = await start();
    const anonymous = createAgoraClient({ url: server.url, batch: false });
    const { token } = await anonymous.identity.signUp.mutate({ email: "faults@agora.test", password: "correct-horse-battery", name: "Faults" });
    const customer = createAgoraClient({ url: server.url, token, batch: false });
    expect(await customer.wallet.balance.query()).toMatchObject({ balance: 0 });

    // Idle: every pooled connection is cut while nothing runs.
    expect(await terminateBackends()).toBeGreaterThan(0);
    await Bun.sleep(300);
    expect(server.alive()).toBe(true);
    expect((await statusOf(customer.wallet.balance.query())).status).toBe(200);

    // Busy: cut in the middle of a crowd of calls.
    const calls = Array.from({ length: 60 }, (_, i) =>
      statusOf(i % 2 ? customer.wallet.balance.query() : anonymous.catalog.list.query({ limit: 5 })).then((answer) => answer),
    );
    await Bun.sleep(5);
    await terminateBackends();
    const answers = await Promise.all(calls);
    expect(server.alive()).toBe(true);
    for (const answer of answers) {
      if (answer.status !== 200) expect(answer).toEqual({ status: 503, domainCode: "SERVICE_UNAVAILABLE" });
    }
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    expect((await statusOf(customer.wallet.balance.query())).status).toBe(200);

    // The outage is logged as an event, not once per failed statement: at most one warning per termination.
    const warnings = server.output().match(/connection lost or refused/g) ?? [];
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(2);
    expect(server.output()).not.toContain("Unhandled error event");
    await server.stop();
  }, 60_000);
});

describe("a charge cut off by kill -9 after the gateway approved", () => {
  test("the next process credits it, and the customer's retry with the same key gets the credited result", async () => {
    // A short lease so recovery may take over quickly; it must still exceed the gateway timeout.
    const fast = { PAYMENT_GATEWAY_TIMEOUT_MS: "1000", WALLET_CHARGE_LEASE_MS: "2000", WALLET_CHARGE_RECOVERY_INTERVAL_MS: "250" };
    const first = await start(fast);
    const anonymous = createAgoraClient({ url: first.url, batch: false });
    const { token } = await anonymous.identity.signUp.mutate({ email: "kill9@agora.test", password: "correct-horse-battery", name: "Kill" });
    gateway.control.reset();
    gateway.control.approveThenHang(1);
    const key = crypto.randomUUID();
    const cutOff = createAgoraClient({ url: first.url, token, batch: false })
      .wallet.charge.mutate({ amount: 40_000, idempotencyKey: key })
      .catch((error: unknown) => error);
    for (let i = 0; i < 200 && gateway.stats().approved === 0; i++) await Bun.sleep(10);
    expect(gateway.stats()).toMatchObject({ approved: 1, capturedAmount: 40_000 });
    await first.kill();
    expect(await cutOff).toBeInstanceOf(TRPCClientError);

    const second = await start(fast);
    const customer = createAgoraClient({ url: second.url, token, batch: false });
    let balance = 0;
    for (let i = 0; i < 100 && balance === 0; i++) {
      balance = (await customer.wallet.balance.query()).balance;
      if (balance === 0) await Bun.sleep(100);
    }
    expect(balance).toBe(40_000);
    const retry = await customer.wallet.charge.mutate({ amount: 40_000, idempotencyKey: key });
    expect(retry).toMatchObject({ previousBalance: 0, chargedAmount: 40_000, currentBalance: 40_000 });
    expect(gateway.stats()).toMatchObject({ approved: 1, capturedAmount: 40_000 });
    expect((await customer.wallet.history.query({})).items).toHaveLength(1);
    await second.stop();
  }, 60_000);
});
