/**
 * `bun run db:backup [--out FILE]` and `bun run db:restore FILE --yes`: a logical backup of
 * DATABASE_URL (pg_dump, custom format) or, without it, of the embedded data folder DATA_DIR
 * (PGlite's own dump). Stop the server first on the embedded default: one process owns its folder.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { BackupError, type BackupTarget, backupDatabase, restoreDatabase } from "../db/index.ts";

const usage = `Usage:
  bun run db:backup [--out FILE]        back up DATABASE_URL (pg_dump) or the embedded DATA_DIR (default ./data)
  bun run db:restore FILE --yes         replace the database's contents with FILE

Options:
  --out FILE   where the backup goes (default backups/agora-<time>.dump, or .tar.gz for the embedded database)
  --yes        restore really replaces what is there (the embedded folder is moved aside, not deleted)
  -h, --help   this text`;

const { values, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  options: { out: { type: "string" }, yes: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } },
  allowPositionals: true,
});
const [command, file] = positionals;
if (values.help || (command !== "backup" && command !== "restore")) {
  console.log(usage);
  process.exit(values.help ? 0 : 2);
}

const target: BackupTarget = process.env.DATABASE_URL
  ? { kind: "postgres", url: process.env.DATABASE_URL }
  : { kind: "pglite", dataDir: process.env.DATA_DIR ?? "./data" };
const where = target.kind === "postgres" ? new URL(target.url).pathname.slice(1) || "(default database)" : target.dataDir;

try {
  if (command === "backup") {
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const out = values.out ?? `backups/agora-${stamp}.${target.kind === "postgres" ? "dump" : "tar.gz"}`;
    mkdirSync(dirname(out), { recursive: true });
    const bytes = await backupDatabase(target, out);
    console.log(`backed up ${target.kind} ${where} to ${out} (${(bytes / 1024).toFixed(1)} KiB)`);
  } else {
    if (!file) throw new BackupError("name the backup file: bun run db:restore FILE --yes");
    if (!values.yes) throw new BackupError(`restoring replaces everything in ${target.kind} ${where}: add --yes to go ahead`);
    const movedAside = await restoreDatabase(target, file);
    console.log(`restored ${file} into ${target.kind} ${where}${movedAside ? ` (the previous folder is at ${movedAside})` : ""}`);
    console.log("Start the server once: it applies any newer migrations.");
  }
} catch (error) {
  if (error instanceof BackupError) {
    console.error(`db:${command}: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
