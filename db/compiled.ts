/**
 * Statements built and compiled by Kysely once, then run with new parameter values.
 *
 * Kysely builds the operation tree and compiles it to SQL again on every call: 30–150 µs of
 * server CPU per statement on this machine, about a third of the server's JavaScript time on the
 * order path (docs/benchmarks.md). A hot statement whose SQL text never changes is built here once
 * with placeholders, and each call only substitutes its values into the parameter list (the same
 * values Kysely would have sent: nothing is inlined into the SQL).
 *
 * The statement's shape must not depend on the values: `build` may only place its arguments as
 * values (`${x}` in a `sql` template, `where("id", "=", x)`), never compute with them, branch on
 * them, or expand them (an array is one parameter: `= ANY(${ids}::int8[])`, not `in`).
 */
import type { CompiledQuery, Kysely, QueryResult } from "kysely";
import { asQueryResult, directQueryOf } from "./direct.ts";
import type { Database } from "./schema.ts";

type Executor = Kysely<Database>;

/**
 * The SQL text of every compiled statement and the name it is prepared under. db/client.ts runs
 * these as named prepared statements: PostgreSQL parses each once per connection instead of on
 * every call (the order path's statements are CTEs whose parse and plan is much of their cost).
 */
const preparedNames = new Map<string, string>();

/** The prepared-statement name of a compiled statement's SQL text; undefined for any other SQL. */
export function preparedNameOf(sqlText: string): string | undefined {
  return preparedNames.get(sqlText);
}

/** Stands for argument `index` while the statement is compiled. */
class Placeholder {
  constructor(readonly index: number) {}
}

/** A query builder (`compile()`) or a `sql` template (`compile(executor)`). */
interface Compiles<Row> {
  compile(executor: Executor): CompiledQuery<Row>;
}

export interface CompiledQueryOptions {
  /**
   * Run as a named prepared statement (default true). False for a statement whose best plan depends
   * on its values (a search pattern, optional filters folded away as `$n IS NULL OR …`): after five
   * runs PostgreSQL may keep one generic plan for a named statement, while an unnamed one is planned
   * with its values every time. Kysely's building and compiling is skipped either way.
   */
  prepared?: boolean;
}

export function compiledQuery<Args extends unknown[], Row>(
  build: (db: Executor, ...args: Args) => Compiles<Row>,
  { prepared = true }: CompiledQueryOptions = {},
): (executor: Executor, ...args: Args) => Promise<QueryResult<Row>> {
  const arity = build.length - 1;
  let cached: { template: CompiledQuery<Row>; sources: Array<Placeholder | { value: unknown }> } | null = null;

  return async (executor, ...args) => {
    if (!cached) {
      const placeholders = Array.from({ length: arity }, (_, i) => new Placeholder(i));
      const template = build(executor, ...(placeholders as unknown as Args)).compile(executor);
      const sources = template.parameters.map((p) => (p instanceof Placeholder ? p : { value: p }));
      const used = new Set(sources.flatMap((s) => (s instanceof Placeholder ? [s.index] : [])));
      if (used.size !== arity) throw new Error(`compiledQuery: ${arity - used.size} argument(s) are not parameters of the statement`);
      cached = { template, sources };
      if (prepared && !preparedNames.has(template.sql)) preparedNames.set(template.sql, `agora_compiled_${preparedNames.size + 1}`);
    }
    const { template, sources } = cached;
    const parameters = sources.map((s) => (s instanceof Placeholder ? args[s.index] : s.value));
    // Straight to the client where there is one (db/direct.ts): Kysely has nothing left to do here.
    const direct = directQueryOf(executor);
    if (direct) return asQueryResult<Row>(await direct(template.sql, parameters));
    return executor.executeQuery<Row>({ query: template.query, queryId: template.queryId, sql: template.sql, parameters });
  };
}
