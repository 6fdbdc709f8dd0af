/**
 * The embedded default as a newcomer meets it (README's order): the server on a PGlite folder,
 * then `bun run seed` while it runs. The seed goes through the running server, which owns the
 * folder; a second process on the same folder is refused with one line naming the owner.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAgoraClient } from "../../apps/client/index.ts";
import { type ServerProcess, startServerProcess } from "../support/server-process.ts";

const repoRoot = new URL("../..", import.meta.url).pathname;
const dataRoot = mkdtempSync(join(tmpdir(), "agora-embedded-"));
const env = {
  DATA_DIR: join(dataRoot, "data"),
  ADMIN_EMAIL: "owner@example.com",
  ADMIN_PASSWORD: "owner-password-1",
  // Fast argon2id: the seed signs customers up through the server.
  PASSWORD_MEMORY_COST: "256",
  PASSWORD_TIME_COST: "1",
  LOG_LEVEL: "warn",
};
let server: ServerProcess;

beforeAll(async () => {
  server = await startServerProcess({ env, readyTimeoutMs: 180_000 });
}, 200_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
}, 60_000);

async function run(command: string[], extraEnv: Record<string, string> = {}) {
  const child = Bun.spawn(command, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env, ...extraEnv },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { stdout, stderr, exitCode };
}

describe("the embedded server owns its data folder", () => {
  test("`bun run seed` while the server runs seeds through it, as the configured admin", async () => {
    const seed = await run([process.execPath, "scripts/seed.ts"], { SEED_PRODUCTS: "12", SEED_CUSTOMERS: "2" });
    expect(seed.exitCode).toBe(0);
    expect(seed.stdout).toContain(`seeding the running server at ${server.url}`);
    expect(seed.stdout).toContain("products: 12/12");
    expect(seed.stdout).not.toContain("admin@agora.local");

    const client = createAgoraClient({ url: server.url });
    const keyboards = await client.catalog.search.query({ query: "키보드", limit: 10 });
    expect(keyboards.items.length).toBeGreaterThanOrEqual(2);
    expect((await client.catalog.search.query({ query: "Keyboard", limit: 10 })).items.length).toBeGreaterThanOrEqual(1);
    const { token } = await client.identity.login.mutate({ email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD });
    const admin = createAgoraClient({ url: server.url, token });
    expect((await admin.catalog.admin.list.query({ limit: 50 })).items).toHaveLength(12);
    expect((await admin.identity.me.query()).role).toBe("admin");

    // Again: nothing doubles, nothing fails.
    const again = await run([process.execPath, "scripts/seed.ts"], { SEED_PRODUCTS: "12", SEED_CUSTOMERS: "2" });
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain("already has products");
  }, 240_000);

  test("a second server on the same folder is refused with one line naming the owner", async () => {
    const second = await startServerProcess({ env, waitForReady: false });
    await second.process.exited;
    expect(second.process.exitCode).toBe(1);
    const lines = second.output().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^agora: the data folder .* is in use by process ${server.process.pid} \\(.*main\\.ts at ${server.url}`));
  }, 120_000);

  test("after a restart the seeded products are still there", async () => {
    await server.stop();
    server = await startServerProcess({ env, readyTimeoutMs: 180_000 });
    const page = await createAgoraClient({ url: server.url }).catalog.search.query({ query: "키보드", limit: 10 });
    expect(page.items.length).toBeGreaterThanOrEqual(2);
  }, 240_000);
});
