/**
 * The boundary check (scripts/check-boundaries.ts) really checks: on a fixture that breaks every rule it fails
 * and names each violation; on this repository it passes. Runs the script as CI does, in its own process.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const repoRoot = join(import.meta.dir, "../..");

function runCheck(...args: string[]): { exitCode: number; output: string } {
  const run = Bun.spawnSync([process.execPath, "scripts/check-boundaries.ts", ...args], { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  return { exitCode: run.exitCode, output: run.stdout.toString() + run.stderr.toString() };
}

describe("boundary check on tests/fixtures/boundary-violation", () => {
  const { exitCode, output } = runCheck("--root", "tests/fixtures/boundary-violation");

  test("fails", () => {
    expect(exitCode).toBe(1);
    expect(output).toContain("✖ 19 boundary violations");
  });

  test("really cruises the TypeScript files", () => {
    const cruised = /cruised (\d+) modules, (\d+) dependencies/.exec(output);
    expect(Number(cruised?.[1])).toBeGreaterThan(0);
    expect(Number(cruised?.[2])).toBeGreaterThan(0);
  });

  test.each([
    // the declared graph
    "graph-unknown-module: gamma → ghost",
    "graph-undeclared-module: modules/omega/",
    "graph-cycle: ping → pong → ping",
    // (a) only another module's index.ts, and only along the graph
    "module-deep-import: modules/alpha/service.ts → modules/beta/internal.ts",
    "not-in-dependency-graph:beta: modules/beta/service.ts → modules/gamma/index.ts",
    // (b) runtime cycles
    "no-circular: modules/gamma/a.ts → modules/gamma/b.ts → modules/gamma/a.ts",
    // (b') apps/server reads one way, type-only imports included
    "no-circular-server: apps/server/compose.ts → apps/server/router.ts → apps/server/compose.ts",
    // (c), (d) layering
    "db-imports-no-modules-or-apps: db/index.ts → modules/alpha/index.ts",
    "modules-import-no-apps: modules/gamma/index.ts → apps/server/main.ts",
    // (e) the client sees the server's types only
    "client-imports-server-index-only: apps/client/index.ts → apps/server/main.ts",
    "client-imports-server-types-only: apps/client/index.ts → apps/server/index.ts",
    // (f) outside code goes through index.ts
    "outside-deep-import: apps/server/index.ts → modules/beta/internal.ts",
    "not-to-unresolvable: apps/client/index.ts → ./missing.ts",
    // (g), (h) schema files are pure input contracts, and all the web pages may see of modules
    "schema-imports-only-schemas: modules/beta/schema.ts → modules/beta/service.ts",
    "web-imports-module-schemas-only: apps/web/storefront/main.ts → modules/beta/index.ts",
    // SQL only in repositories
    'sql-outside-repository: modules/beta/service.ts:9 query builder ".selectFrom("',
    'sql-outside-repository: modules/beta/service.ts:11 sql template tag "sql`"',
    // no casts to Tx
    "cast-to-tx: modules/beta/locks.repository.ts:6",
  ])("reports %s", (violation) => {
    expect(output).toContain(`✖ ${violation}\n`);
  });

  test("reports transport-only-in-kernel-adapter: a module's service importing @trpc/server", () => {
    expect(output).toMatch(/✖ transport-only-in-kernel-adapter: modules\/alpha\/service\.ts → \S*node_modules\/@trpc\/server\//);
  });

  test.each([
    ["SQL in repository.ts", "modules/beta/repository.ts"],
    ["SQL in *.repository.ts", "modules/beta/rows.repository.ts"],
    ["SQL in a colocated test", "modules/alpha/alpha.test.ts"],
    ["a type-only cycle", "modules/gamma/shapes.ts"],
    ["an import of another module's index.ts along the graph", "modules/alpha/service.ts → modules/beta/index.ts"],
    ["the web pages importing a module's schema file", "apps/web/storefront/main.ts → modules/alpha/schema.ts"],
  ])("allows %s", (_, where) => {
    expect(output).not.toContain(where);
  });
});

describe("boundary check on this repository", () => {
  test("passes", () => {
    const { exitCode, output } = runCheck();
    // On failure the message shows the violations.
    expect({ exitCode, output }).toMatchObject({ exitCode: 0, output: expect.stringContaining("✔ boundaries hold") });
    expect(output).toMatch(/cruised [1-9]\d* modules, [1-9]\d* dependencies, 0 violations/);
  });
});
