/**
 * Opening the database at start, with the failures a newcomer meets said in one line each:
 * the embedded data folder held by another process, and a PostgreSQL database that does not exist
 * yet (created when the URL's user may, otherwise the command that creates it).
 */
import { sql } from "kysely";
import pg from "pg";
import { createDatabase, type DatabaseHandle, type DatabaseOptions } from "./client.ts";
import { DataFolderInUseError } from "./data-folder-lock.ts";
import { migrateToLatest } from "./migrate.ts";
import { pgErrorCode } from "./unit-of-work.ts";

/** A failure whose message is the whole story: print it alone, no stack. */
export class StartupError extends Error {
  override name = "StartupError";
}

const INVALID_CATALOG_NAME = "3D000"; // database "…" does not exist

function databaseNameOf(url: string): { name: string; maintenanceUrl: string; where: string } {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || parsed.username || "postgres";
  const where = `${parsed.hostname}:${parsed.port || 5432}`;
  parsed.pathname = "/postgres";
  return { name, maintenanceUrl: parsed.toString(), where };
}

function isMissingDatabase(error: unknown): boolean {
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    if (pgErrorCode(e) === INVALID_CATALOG_NAME) return true;
  }
  return false;
}

/** Creates the URL's database through the server's `postgres` database; false when not allowed. */
async function createMissingDatabase(url: string): Promise<boolean> {
  const { name, maintenanceUrl } = databaseNameOf(url);
  const client = new pg.Client({ connectionString: maintenanceUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query(`create database "${name.replaceAll('"', '""')}"`);
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Opens the database and brings its schema up to date. Throws StartupError (one line) for a folder
 * in use or a database that is missing and cannot be created; `onCreated` hears of a database it created.
 */
export async function openAndMigrate(
  options: DatabaseOptions,
  hooks: { onCreated?(name: string): void } = {},
): Promise<{ database: DatabaseHandle; applied: string[] }> {
  // Until the schema is migrated a failed connection is this function's to explain (in one line),
  // not the outage log's: it would print the same failure first, as a warning.
  let opened = false;
  const events = options.events && {
    lost: (error: Error) => {
      if (opened) options.events?.lost(error);
    },
    connected: () => options.events?.connected(),
  };
  for (let attempt = 0; ; attempt++) {
    let database: DatabaseHandle;
    try {
      database = await createDatabase({ ...options, events });
    } catch (error) {
      if (error instanceof DataFolderInUseError) throw new StartupError(error.message, { cause: error });
      throw error;
    }
    try {
      // Each migration runs with SET LOCAL statement_timeout = 0 (db/migrate.ts), whatever set a timeout.
      // Where the pool set one, Kysely's own statements around them (its tables, its lock wait) run
      // without it too, on one connection; not through a pooler (no pool timeout there), where a SET
      // outside a transaction would stay behind on whichever server connection it landed on.
      const withoutTimeout = database.statementTimeoutMs > 0;
      const applied = await database.db.connection().execute(async (connection) => {
        if (withoutTimeout) await sql`SET statement_timeout = 0`.execute(connection);
        const names = await migrateToLatest(connection);
        if (withoutTimeout) await sql`RESET statement_timeout`.execute(connection);
        return names;
      });
      opened = true;
      return { database, applied };
    } catch (error) {
      await database.close().catch(() => {});
      if (!options.url || !isMissingDatabase(error)) throw error;
      const { name, where } = databaseNameOf(options.url);
      if (attempt === 0 && (await createMissingDatabase(options.url))) {
        hooks.onCreated?.(name);
        continue;
      }
      throw new StartupError(
        `the database "${name}" does not exist on ${where}, and this user may not create it: ` +
          `create it with \`createdb -h ${where.split(":")[0]} -p ${where.split(":")[1]} ${name}\` (or \`psql -c 'create database "${name}"'\`), or point DATABASE_URL at one that exists`,
        { cause: error },
      );
    }
  }
}
