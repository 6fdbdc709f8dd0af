/**
 * Checks the architecture's boundaries; exits non-zero on any violation.
 *
 *   bun scripts/check-boundaries.ts                                         # this repository
 *   bun scripts/check-boundaries.ts --root tests/fixtures/boundary-violation  # another tree
 *
 * 1. The module graph (modules/dependency-graph.json) is well formed and acyclic, and declares every module folder.
 * 2. dependency-cruiser with .dependency-cruiser.cjs (rules generated from that graph) over apps, modules, db, scripts, tests.
 * 3. Query building and SQL under modules/ live only in `repository.ts` / `*.repository.ts` (colocated `*.test.ts` exempt).
 * 4. No cast to `Tx` under modules/: a row lock is taken only inside a transaction (db/unit-of-work.ts). `Db` and `Tx`
 *    are disjoint types, so `db as Tx` does not compile; a `Db | Tx` narrows on `isTransaction`, so no cast is needed.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const repoRoot = resolve(import.meta.dir, "..");
const configFile = join(repoRoot, ".dependency-cruiser.cjs");
// Run dependency-cruiser's CLI under Bun: its v18 wants Node 22, and Bun is what we have everywhere.
const cruiserBin = join(repoRoot, "node_modules/dependency-cruiser/bin/dependency-cruiser.mjs");
const sourceDirs = ["apps", "modules", "db", "scripts", "tests"];

export interface Violation {
  rule: string;
  where: string;
  detail?: string;
}

export function format(v: Violation): string {
  return `  ✖ ${v.rule}: ${v.where}${v.detail ? `\n      ${v.detail}` : ""}`;
}

// ---------------------------------------------------------------------------------------------
// 1. The declared graph

export function readGraph(root: string): Record<string, string[]> {
  const file = join(root, "modules/dependency-graph.json");
  const graph: unknown = JSON.parse(readFileSync(file, "utf8"));
  const valid =
    typeof graph === "object" &&
    graph !== null &&
    !Array.isArray(graph) &&
    Object.values(graph).every((deps) => Array.isArray(deps) && deps.every((d) => typeof d === "string"));
  if (!valid) throw new Error(`${file}: expected { "module": ["dependency", ...], ... }`);
  return graph as Record<string, string[]>;
}

export function checkGraph(root: string, graph: Record<string, string[]>): Violation[] {
  const violations: Violation[] = [];
  for (const [name, deps] of Object.entries(graph)) {
    for (const dep of deps) {
      if (!(dep in graph)) violations.push({ rule: "graph-unknown-module", where: `${name} → ${dep}`, detail: `"${dep}" is not a module in the graph` });
    }
  }
  // Module folders must be declared: an undeclared module would be checked by no graph rule.
  const modulesDir = join(root, "modules");
  for (const entry of readdirSync(modulesDir, { withFileTypes: true })) {
    if (entry.isDirectory() && !(entry.name in graph)) {
      violations.push({ rule: "graph-undeclared-module", where: `modules/${entry.name}/`, detail: "add it to modules/dependency-graph.json" });
    }
  }
  // An acyclic graph plus "import only what the graph allows" means no cycle between modules, even type-only.
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      const cycle = [...path.slice(path.indexOf(name)), name];
      violations.push({ rule: "graph-cycle", where: cycle.join(" → "), detail: "the declared module graph must be acyclic" });
      return;
    }
    state.set(name, "visiting");
    for (const dep of graph[name] ?? []) if (dep in graph) visit(dep, [...path, name]);
    state.set(name, "done");
  };
  for (const name of Object.keys(graph)) visit(name, []);
  return violations;
}

// ---------------------------------------------------------------------------------------------
// 2. dependency-cruiser

interface CruiseResult {
  modules: { source: string; dependencies: unknown[] }[];
  summary: {
    totalCruised: number;
    totalDependenciesCruised: number;
    violations: { from: string; to: string; rule: { name: string }; cycle?: { name: string }[] }[];
    ruleSetUsed: { forbidden?: { name: string; comment?: string }[] };
  };
}

export interface CruiseReport {
  modules: number;
  dependencies: number;
  violations: Violation[];
}

export function cruise(root: string): CruiseReport {
  const dirs = sourceDirs.filter((dir) => existsSync(join(root, dir)));
  // Rule paths are relative to the working directory, so dependency-cruiser runs from `root`.
  const run = Bun.spawnSync([process.execPath, cruiserBin, "--config", configFile, "--output-type", "json", "--progress", "none", ...dirs], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
  });
  const output = run.stdout.toString();
  if (!output.trim().startsWith("{")) {
    throw new Error(`dependency-cruiser failed (exit ${run.exitCode}):\n${run.stderr.toString()}${output}`);
  }
  const result = JSON.parse(output) as CruiseResult;
  const comments = new Map((result.summary.ruleSetUsed.forbidden ?? []).map((rule) => [rule.name, rule.comment]));
  // A missing TypeScript (or a TypeScript without its JS API) makes dependency-cruiser skip .ts files silently.
  const tsModules = result.modules.filter((m) => m.source.endsWith(".ts") && !m.source.includes("node_modules/"));
  if (tsModules.length === 0 || tsModules.every((m) => m.dependencies.length === 0)) {
    throw new Error("dependency-cruiser cruised no TypeScript dependencies: is the `typescript` package (with its JS API, ^6) installed?");
  }
  return {
    modules: result.summary.totalCruised,
    dependencies: result.summary.totalDependenciesCruised,
    violations: result.summary.violations.map((v) => ({
      rule: v.rule.name,
      where: v.cycle ? `${v.from} → ${v.cycle.map((step) => step.name).join(" → ")}` : `${v.from} → ${v.to}`,
      detail: comments.get(v.rule.name),
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// 3. SQL only in repositories

const sqlPatterns: [RegExp, string][] = [
  [/\.(selectFrom|insertInto|updateTable|deleteFrom)\(/, "query builder"],
  [/\bsql\s*(`|<)/, "sql template tag"],
  [/\bsql\.(raw|ref|lit|id|join|table|val)\(/, "sql helper"],
];

const isRepository = (file: string) => /(^|\/|\.)repository\.ts$/.test(file);
const isTest = (file: string) => file.endsWith(".test.ts");

function listTsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => join(dir, file));
}

export function checkSql(root: string): Violation[] {
  const violations: Violation[] = [];
  for (const file of listTsFiles(join(root, "modules"))) {
    const path = relative(root, file);
    if (isRepository(path) || isTest(path)) continue;
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, index) => {
        // Comment lines (JSDoc, `//`) may talk about queries; code is what counts.
        const code = line.trimStart();
        if (code.startsWith("//") || code.startsWith("*") || code.startsWith("/*")) return;
        for (const [pattern, what] of sqlPatterns) {
          const match = pattern.exec(line);
          if (match) {
            violations.push({
              rule: "sql-outside-repository",
              where: `${path}:${index + 1} ${what} "${match[0]}"`,
              detail: "build queries only in repository.ts or *.repository.ts",
            });
          }
        }
      });
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------
// 4. No casts to Tx

export function checkTxCasts(root: string): Violation[] {
  const violations: Violation[] = [];
  for (const file of listTsFiles(join(root, "modules"))) {
    const path = relative(root, file);
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, index) => {
        const code = line.trimStart();
        if (code.startsWith("//") || code.startsWith("*") || code.startsWith("/*")) return;
        if (/\bas\s+Tx\b/.test(line)) {
          violations.push({
            rule: "cast-to-tx",
            where: `${path}:${index + 1}`,
            detail: "take a Tx parameter, or narrow a Db | Tx on `isTransaction`: a cast lets a lock type-check outside a transaction",
          });
        }
      });
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------

export function checkBoundaries(root: string): { ok: boolean; lines: string[] } {
  const lines: string[] = [`Checking boundaries in ${relative(process.cwd(), root) || "."}`];
  const graph = readGraph(root);
  const graphViolations = checkGraph(root, graph);
  lines.push(`module graph: ${Object.keys(graph).length} modules declared, ${graphViolations.length} violations`, ...graphViolations.map(format));

  const report = cruise(root);
  lines.push(
    `dependency-cruiser: cruised ${report.modules} modules, ${report.dependencies} dependencies, ${report.violations.length} violations`,
    ...report.violations.map(format),
  );

  const sqlViolations = checkSql(root);
  lines.push(`sql outside repositories: ${sqlViolations.length} violations`, ...sqlViolations.map(format));

  const castViolations = checkTxCasts(root);
  lines.push(`casts to Tx: ${castViolations.length} violations`, ...castViolations.map(format));

  const total = graphViolations.length + report.violations.length + sqlViolations.length + castViolations.length;
  lines.push(total === 0 ? "✔ boundaries hold" : `✖ ${total} boundary violations`);
  return { ok: total === 0, lines };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const rootFlag = args.indexOf("--root");
  const rootArg = rootFlag >= 0 ? args[rootFlag + 1] : args.find((arg) => arg.startsWith("--root="))?.slice("--root=".length);
  if (rootFlag >= 0 && !rootArg) {
    console.error("usage: bun scripts/check-boundaries.ts [--root DIR]");
    process.exit(2);
  }
  try {
    const { ok, lines } = checkBoundaries(resolve(rootArg ?? repoRoot));
    console.log(lines.join("\n"));
    process.exit(ok ? 0 : 1);
  } catch (error) {
    console.error(`check-boundaries: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
}
