/**
 * @agora/client from outside the workspace: build it (bundled AppRouter declarations), pack it,
 * install the tarball into a copy of tests/fixtures/client-consumer in a temp folder, and type-check
 * calls there with the consumer's own tsconfig. No server source is reachable from that folder.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const repoRoot = new URL("../..", import.meta.url).pathname;
const packageDir = join(repoRoot, "packages/client");
const consumer = mkdtempSync(join(tmpdir(), "agora-client-consumer-"));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

function run(command: string[], cwd: string) {
  const result = Bun.spawnSync(command, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NODE_ENV: "development" } });
  return { exitCode: result.exitCode, output: `${result.stdout.toString()}${result.stderr.toString()}` };
}

beforeAll(() => {
  // The build type-checks the server's whole graph (a minute of CPU): skip it when dist is newer than every source.
  const dts = join(packageDir, "dist/index.d.ts");
  const sources = Math.max(...["apps/server", "modules", "db", "packages/client/src"].map((dir) => newestMtime(join(repoRoot, dir))));
  if (!existsSync(dts) || statSync(dts).mtimeMs < sources) {
    const build = run([process.execPath, "build.ts"], packageDir);
    if (build.exitCode !== 0) throw new Error(`build failed:\n${build.output}`);
  }
  cpSync(join(repoRoot, "tests/fixtures/client-consumer"), consumer, { recursive: true });
  const pack = run([process.execPath, "pm", "pack", "--ignore-scripts", "--filename", join(consumer, "agora-client.tgz")], packageDir);
  if (pack.exitCode !== 0) throw new Error(`pack failed:\n${pack.output}`);
  const install = run([process.execPath, "install", "--no-save"], consumer);
  if (install.exitCode !== 0) throw new Error(`install failed:\n${install.output}`);
}, 900_000);
afterAll(() => rmSync(consumer, { recursive: true, force: true }));

test("the packed package ships its own declarations and no server source", () => {
  const installed = join(consumer, "node_modules/@agora/client");
  expect(readdirSync(join(installed, "dist")).sort()).toEqual(["index.d.ts", "index.js"]);
  expect(existsSync(join(installed, "src"))).toBe(false);
});

// index.ts holds @ts-expect-error lines too: types that went `any` would fail the check.
test("a project outside the workspace type-checks calls through the package", () => {
  const tsc = run([process.execPath, join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], consumer);
  expect(tsc.output).toBe("");
  expect(tsc.exitCode).toBe(0);
}, 120_000);
