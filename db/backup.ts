/**
 * Logical backups for operators and newcomers: PostgreSQL's own pg_dump/pg_restore (custom format)
 * for a DATABASE_URL, PGlite's own data-folder dump for the embedded default. Production should
 * also keep base backups with WAL archiving (README, Operations): a dump is a point in time.
 */
import { existsSync, mkdirSync, readdirSync, renameSync } from "node:fs";
import { resolve } from "node:path";

export type BackupTarget = { kind: "postgres"; url: string } | { kind: "pglite"; dataDir: string };

export class BackupError extends Error {
  override name = "BackupError";
}

async function run(command: string[], what: string): Promise<void> {
  let child: ReturnType<typeof Bun.spawn>;
  try {
    child = Bun.spawn(command, { stdin: "ignore", stdout: "inherit", stderr: "pipe" });
  } catch {
    throw new BackupError(`${command[0]} is not installed: install PostgreSQL's client tools (Debian: apt-get install postgresql-client)`);
  }
  const stderr = await new Response(child.stderr as ReadableStream).text();
  const code = await child.exited;
  if (code !== 0) throw new BackupError(`${what} failed (exit ${code}): ${stderr.trim()}`);
}

async function openPglite(dataDir: string, loadDataDir?: Blob) {
  const { PGlite } = await import("@electric-sql/pglite");
  const { pg_trgm } = await import("@electric-sql/pglite/contrib/pg_trgm");
  return PGlite.create(dataDir, { extensions: { pg_trgm }, ...(loadDataDir ? { loadDataDir } : {}) });
}

/** Writes a backup of `target` to `file`; returns its size in bytes. */
export async function backupDatabase(target: BackupTarget, file: string): Promise<number> {
  if (target.kind === "postgres") {
    await run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", `--file=${file}`, target.url], "pg_dump");
  } else {
    if (!existsSync(target.dataDir)) throw new BackupError(`no embedded database at ${resolve(target.dataDir)}`);
    const pglite = await openPglite(target.dataDir);
    try {
      await Bun.write(file, await pglite.dumpDataDir("gzip"));
    } finally {
      await pglite.close();
    }
  }
  return Bun.file(file).size;
}

/**
 * Restores `file` into `target`, replacing what is there. PostgreSQL: every object the backup holds
 * is dropped and re-created in one transaction (pg_restore --clean --single-transaction). PGlite: the
 * current data folder is moved aside (`<dir>.before-restore-<time>`), never deleted.
 */
export async function restoreDatabase(target: BackupTarget, file: string, now = new Date()): Promise<string | null> {
  if (!existsSync(file)) throw new BackupError(`no backup file at ${resolve(file)}`);
  if (target.kind === "postgres") {
    await run(
      ["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", `--dbname=${target.url}`, file],
      "pg_restore",
    );
    return null;
  }
  let movedAside: string | null = null;
  if (existsSync(target.dataDir) && readdirSync(target.dataDir).length > 0) {
    movedAside = `${target.dataDir.replace(/\/+$/, "")}.before-restore-${now.toISOString().replace(/[:.]/g, "-")}`;
    renameSync(target.dataDir, movedAside);
  }
  mkdirSync(target.dataDir, { recursive: true });
  const pglite = await openPglite(target.dataDir, Bun.file(file));
  try {
    await pglite.query("select 1");
  } finally {
    await pglite.close();
  }
  return movedAside;
}
