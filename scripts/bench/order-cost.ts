/**
 * `bun scripts/bench/order-cost.ts [orders] [--stats] [--concurrency N] [--sold-out] [--batch N]`: what one
 * `orders.place` costs PostgreSQL and how many statements it sends, without the HTTP load (a whole
 * Agora in process, tests/support/agora.ts: real PostgreSQL and Redis, poller off). With
 * `--sold-out` every product has no stock: what a refusal after a sell-out costs.
 *
 * Runs `orders` keyed orders of one unit each over 100 products, one at a time (or N at once), and
 * reports per order: statements sent (counted on pg.Client.query), CPU of the test database's
 * backends (/proc, utime+stime), and the process's own CPU (client and server in one process: an
 * upper bound of the server's). With `--stats` the database logs PostgreSQL's parser, planner and
 * executor statistics for every statement (ALTER DATABASE on the scratch database only), and the
 * script sums them per statement text from the server log. `--batch N`: ORDER_BATCH_SIZE (1: no batches).
 */
import { readFileSync } from "node:fs";
import pg from "pg";
import { startTestAgora } from "../../tests/support/agora.ts";

const args = process.argv.slice(2);
const orders = Number(args.find((a) => /^\d+$/.test(a)) ?? 400);
const withStats = args.includes("--stats");
const soldOut = args.includes("--sold-out");
const concurrencyArg = args.indexOf("--concurrency");
const concurrency = concurrencyArg >= 0 ? Number(args[concurrencyArg + 1]) : 1;
const TICK = 100; // USER_HZ

function cpuOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) / TICK;
  } catch {
    return 0;
  }
}

const batchArg = args.indexOf("--batch");
const t = await startTestAgora({
  poolSize: Math.max(4, concurrency + 2),
  ...(batchArg >= 0 ? { config: { orderBatchSize: Number(args[batchArg + 1]) } } : {}),
});
const dbName = t.database.name;
const admin = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/postgres" });
await admin.connect();

let statements = 0;
const texts = new Map<string, number>();
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...callArgs: unknown[]) {
  statements++;
  const first = callArgs[0] as string | { text: string };
  const text = typeof first === "string" ? first : first?.text;
  if (text) texts.set(text.slice(0, 90).replace(/\s+/g, " "), (texts.get(text.slice(0, 90).replace(/\s+/g, " ")) ?? 0) + 1);
  return (originalQuery as (...a: unknown[]) => unknown).apply(this, callArgs);
} as typeof originalQuery;

try {
  const customers = await t.signUpCustomers(Math.min(Math.ceil(orders / 40) + 20, 1000), "buyer");
  for (let i = 0; i < customers.length; i += 20) await Promise.all(customers.slice(i, i + 20).map((c) => t.fund(c, 50_000)));
  const products: Array<{ id: number }> = [];
  for (let i = 0; i < 100; i++) products.push(await t.createProduct({ price: 1_000, stock: soldOut ? 0 : 1_000 }));
  const place = (i: number) =>
    (customers[i % customers.length] as (typeof customers)[number]).client.orders.place
      .mutate({
        items: [{ productId: (products[i % products.length] as { id: number }).id, quantity: 1 }],
        idempotencyKey: `order-cost-${i}`,
      })
      .catch((error: unknown) => {
        if (!soldOut) throw error;
      });
  // Warm-up: prepared statements, session cache, JIT.
  for (let i = 0; i < 20; i++) await place(orders + i);

  if (withStats) {
    for (const setting of ["log_parser_stats", "log_planner_stats", "log_executor_stats"]) await admin.query(`ALTER DATABASE "${dbName}" SET ${setting} = on`);
    // Settings apply to new connections: end the pool's idle ones (it opens new ones on demand).
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [dbName]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (let i = 0; i < 5; i++) await place(orders + 20 + i).catch(() => {});
  }

  const backends = async () => (await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1", [dbName])).rows.map((r) => r.pid);
  const before = new Map((await backends()).map((pid) => [pid, cpuOf(pid)]));
  const processBefore = process.cpuUsage();
  statements = 0;
  texts.clear();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < orders) await place(next++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = await backends();
  let pgCpu = 0;
  for (const pid of after) pgCpu += cpuOf(pid) - (before.get(pid) ?? 0);
  const processCpu = process.cpuUsage(processBefore);
  console.log(`orders ${orders}, concurrency ${concurrency}, ${seconds.toFixed(2)} s, ${(orders / seconds).toFixed(0)} orders/s`);
  console.log(`statements per order: ${(statements / orders).toFixed(2)}`);
  console.log(`PostgreSQL CPU per order: ${((pgCpu / orders) * 1e6).toFixed(0)} µs (backends of ${dbName}: ${after.length})`);
  console.log(`process CPU per order (client + server): ${(((processCpu.user + processCpu.system) / orders) | 0).toLocaleString()} µs`);
  for (const [text, n] of [...texts].sort((a, b) => b[1] - a[1])) console.log(`  ${(n / orders).toFixed(2)}× ${text}`);
} finally {
  if (withStats)
    for (const setting of ["log_parser_stats", "log_planner_stats", "log_executor_stats"])
      await admin.query(`ALTER DATABASE "${dbName}" RESET ${setting}`).catch(() => {});
  pg.Client.prototype.query = originalQuery;
  await admin.end();
  await t.close();
}
