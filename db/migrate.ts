import { type Kysely, sql } from "kysely";
import { type Migration, Migrator } from "kysely/migration";
import { migrations } from "./migrations/index.ts";
import type { Database } from "./schema.ts";

/**
 * Kysely runs the pending migrations in one transaction; each runs without statement_timeout
 * (`SET LOCAL`: building an index on a big table may take longer than a request may), whichever way a
 * timeout was set (the pool, the role: ALTER ROLE … SET statement_timeout, as behind PgBouncer), and
 * safe through a pooler in transaction mode, since nothing outlives the transaction.
 */
export const untimedMigrations: Record<string, Migration> = Object.fromEntries(
  Object.entries(migrations).map(([name, migration]) => [
    name,
    {
      ...migration,
      up: async (db) => {
        await sql`SET LOCAL statement_timeout = 0`.execute(db);
        await migration.up(db);
      },
    },
  ]),
);

/**
 * Brings the schema to the latest migration. Safe when several instances start at once:
 * Kysely's Migrator takes an advisory lock around the run.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => untimedMigrations } });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error || failed) {
    const cause = error instanceof Error ? error : new Error(String(error ?? failed?.migrationName));
    throw new Error(`migration failed: ${failed?.migrationName ?? "unknown"}: ${cause.message}`, { cause });
  }
  return (results ?? []).map((r) => r.migrationName);
}
