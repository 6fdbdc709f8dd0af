/**
 * One process owns an embedded (PGlite) data folder. PGlite has no server of its own: two processes
 * that open the same folder each keep their own copy of the pages and overwrite each other's writes.
 * So the owner writes `agora.lock` (its pid, command and, for the server, its URL) with O_EXCL, and
 * a second process is refused with one line naming the owner. A lock whose pid no longer runs (the
 * owner was killed) is stale and taken over.
 *
 * Hand-written rather than proper-lockfile: that library judges staleness by mtime and cannot name
 * the owner, which is the whole point of the message.
 */
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface DataFolderOwner {
  pid: number;
  command: string;
  startedAt: string;
  /** Set by the server: where it answers, so `bun run seed` can talk to it instead. */
  url?: string;
}

export class DataFolderInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: DataFolderOwner,
  ) {
    super(
      `the data folder ${dataDir} is in use by process ${owner.pid} (${owner.command}${owner.url ? ` at ${owner.url}` : ""}, since ${owner.startedAt}); ` +
        `stop it first, or let it do the work: \`bun run seed\` seeds a running server`,
    );
    this.name = "DataFolderInUseError";
  }
}

function lockPath(dataDir: string): string {
  return join(dataDir, "agora.lock");
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, owned by someone else
  }
}

/** The live owner of the folder, or null when it is free (no lock, or a stale one). */
export function dataFolderOwner(dataDir: string): DataFolderOwner | null {
  try {
    const owner = JSON.parse(readFileSync(lockPath(dataDir), "utf8")) as DataFolderOwner;
    return typeof owner.pid === "number" && owner.pid !== process.pid && isRunning(owner.pid) ? owner : null;
  } catch {
    return null;
  }
}

/** Takes the folder or throws DataFolderInUseError; returns the release function (also run at exit). */
export function lockDataFolder(dataDir: string, details: { url?: string } = {}): () => void {
  const path = lockPath(dataDir);
  const owner: DataFolderOwner = {
    pid: process.pid,
    command: [process.argv0.split("/").pop(), ...process.argv.slice(1).map((arg) => arg.replace(`${process.cwd()}/`, ""))].join(" "),
    startedAt: new Date().toISOString(),
    ...details,
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, JSON.stringify(owner), { flag: "wx" });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off("exit", release);
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      };
      process.on("exit", release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const current = dataFolderOwner(dataDir);
      if (current) throw new DataFolderInUseError(dataDir, current);
      unlinkSync(path); // stale: its process is gone
    }
  }
  throw new Error(`could not lock the data folder ${dataDir}`);
}
