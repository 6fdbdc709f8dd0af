/**
 * Database client factory: PostgreSQL through a pg pool when a URL is given, otherwise an
 * embedded PGlite in a data folder (one session: transactions serialize, fine for trying Agora).
 */
import { mkdirSync } from "node:fs";
import { Kysely, PGliteDialect, PostgresDialect } from "kysely";
import pg from "pg";
import { preparedNameOf } from "./compiled.ts";
import { lockDataFolder } from "./data-folder-lock.ts";
import { type DirectQuery, noteBegin, registerDatabaseQuery } from "./direct.ts";
import { pipelining, type QueryFn } from "./pipeline.ts";
import type { Database } from "./schema.ts";
import { type Db, outsideTransaction } from "./unit-of-work.ts";

const INT8_OID = 20;
const NUMERIC_OID = 1700;
const DATE_OID = 1082;

/** Money and ids are bigint columns; they stay far below 2^53, so read them as numbers. Dates stay ISO strings. */
const parseInteger = (value: string) => Number(value);
const keepString = (value: string) => value;

const pgTypes = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID || oid === NUMERIC_OID) return parseInteger;
    if (oid === DATE_OID) return keepString;
    // biome-ignore lint/suspicious/noExplicitAny: pg's own overloads are not expressible here
    return (pg.types.getTypeParser as any)(oid, format);
  },
};

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

export interface DatabaseHandle {
  db: Db;
  kind: "postgres" | "pglite";
  /** The statement_timeout every pooled connection really has, in ms (0: none was applied). */
  statementTimeoutMs: number;
  poolStats(): PoolStats;
  /**
   * LISTEN on `channel`; `onNotify` runs for each NOTIFY (and once after a lost connection came
   * back, since notifications may have been missed meanwhile). PostgreSQL: a dedicated connection
   * outside the pool; PGlite: its own listen. Resolves to the unsubscribe.
   */
  listen(channel: string, onNotify: (payload?: string) => void): Promise<() => Promise<void>>;
  /** Ends the pool and waits until every connection is closed. */
  close(): Promise<void>;
}

/**
 * What the pool tells its owner about connectivity. `lost` fires for every connection that fails or
 * drops (the owner decides how loudly to say it); `connected` for every new connection.
 */
export interface ConnectionEvents {
  lost(error: Error): void;
  connected(): void;
}

export interface DatabaseOptions {
  /** postgres://… ; when absent an embedded PGlite is used. */
  url?: string;
  /**
   * Where `listen` connects (default: `url`). Behind PgBouncer in transaction mode `url` cannot carry
   * LISTEN (the session that listens is handed to others between statements): give a direct URL.
   */
  listenUrl?: string;
  /** PGlite data folder (default ./data). */
  dataDir?: string;
  poolSize?: number;
  /** How long a request may wait for a connection (queue included) before it fails; 0 waits forever. */
  connectTimeoutMs?: number;
  /**
   * PostgreSQL's `statement_timeout` on every connection (0 or absent: none). A statement stuck
   * behind a lock then fails instead of holding its caller (the outbox poller's loop, a request)
   * forever; migrations run without it (db/startup.ts).
   */
  statementTimeoutMs?: number;
  /** Told when a setting could not be applied (PgBouncer refuses `statement_timeout` at connect). */
  warn?: (message: string) => void;
  events?: ConnectionEvents;
  /** Written into the PGlite folder's lock (the server's URL), so others know whom to ask. */
  lockOwnerUrl?: string;
  /**
   * Run the statements compiled once (db/compiled.ts) as named prepared statements (default true).
   * Off for a pooler that cannot keep them (PgBouncer in transaction mode before 1.21, or without
   * max_prepared_statements).
   */
  preparedStatements?: boolean;
}

const WRAPPED = Symbol("agora.wrappedClient");

/**
 * Statements issued in one turn of the event loop leave in one socket write. pg writes each
 * statement on its own (one `send` system call each); a pipelined transaction issues several before
 * it next waits (BEGIN with its first statement, the tail with its COMMIT: db/pipeline.ts), and on
 * loopback every write is a system call that also runs the receiving side's network stack. The
 * client's socket is corked at its first statement and uncorked on the next tick, which runs once
 * the promise continuations that issue the rest have run. Measured: 5 statements of a transaction
 * in 1 write instead of 5, ~20 % less client CPU per transaction (docs/benchmarks.md).
 */
function coalescingWrites(client: pg.PoolClient): () => void {
  const stream = (client as unknown as { connection?: { stream?: { cork?(): void; uncork?(): void } } }).connection?.stream;
  if (!stream?.cork || !stream.uncork) return () => {};
  let corked = false;
  const uncork = () => {
    corked = false;
    stream.uncork?.();
  };
  return () => {
    if (corked) return;
    corked = true;
    stream.cork?.();
    process.nextTick(uncork);
  };
}

/**
 * Wraps a pool client's `query` once (clients are reused): the compiled statements go out by name
 * (Kysely calls `query(text, values)`, and a text that db/compiled.ts knows is sent as
 * `{ name, text, values }`, parsed once per connection), and transactions take fewer round trips
 * (db/pipeline.ts: BEGIN with the first statement, deferred statements, the tail with its COMMIT).
 */
function wrapClient(client: pg.PoolClient, options: { namedStatements: boolean }): pg.PoolClient {
  const marked = client as pg.PoolClient & { [WRAPPED]?: true };
  if (marked[WRAPPED]) return client;
  marked[WRAPPED] = true;
  const query = client.query.bind(client) as QueryFn;
  const coalesce = coalescingWrites(client);
  const naming: QueryFn = (text, values, callback) => {
    coalesce();
    const name = options.namedStatements && typeof text === "string" && Array.isArray(values) ? preparedNameOf(text) : undefined;
    return name ? query({ name, text, values }, callback) : query(text, values, callback);
  };
  const pipelined = pipelining(naming);
  const direct: DirectQuery = (text, values) => pipelined(text, values) as ReturnType<DirectQuery>;
  (client as { query: unknown }).query = (text: unknown, values?: unknown, callback?: unknown) => {
    // The transaction being opened learns its client (db/direct.ts).
    if (text === "begin") noteBegin(direct);
    return pipelined(text, values, callback);
  };
  return client;
}

/**
 * Whether a connection opened with `statement_timeout` really has it, asked once at start: PgBouncer
 * refuses startup parameters it does not track ("unsupported startup parameter: statement_timeout"),
 * and one configured to ignore the parameter (`ignore_startup_parameters`) accepts and drops it.
 */
async function statementTimeoutTakes(url: string, statementTimeoutMs: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, statement_timeout: statementTimeoutMs, connectionTimeoutMillis: 5_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'");
    return Number(rows[0]?.setting) === statementTimeoutMs;
  } catch (error) {
    // Anything else (a missing database, the probe itself timed out) is for the pool's own
    // connections to report, as they would without the probe.
    return !(error instanceof Error && error.message.includes("unsupported startup parameter"));
  } finally {
    await client.end().catch(() => {});
  }
}

export async function createDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.url) {
    let statementTimeoutMs = options.statementTimeoutMs ?? 0;
    if (statementTimeoutMs > 0 && !(await statementTimeoutTakes(options.url, statementTimeoutMs))) {
      options.warn?.(
        "DB_STATEMENT_TIMEOUT_MS is not applied: the server (a pooler such as PgBouncer) refuses or ignores statement_timeout at connect; " +
          "set it on the database role instead (ALTER ROLE … SET statement_timeout = '30s'), or use PgBouncer's query_timeout",
      );
      statementTimeoutMs = 0;
    }
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 15_000,
      types: pgTypes,
      application_name: "agora",
      ...(statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs } : {}),
      // Statements of a transaction go out back to back (db/pipeline.ts). Not through a pooler that
      // cannot keep named statements (PgBouncer before 1.21): there the driver sends one at a time.
      pipeline: options.preparedStatements !== false,
    } as pg.PoolConfig);
    const events = options.events;
    // Without these listeners one dropped connection is an unhandled 'error' event that ends the
    // process: the pool emits it for idle connections, a client for the one it holds right now.
    // The statement running on a dropped connection fails on its own; pg-pool discards the client
    // and opens a new one on the next checkout.
    pool.on("error", (error) => events?.lost(error));
    pool.on("connect", (client) => {
      client.on("error", (error) => events?.lost(error));
      events?.connected();
    });
    // Kysely reads `Client` and `options` too (to cancel a running query): pass the pool's own.
    const reportingPool = {
      Client: pg.Client,
      options: pool.options,
      connect: () =>
        pool.connect().then(
          (client) => wrapClient(client, { namedStatements: options.preparedStatements !== false }),
          (error: Error) => {
            events?.lost(error);
            throw error;
          },
        ),
      end: () => pool.end(),
    };
    const db = outsideTransaction(new Kysely<Database>({ dialect: new PostgresDialect({ pool: reportingPool }) }));
    // A lone compiled statement: a client for it alone, as Kysely's driver would check one out.
    registerDatabaseQuery(db, async (text, values) => {
      const client = await reportingPool.connect();
      try {
        return await client.query(text, values);
      } finally {
        client.release();
      }
    });
    const listeners = new Set<() => Promise<void>>();
    return {
      db,
      kind: "postgres",
      statementTimeoutMs,
      poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      async listen(channel, onNotify) {
        // The test notification goes through the pool, the way the outbox trigger's notifications travel.
        const notify = async (payload: string) => void (await pool.query("SELECT pg_notify($1, $2)", [channel, payload]));
        const stop = await listenOnOwnConnection(options.listenUrl ?? (options.url as string), channel, onNotify, notify);
        const unsubscribe = async () => {
          listeners.delete(unsubscribe);
          await stop();
        };
        listeners.add(unsubscribe);
        return unsubscribe;
      },
      async close() {
        await Promise.all([...listeners].map((unsubscribe) => unsubscribe()));
        await db.destroy();
      },
    };
  }

  const dataDir = options.dataDir ?? "./data";
  if (dataDir !== "memory://") mkdirSync(dataDir, { recursive: true });
  // One process per folder: a second PGlite on the same files silently loses writes.
  const releaseLock = dataDir === "memory://" ? () => {} : lockDataFolder(dataDir, { url: options.lockOwnerUrl });
  const { PGlite } = await import("@electric-sql/pglite");
  const { pg_trgm } = await import("@electric-sql/pglite/contrib/pg_trgm");
  const pglite = new PGlite(dataDir, {
    extensions: { pg_trgm },
    parsers: { [INT8_OID]: parseInteger, [NUMERIC_OID]: parseInteger, [DATE_OID]: keepString },
  });
  const db = outsideTransaction(new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) }));
  return {
    db,
    kind: "pglite",
    statementTimeoutMs: 0,
    poolStats: () => ({ total: 1, idle: 1, waiting: 0 }),
    async listen(channel, onNotify) {
      const unlisten = await pglite.listen(channel, (payload) => onNotify(payload));
      return () => unlisten();
    },
    close: () => db.destroy().finally(releaseLock),
  };
}

/** How long the LISTEN connection waits for its own test notification before it calls LISTEN broken. */
const LISTEN_PROBE_MS = 2_000;

/**
 * A pg client of its own for LISTEN (a pooled connection would be handed to queries and lose it).
 * A dropped connection is opened again after a second; `onNotify` then runs once, as events may
 * have arrived while nobody listened.
 *
 * After LISTEN a test notification is sent through the pool (`notify`) and awaited: through PgBouncer
 * in transaction mode LISTEN "succeeds" on a server connection the listener no longer holds between
 * statements, and notifications sent from other connections never reach it. That fails here,
 * loudly, instead of leaving a poller waiting in vain.
 */
async function listenOnOwnConnection(
  url: string,
  channel: string,
  onNotify: (payload?: string) => void,
  notify: (payload: string) => Promise<void>,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  const scheduleReconnect = () => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect().then(() => onNotify(), scheduleReconnect);
    }, 1_000);
  };
  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, application_name: "agora-listen" });
    const probe = `agora-listen-probe-${crypto.randomUUID()}`;
    let probed: () => void = () => {};
    const probeArrived = new Promise<void>((resolve) => {
      probed = resolve;
    });
    next.on("notification", (message) => {
      if (message.channel !== channel) return;
      if (message.payload === probe) probed();
      else onNotify(message.payload);
    });
    const lost = () => {
      if (client !== next) return;
      client = null;
      void next.end().catch(() => {});
      scheduleReconnect();
    };
    next.on("error", lost);
    next.on("end", lost);
    try {
      await next.connect();
      await next.query(`LISTEN ${next.escapeIdentifier(channel)}`);
      await notify(probe);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const heard = await Promise.race([
        probeArrived.then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), LISTEN_PROBE_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!heard) {
        throw new Error(
          `LISTEN ${channel}: a test notification did not come back within ${LISTEN_PROBE_MS} ms. A pooler in transaction mode (PgBouncer) cannot carry LISTEN: set DATABASE_LISTEN_URL to a direct PostgreSQL URL, or to "off" to poll`,
        );
      }
    } catch (error) {
      void next.end().catch(() => {});
      throw error;
    }
    if (stopped) await next.end().catch(() => {});
    else client = next;
  };
  await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const last = client;
    client = null;
    await last?.end().catch(() => {});
  };
}
