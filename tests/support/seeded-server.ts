/**
 * A real server process on its own scratch PostgreSQL database, seeded by `scripts/seed.ts` through
 * its API: what README's quick-start, the examples and the CLI run against.
 */
import { createTestDatabase, type TestDatabase } from "./postgres.ts";
import { type ServerProcess, startServerProcess } from "./server-process.ts";

const repoRoot = new URL("../..", import.meta.url).pathname;

export const seededAdmin = { email: "ops@example.com", password: "ops-password-123" };

export interface SeededServer {
  server: ServerProcess;
  database: TestDatabase;
  url: string;
  /** Environment for child processes that talk to it (scripts, examples, the CLI). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function runProcess(command: string[], env: Record<string, string>, stdin?: string) {
  const child = Bun.spawn(command, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { stdout, stderr, exitCode };
}

export async function startSeededServer(options: { products?: number } = {}): Promise<SeededServer> {
  const database = await createTestDatabase(2);
  const env = {
    DATABASE_URL: database.url,
    ADMIN_EMAIL: seededAdmin.email,
    ADMIN_PASSWORD: seededAdmin.password,
    PASSWORD_MEMORY_COST: "256",
    PASSWORD_TIME_COST: "1",
    LOG_LEVEL: "warn",
    DB_POOL_SIZE: "4",
  };
  const server = await startServerProcess({ env, readyTimeoutMs: 120_000 });
  const clientEnv = { AGORA_URL: server.url, ADMIN_EMAIL: seededAdmin.email, ADMIN_PASSWORD: seededAdmin.password };
  const seed = await runProcess([process.execPath, "scripts/seed.ts"], { ...clientEnv, SEED_PRODUCTS: String(options.products ?? 24), SEED_CUSTOMERS: "2" });
  if (seed.exitCode !== 0) {
    await server.stop();
    await database.drop();
    throw new Error(`seed failed:\n${seed.stdout}${seed.stderr}`);
  }
  return {
    server,
    database,
    url: server.url,
    env: clientEnv,
    async close() {
      await server.stop();
      await database.drop();
    },
  };
}
