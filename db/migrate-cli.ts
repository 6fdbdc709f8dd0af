/** `bun run db:migrate`: applies pending migrations to DATABASE_URL (or the embedded data folder). */
import { createDatabase } from "./client.ts";
import { migrateToLatest } from "./migrate.ts";

const handle = await createDatabase({ url: process.env.DATABASE_URL, dataDir: process.env.DATA_DIR });
try {
  const applied = await migrateToLatest(handle.db);
  console.log(applied.length ? `applied: ${applied.join(", ")}` : "schema is up to date");
} finally {
  await handle.close();
}
