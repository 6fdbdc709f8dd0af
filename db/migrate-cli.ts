/**
 * `bun run db:migrate [up|status|down|--help]`: the schema of DATABASE_URL (or the embedded data
 * folder DATA_DIR, default ./data) through Kysely's own Migrator.
 */
import { Migrator } from "kysely/migration";
import { createDatabase } from "./client.ts";
import { untimedMigrations as migrations } from "./migrate.ts";
import { StartupError } from "./startup.ts";

const usage = `Usage: bun run db:migrate [command]

Commands:
  up       apply every pending migration (the default; the server also does this at start)
  status   list migrations, applied or pending
  down     undo the most recent applied migration (data in what it created is lost)
  --help   this text

The database: DATABASE_URL (postgres://…), or the embedded PGlite folder DATA_DIR (default ./data)
when DATABASE_URL is unset. Several instances may migrate at once: the Migrator takes a lock.`;

const command = process.argv[2] ?? "up";
if (command === "--help" || command === "-h" || command === "help") {
  console.log(usage);
  process.exit(0);
}
if (!["up", "status", "down"].includes(command)) {
  console.error(`db:migrate: unknown command "${command}"\n\n${usage}`);
  process.exit(2);
}

const target = process.env.DATABASE_URL ? "DATABASE_URL" : `the embedded data folder ${process.env.DATA_DIR ?? "./data"}`;
const handle = await createDatabase({ url: process.env.DATABASE_URL, dataDir: process.env.DATA_DIR }).catch((error: unknown) => {
  console.error(`db:migrate: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
const migrator = new Migrator({ db: handle.db, provider: { getMigrations: async () => migrations } });

try {
  if (command === "status") {
    const all = await migrator.getMigrations();
    for (const m of all) console.log(`${m.executedAt ? `applied ${m.executedAt.toISOString()}` : "pending                          "}  ${m.name}`);
    console.log(`${all.filter((m) => m.executedAt).length} applied, ${all.filter((m) => !m.executedAt).length} pending (${target})`);
  } else {
    const { error, results } = command === "down" ? await migrator.migrateDown() : await migrator.migrateToLatest();
    for (const r of results ?? [])
      console.log(`${r.status === "Success" ? (r.direction === "Down" ? "undone " : "applied") : r.status.toLowerCase()}  ${r.migrationName}`);
    if (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new StartupError(/does not exist/.test(message) ? `${message}: create it first (the server creates it at start when its user may)` : message);
    }
    if (!results?.length) console.log(command === "down" ? "nothing to undo" : "schema is up to date");
  }
} catch (error) {
  console.error(`db:migrate: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await handle.close();
}
