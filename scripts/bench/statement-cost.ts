/**
 * `bun scripts/bench/statement-cost.ts [--statements N] [--rounds R]`: the client-side CPU of one
 * statement inside a transaction, by path (db/direct.ts), on the local PostgreSQL:
 *
 * - `agora`: a compiled statement (db/compiled.ts) as Agora runs it: straight to the transaction's
 *   client, through its naming and pipelining wrapper (db/client.ts, db/pipeline.ts);
 * - `kysely`: the same statement through Kysely's executor (what every compiled statement cost before);
 * - `pg`: the bare pg client, named, no wrapper (the floor).
 *
 * N statements per transaction (default 4,000: the process's CPU clock ticks are coarse), modes
 * alternating round by round; reports the median CPU per statement (process.cpuUsage, user + system).
 */
import { sql } from "kysely";
import pg from "pg";
import { createDatabase } from "../../db/client.ts";
import { compiledQuery } from "../../db/compiled.ts";
import { inTransaction } from "../../db/unit-of-work.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const statements = option("--statements", 4_000);
const rounds = option("--rounds", 6);
const url = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const text = "SELECT $1::int8 AS x, $2::text AS y";

const handle = await createDatabase({ url, poolSize: 2 });
const statement = compiledQuery((_db, x: number, y: string) => sql<{ x: number; y: string }>`SELECT ${x}::int8 AS x, ${y}::text AS y`);
const bare = new pg.Pool({ connectionString: url, max: 1 });

const modes: Record<string, () => Promise<void>> = {
  agora: () =>
    inTransaction(handle.db, async (trx) => {
      for (let i = 0; i < statements; i++) await statement(trx, i, "abc");
    }),
  kysely: () =>
    inTransaction(handle.db, async (trx) => {
      const query = sql`SELECT 1`.compile(trx).query;
      for (let i = 0; i < statements; i++) await trx.executeQuery({ query, queryId: { queryId: "statement-cost" }, sql: text, parameters: [i, "abc"] });
    }),
  pg: async () => {
    const client = await bare.connect();
    await client.query("begin");
    for (let i = 0; i < statements; i++) await client.query({ name: "statement_cost", text, values: [i, "abc"] });
    await client.query("commit");
    client.release();
  },
};

const perStatement: Record<string, number[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const [mode, run] of Object.entries(modes)) {
    const before = process.cpuUsage();
    await run();
    const used = process.cpuUsage(before);
    const list = perStatement[mode] ?? [];
    list.push((used.user + used.system) / statements);
    perStatement[mode] = list;
  }
}
for (const [mode, values] of Object.entries(perStatement)) {
  values.sort((a, b) => a - b);
  console.log(
    `${mode.padEnd(7)} ${(values[Math.floor(values.length / 2)] as number).toFixed(1).padStart(6)} µs per statement (median of ${rounds}; min ${(values[0] as number).toFixed(1)})`,
  );
}
await bare.end();
await handle.close();
