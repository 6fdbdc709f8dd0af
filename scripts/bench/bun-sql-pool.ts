/**
 * MEASUREMENT ONLY (scripts/bench/driver-cost.ts, docs/speed/bun-sql.md): Bun's native PostgreSQL
 * client (`Bun.SQL`) behind the pool interface Kysely's `PostgresDialect` drives (`connect()` → a
 * client with `query(text, values)` and `release()`), so the same dialect, the same compiled
 * statements and the same pipelining wrapper (db/pipeline.ts) run on either driver. Agora itself
 * runs on pg: see the notes for what this does not keep (JSON parameters, prepared-statement
 * choice, PgBouncer mode).
 *
 * - **Transactions on one connection.** A client borrows nothing until its `begin` is sent; then it
 *   reserves one connection (`sql.reserve()`) and runs everything up to its COMMIT or ROLLBACK there.
 *   A statement outside a transaction goes to the shared pool, where Bun picks a connection.
 * - **Pipelining.** Bun writes a statement at once, behind any still unanswered on that connection,
 *   so the BEGIN-with-the-first-statement and deferred statements of db/pipeline.ts go out back to
 *   back as they do with pg's pipeline mode.
 * - **Values read as pg reads them in Agora** (db/client.ts): int8 and numeric as numbers, date as
 *   its `YYYY-MM-DD` text. Bun reads int8 and numeric as strings and date as a Date at UTC midnight,
 *   and has no per-type parsers yet, so those columns are converted after the fact, from the column
 *   types the result carries.
 * - **Errors** keep Bun's own classes: the SQLSTATE is in `errno`, `code` is Bun's own
 *   (`ERR_POSTGRES_SERVER_ERROR`); db/unit-of-work.ts's pgErrorCode would have to read both.
 */
import { type ReservedSQL, SQL } from "bun";

const INT8_OID = 20;
const NUMERIC_OID = 1700;
const DATE_OID = 1082;

type Row = Record<string, unknown>;
type BunResult = Row[] & {
  command: string | null;
  count: number;
  affectedRows: number;
  columns: Array<{ name: string; type: number }> | null;
  statement: object | null;
};

/** What pg's `client.query` answers and Kysely's PostgresDriver reads. */
export interface PgLikeResult {
  command: string;
  rowCount: number;
  rows: Row[];
}

type Convert = (value: unknown) => unknown;
const toNumber: Convert = (value) => (typeof value === "string" ? Number(value) : typeof value === "bigint" ? Number(value) : value);
const toDateText: Convert = (value) => (value instanceof Date ? value.toISOString().slice(0, 10) : value);

const NO_CONVERSION: ReadonlyArray<readonly [string, Convert]> = [];
/** Per prepared statement (Bun shares one `statement` object across its runs on a connection). */
const conversionsByStatement = new WeakMap<object, ReadonlyArray<readonly [string, Convert]>>();

function conversionsOf(result: BunResult): ReadonlyArray<readonly [string, Convert]> {
  const statement = result.statement;
  const known = statement ? conversionsByStatement.get(statement) : undefined;
  if (known) return known;
  const found: Array<readonly [string, Convert]> = [];
  for (const column of result.columns ?? []) {
    if (column.type === INT8_OID || column.type === NUMERIC_OID) found.push([column.name, toNumber]);
    else if (column.type === DATE_OID) found.push([column.name, toDateText]);
  }
  const conversions = found.length === 0 ? NO_CONVERSION : found;
  if (statement) conversionsByStatement.set(statement, conversions);
  return conversions;
}

function toPgResult(result: BunResult): PgLikeResult {
  const conversions = conversionsOf(result);
  if (conversions.length > 0) {
    for (const row of result) {
      for (const [name, convert] of conversions) row[name] = convert(row[name]);
    }
  }
  const command = result.command ?? "";
  const writes = command === "INSERT" || command === "UPDATE" || command === "DELETE" || command === "MERGE";
  return { command, rowCount: writes ? result.affectedRows : result.count, rows: result };
}

/**
 * MEASUREMENT ONLY, not a fix: Agora hands JSON to json/jsonb parameters as JSON text (what pg
 * needs), and Bun with prepared statements stores such a string as a JSON *string*. Here any string
 * that looks like a JSON object or array is parsed, so Bun encodes it as JSON again; a text
 * parameter holding such a string would be re-serialized (whitespace, key order), which is wrong
 * in general. See docs/speed/bun-sql.md.
 */
const looksLikeJson = (value: string) => (value.startsWith("{") && value.endsWith("}")) || (value.startsWith("[") && value.endsWith("]"));
function jsonTextAsValues(values: unknown[]): unknown[] {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value === "string" ? looksLikeJson(value) : Array.isArray(value) && typeof value[0] === "string" && looksLikeJson(value[0])) {
      return values.map((v) =>
        typeof v === "string" && looksLikeJson(v)
          ? JSON.parse(v)
          : Array.isArray(v)
            ? v.map((e) => (typeof e === "string" && looksLikeJson(e) ? JSON.parse(e) : e))
            : v,
      );
    }
  }
  return values;
}

export interface BunSqlPoolOptions {
  url: string;
  max: number;
  /** How long a transaction may wait for a connection of its own, and a new connection to open; 0 waits forever. */
  connectTimeoutMs: number;
  /** Named prepared statements (Bun prepares every statement with parameters); off for PgBouncer before 1.21. */
  prepare: boolean;
  applicationName: string;
  onConnect?: () => void;
  onLost?: (error: Error) => void;
}

const isTransactionStart = (text: string) => text === "begin" || text.startsWith("start transaction");

/** A pool with pg-pool's shape (what Kysely's PostgresDialect calls) over one `Bun.SQL` client. */
export function bunSqlPool(options: BunSqlPoolOptions) {
  let closing = false;
  const sql = new SQL(options.url, {
    max: options.max,
    prepare: options.prepare,
    connectionTimeout: options.connectTimeoutMs > 0 ? Math.ceil(options.connectTimeoutMs / 1000) : 0,
    connection: { application_name: options.applicationName },
    onconnect: (error) => {
      if (error) options.onLost?.(error);
      else options.onConnect?.();
    },
    onclose: (error) => {
      // Idle and lifetime timeouts and our own close() are no loss of connectivity.
      const code = (error as { code?: string } | null)?.code ?? "";
      if (error && !closing && code !== "ERR_POSTGRES_IDLE_TIMEOUT" && code !== "ERR_POSTGRES_LIFETIME_TIMEOUT") options.onLost?.(error);
    },
  });
  let reservedNow = 0;
  let waitingNow = 0;

  /** A connection of its own for a transaction; waits at most connectTimeoutMs for one (like pg-pool's checkout). */
  const reserve = (): Promise<ReservedSQL> => {
    waitingNow++;
    const reserving = sql.reserve();
    // A plain timer: AbortSignal.timeout per transaction cost measurably more CPU (scripts/bench/driver-cost.ts).
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const deadline =
      options.connectTimeoutMs > 0
        ? new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              timedOut = true;
              reject(new Error(`timeout exceeded when trying to connect (no connection free within ${options.connectTimeoutMs} ms)`));
            }, options.connectTimeoutMs);
          })
        : null;
    const reserved = reserving.then((connection) => {
      if (timedOut) {
        connection.release(); // the caller gave up on it already
        return connection;
      }
      reservedNow++;
      return connection;
    });
    return (deadline ? Promise.race([reserved, deadline]) : reserved).then(
      (connection) => {
        waitingNow--;
        clearTimeout(timer);
        return connection;
      },
      (error: Error) => {
        waitingNow--;
        clearTimeout(timer);
        options.onLost?.(error);
        throw error;
      },
    );
  };

  const run = (target: SQL, text: string, values: unknown): Promise<PgLikeResult> =>
    (target.unsafe(text, jsonTextAsValues((values as unknown[] | undefined) ?? [])) as unknown as Promise<BunResult>).then(toPgResult);

  /** One Kysely connection: lone statements go to the pool, a transaction to a connection reserved at its `begin`. */
  function client() {
    let reserved: ReservedSQL | null = null;
    let reserving: Promise<ReservedSQL> | null = null;
    const onReserved = (text: string, values: unknown) => {
      if (reserved) return run(reserved, text, values);
      return (reserving as Promise<ReservedSQL>).then((connection) => run(connection, text, values));
    };
    return {
      query(text: unknown, values?: unknown): Promise<PgLikeResult> {
        if (typeof text !== "string") return Promise.reject(new TypeError("bun-sql driver: only (text, values) queries"));
        if (reserving) return onReserved(text, values);
        if (!isTransactionStart(text)) return run(sql, text, values);
        reserving = reserve().then((connection) => {
          reserved = connection;
          return connection;
        });
        return onReserved(text, values);
      },
      release() {
        const pending = reserving;
        reserving = null;
        if (reserved) {
          reserved.release();
          reservedNow--;
          reserved = null;
        } else if (pending) {
          // Kysely releases only after its statements settled; a reservation still pending here failed.
          void pending.then(
            (connection) => {
              connection.release();
              reservedNow--;
            },
            () => {},
          );
        }
      },
    };
  }

  return {
    sql,
    connect: async () => client(),
    end: async () => {
      closing = true;
      await sql.close();
    },
    /** Kysely reads these to cancel a running query on abort; Agora passes no abort signal to it. */
    options: {},
    Client: class {
      constructor() {
        throw new Error("bun-sql driver: cancelling a running query is not supported");
      }
    },
    stats: () => ({ total: options.max, idle: Math.max(0, options.max - reservedNow), waiting: waitingNow }),
  };
}
