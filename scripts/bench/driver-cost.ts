/**
 * `bun scripts/bench/driver-cost.ts [--tx N] [--clients C] [--modes pg,bun-sql,bun-raw] [--rounds R]`:
 * the client-side CPU of an order-shaped transaction through each PostgreSQL driver, without
 * Agora's HTTP, tRPC or Redis around it (docs/speed/bun-sql.md).
 *
 * The transaction has the order's shape (modules/orders/workflow.ts): BEGIN with an idempotency
 * claim (read) | an order insert (read) | a pending-sale and an event append (deferred) and a wallet
 * debit (read) | the key's completion and a stock take (deferred) with the COMMIT. 8 statements,
 * 4 round trips, in a scratch database of its own (`agora_driver_cost`, recreated each run).
 *
 * Modes: `pg` runs it through Agora's own database layer (db/client.ts: Kysely, the compiled
 * statements of db/compiled.ts, `deferring` of db/pipeline.ts); `bun-sql` through the same Kysely
 * dialect, statements and pipelining over Bun.SQL (./bun-sql-pool.ts, a measurement prototype);
 * `bun-raw` through `Bun.SQL`'s own `sql.begin` with no Kysely (what the driver alone costs).
 * Reports per transaction the CPU of this process (process.cpuUsage) and transactions per second;
 * the modes alternate round by round, so a busy machine hits them alike.
 */
import { SQL } from "bun";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { createDatabase } from "../../db/client.ts";
import { compiledQuery } from "../../db/compiled.ts";
import { deferring, pipelining, type QueryFn } from "../../db/pipeline.ts";
import type { Database } from "../../db/schema.ts";
import { type Db, inTransaction, outsideTransaction } from "../../db/unit-of-work.ts";
import { bunSqlPool } from "./bun-sql-pool.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? (args[at + 1] as string) : fallback;
};
const transactions = Number(option("--tx", "3000"));
const clients = Number(option("--clients", "16"));
const rounds = Number(option("--rounds", "3"));
const modes = option("--modes", "pg,bun-sql,bun-raw").split(",");
const serverUrl = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const DB = "agora_driver_cost";
const url = serverUrl.replace(/\/[^/]*$/, `/${DB}`);
const CUSTOMERS = 500;
const PRODUCTS = 500;

const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${DB}`);
await admin.end();
const setup = new pg.Client({ connectionString: url });
await setup.connect();
await setup.query(`
  CREATE TABLE keys (id bigserial PRIMARY KEY, customer_id int8 NOT NULL, key text NOT NULL, done boolean NOT NULL DEFAULT false, UNIQUE (customer_id, key));
  CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int8 NOT NULL, total int8 NOT NULL, created_at timestamptz NOT NULL);
  CREATE TABLE pending_sales (id bigserial PRIMARY KEY, order_id int8 NOT NULL REFERENCES orders, amount int8 NOT NULL);
  CREATE TABLE events (id bigserial PRIMARY KEY, aggregate_id int8 NOT NULL, type text NOT NULL, payload jsonb NOT NULL);
  CREATE TABLE wallets (customer_id int8 PRIMARY KEY, balance int8 NOT NULL CHECK (balance >= 0));
  CREATE TABLE stock (product_id int8 PRIMARY KEY, quantity int NOT NULL CHECK (quantity >= 0));
  INSERT INTO wallets SELECT g, 1000000000 FROM generate_series(1, ${CUSTOMERS}) g;
  INSERT INTO stock SELECT g, 1000000000 FROM generate_series(1, ${PRODUCTS}) g;
`);
await setup.end();

// The statements, as Agora writes them: compiled once, sent as named prepared statements.
const claimKey = compiledQuery(
  (_db, customerId: number, key: string) =>
    sql<{ id: number }>`INSERT INTO keys (customer_id, key) VALUES (${customerId}, ${key}) ON CONFLICT DO NOTHING RETURNING id`,
);
const insertOrder = compiledQuery(
  (_db, customerId: number, total: number, at: Date) =>
    sql<{ id: number; created_at: Date }>`INSERT INTO orders (customer_id, total, created_at) VALUES (${customerId}, ${total}, ${at}) RETURNING id, created_at`,
);
const appendSale = compiledQuery((_db, orderId: number, amount: number) => sql`INSERT INTO pending_sales (order_id, amount) VALUES (${orderId}, ${amount})`);
const appendEvent = compiledQuery(
  (_db, orderId: number, payload: string) => sql`INSERT INTO events (aggregate_id, type, payload) VALUES (${orderId}, 'order.paid', ${payload}::jsonb)`,
);
const debitWallet = compiledQuery(
  (_db, customerId: number, amount: number) =>
    sql<{ balance: number }>`UPDATE wallets SET balance = balance - ${amount} WHERE customer_id = ${customerId} RETURNING balance`,
);
const completeKey = compiledQuery((_db, id: number) => sql`UPDATE keys SET done = true WHERE id = ${id}`);
const takeStock = compiledQuery((_db, productId: number) => sql`UPDATE stock SET quantity = quantity - 1 WHERE product_id = ${productId}`);

type Runner = { run(i: number): Promise<void>; close(): Promise<void> };
const payloadOf = (i: number) => JSON.stringify({ orderId: i, lines: [{ productId: i % PRODUCTS, quantity: 1, price: 1000 }] });

/** Kysely's PostgresDialect over Bun.SQL, each client's `query` wrapped by db/pipeline.ts as db/client.ts does for pg. */
function bunSqlKysely(): { db: Db; close(): Promise<void> } {
  const pool = bunSqlPool({ url, max: clients, connectTimeoutMs: 15_000, prepare: true, applicationName: "agora-driver-cost" });
  const kyselyPool = {
    Client: pool.Client,
    options: pool.options,
    connect: () =>
      pool.connect().then((client) => {
        (client as { query: unknown }).query = pipelining(client.query as QueryFn);
        return client;
      }),
    end: () => pool.end(),
  };
  // biome-ignore lint/suspicious/noExplicitAny: the pool has pg-pool's shape where Kysely calls it, not its whole type
  const db = outsideTransaction(new Kysely<Database>({ dialect: new PostgresDialect({ pool: kyselyPool as any }) }));
  return { db, close: () => db.destroy() };
}

async function agoraRunner(driver: "pg" | "bun-sql"): Promise<Runner> {
  const handle = driver === "pg" ? await createDatabase({ url, poolSize: clients }) : bunSqlKysely();
  return {
    async run(i) {
      const customerId = (i % CUSTOMERS) + 1;
      await inTransaction(handle.db, async (trx) => {
        const claimed = (await claimKey(trx, customerId, `${driver}-${i}-${Math.random()}`)).rows[0];
        if (!claimed) throw new Error("key not claimed");
        const order = (await insertOrder(trx, customerId, 1000, new Date())).rows[0];
        if (!order || typeof order.id !== "number") throw new Error(`order id not a number: ${typeof order?.id}`);
        await deferring(trx, async () => {
          await appendSale(trx, order.id, 1000);
          await appendEvent(trx, order.id, payloadOf(order.id));
        });
        const wallet = (await debitWallet(trx, customerId, 1000)).rows[0];
        if (!wallet) throw new Error("no wallet");
        await deferring(trx, async () => {
          await completeKey(trx, claimed.id);
          await takeStock(trx, (i % PRODUCTS) + 1);
        });
      });
    },
    close: () => handle.close(),
  };
}

async function bunRawRunner(): Promise<Runner> {
  const db = new SQL(url, { max: clients });
  return {
    async run(i) {
      const customerId = (i % CUSTOMERS) + 1;
      await db.begin(async (tx) => {
        const [claimed] = await tx.unsafe("INSERT INTO keys (customer_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING id", [
          customerId,
          `raw-${i}-${Math.random()}`,
        ]);
        const [order] = await tx.unsafe("INSERT INTO orders (customer_id, total, created_at) VALUES ($1, $2, $3) RETURNING id, created_at", [
          customerId,
          1000,
          new Date(),
        ]);
        const sale = tx.unsafe("INSERT INTO pending_sales (order_id, amount) VALUES ($1, $2)", [order.id, 1000]).execute();
        const event = tx
          .unsafe("INSERT INTO events (aggregate_id, type, payload) VALUES ($1, 'order.paid', $2::jsonb)", [order.id, payloadOf(Number(order.id))])
          .execute();
        const [wallet] = await tx.unsafe("UPDATE wallets SET balance = balance - $2 WHERE customer_id = $1 RETURNING balance", [customerId, 1000]);
        await Promise.all([sale, event]);
        if (!wallet) throw new Error("no wallet");
        return [
          tx.unsafe("UPDATE keys SET done = true WHERE id = $1", [claimed.id]),
          tx.unsafe("UPDATE stock SET quantity = quantity - 1 WHERE product_id = $1", [(i % PRODUCTS) + 1]),
        ];
      });
    },
    close: () => db.close(),
  };
}

async function measure(runner: Runner, count: number) {
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) await runner.run(next++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { cpuUsPerTx: (used.user + used.system) / count, txPerSecond: count / seconds };
}

const runners = new Map<string, Runner>();
for (const mode of modes) {
  const runner = mode === "bun-raw" ? await bunRawRunner() : await agoraRunner(mode as "pg" | "bun-sql");
  await measure(runner, 300); // warm-up: connections, prepared statements, JIT
  runners.set(mode, runner);
}
const results = new Map<string, Array<{ cpuUsPerTx: number; txPerSecond: number }>>();
for (let round = 0; round < rounds; round++) {
  for (const [mode, runner] of runners) {
    const result = await measure(runner, transactions);
    results.set(mode, [...(results.get(mode) ?? []), result]);
    console.log(`round ${round + 1} ${mode.padEnd(8)} ${result.cpuUsPerTx.toFixed(0).padStart(6)} µs CPU/tx ${result.txPerSecond.toFixed(0).padStart(6)} tx/s`);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
console.log(`\n${transactions} transactions × ${rounds} rounds, ${clients} clients; median per mode:`);
for (const [mode, list] of results) {
  console.log(
    `${mode.padEnd(8)} ${median(list.map((r) => r.cpuUsPerTx))
      .toFixed(0)
      .padStart(6)} µs CPU/tx ${median(list.map((r) => r.txPerSecond))
      .toFixed(0)
      .padStart(6)} tx/s`,
  );
}
for (const runner of runners.values()) await runner.close();
const cleanup = new pg.Client({ connectionString: serverUrl });
await cleanup.connect();
await cleanup.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
await cleanup.end();
