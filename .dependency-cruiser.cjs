/**
 * Module boundaries for dependency-cruiser. Run through `bun run check:boundaries`
 * (scripts/check-boundaries.ts), which runs dependency-cruiser under Bun from the root being checked.
 *
 * The rules are generated from `modules/dependency-graph.json`, the one place where the module graph
 * is declared: `{ "orders": ["kernel", "catalog", ...] }` means modules/orders may import those modules.
 * Paths in the rules are relative to the directory dependency-cruiser runs in (the repo root, or a
 * fixture tree in the tests), and the graph is read from there too.
 */
const fs = require("node:fs");
const path = require("node:path");

const root = process.cwd();
/** @type {Record<string, string[]>} */
const graph = JSON.parse(fs.readFileSync(path.join(root, "modules/dependency-graph.json"), "utf8"));

/** A module's input contracts: `modules/<name>/schema.ts` (the kernel's is `schemas.ts`). */
const schemaFile = "^modules/[^/]+/schemas?\\.ts$";

const escapeRegExp = (name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// (a) one rule per declared module: it may import only itself and the modules it lists.
// Modules in the graph without a folder yet simply never match. Folders missing from the graph
// are reported by scripts/check-boundaries.ts.
const graphRules = Object.entries(graph).map(([name, deps]) => ({
  name: `not-in-dependency-graph:${name}`,
  severity: "error",
  comment: `modules/${name} may import only ${deps.length ? deps.map((d) => `modules/${d}`).join(", ") : "itself"} (modules/dependency-graph.json)`,
  from: { path: `^modules/${escapeRegExp(name)}/` },
  to: { path: "^modules/", pathNot: `^modules/(${[name, ...deps].map(escapeRegExp).join("|")})/` },
}));

/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    ...graphRules,
    {
      // (a) another module is used through its public surface only. `$1` is the importing module.
      name: "module-deep-import",
      severity: "error",
      comment: "a module may import another module only through its index.ts",
      from: { path: "^modules/([^/]+)/" },
      to: { path: "^modules/", pathNot: ["^modules/$1/", "^modules/[^/]+/index\\.ts$", schemaFile] },
    },
    {
      // (f) apps, scripts, tests (anything outside modules/) see a module only through its index.ts.
      // Tests colocated in a module folder are under modules/, hence part of that module.
      name: "outside-deep-import",
      severity: "error",
      comment: "code outside modules/ may import a module only through its index.ts",
      from: { pathNot: "^modules/" },
      to: { path: "^modules/", pathNot: ["^modules/[^/]+/index\\.ts$", schemaFile] },
    },
    {
      // (g) a module's schema file is its second public surface, the input contracts: the procedures and the
      // web pages' forms validate with the same zod objects. So it stays pure: zod and other schema files only
      // (type-only imports are erased and may name anything).
      name: "schema-imports-only-schemas",
      severity: "error",
      comment: "a module's schema.ts may import only zod and other modules' schema files (types excepted)",
      from: { path: schemaFile },
      to: { pathNot: [schemaFile, "(^|/)node_modules/zod/"], dependencyTypesNot: ["type-only"] },
    },
    {
      // (h) the browser bundles see modules only through their schema files, never server code.
      name: "web-imports-module-schemas-only",
      severity: "error",
      comment: "apps/web pages may import from modules/ only schema files (the input contracts)",
      from: { path: "^apps/web/(storefront|console|shared)/" },
      to: { path: "^(modules|db)/", pathNot: schemaFile },
    },
    {
      // (b) runtime cycles break module initialisation order. A cycle with a type-only edge is erased
      // at compile time (verbatimModuleSyntax) and is allowed; cycles *between* modules, type-only
      // or not, are impossible anyway: the checker requires dependency-graph.json to be acyclic.
      name: "no-circular",
      severity: "error",
      comment: "circular runtime dependency",
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      // (b') the server's composition runs one way: main → compose → http → rest/openapi → router → services.
      // Here even a type-only cycle is refused: it ties files together that should read top to bottom.
      name: "no-circular-server",
      severity: "error",
      comment: "apps/server imports run one way (main → compose → http → rest/openapi → router → services), type-only imports included",
      from: { path: "^apps/server/" },
      to: { circular: true },
    },
    {
      // (c) the db layer is the bottom: schema, migrations, unit of work.
      name: "db-imports-no-modules-or-apps",
      severity: "error",
      comment: "db/ must not import from modules/ or apps/",
      from: { path: "^db/" },
      to: { path: "^(modules|apps)/" },
    },
    {
      // (d) modules are composed by apps, never the other way around.
      name: "modules-import-no-apps",
      severity: "error",
      comment: "modules/ must not import from apps/",
      from: { path: "^modules/" },
      to: { path: "^apps/" },
    },
    {
      // (e) the client ships to other projects: it may see the server's types, never its code.
      name: "client-imports-server-index-only",
      severity: "error",
      comment: "apps/client may import from apps/server only apps/server/index.ts",
      from: { path: "^apps/client/" },
      to: { path: "^apps/server/", pathNot: "^apps/server/index\\.ts$" },
    },
    {
      name: "client-imports-server-types-only",
      severity: "error",
      comment: "apps/client may import apps/server/index.ts with type-only imports (`import type`) only",
      from: { path: "^apps/client/" },
      to: { path: "^apps/server/index\\.ts$", dependencyTypesNot: ["type-only"] },
    },
    {
      // (g) domain code knows nothing of the transport: services throw DomainError and the edge maps
      // it (modules/kernel/trpc-errors.ts). Under modules/, only the kernel's tRPC adapter speaks tRPC;
      // routers build on its procedures.
      name: "transport-only-in-kernel-adapter",
      severity: "error",
      comment: "under modules/, only modules/kernel/trpc.ts and trpc-errors.ts may import @trpc/server",
      from: { path: "^modules/", pathNot: "^modules/kernel/trpc(-errors)?\\.ts$" },
      to: { path: "(^|/)node_modules/@trpc/server/" },
    },
    {
      // Without this a mistyped or unresolved path would silently escape every rule above.
      name: "not-to-unresolvable",
      severity: "error",
      comment: "import that cannot be resolved to a file",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Keep type-only imports in the graph (rules above look at them; TypeScript would erase them).
    tsPreCompilationDeps: true,
    // Resolve the way tsc does; the root tsconfig also serves fixture trees, which have none.
    tsConfig: { fileName: path.join(__dirname, "tsconfig.json") },
    parser: "tsc",
    doNotFollow: { path: "node_modules" },
    // Packages are resolved through their `exports` (hono/cors, kysely/migration, ...) as Bun does.
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["bun", "import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    // The fixture breaks every rule on purpose; it is checked on its own (as its own root).
    exclude: { path: "^tests/fixtures/boundary-violation/" },
    builtInModules: { add: ["bun", "bun:test", "bun:sqlite", "bun:ffi", "bun:jsc"] },
    skipAnalysisNotInRules: true,
  },
};
