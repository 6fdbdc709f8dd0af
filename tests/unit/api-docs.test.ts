/**
 * docs/api.md stays the reference of the router it describes. The router is built without a database
 * (createAppRouter only captures its services), and the test checks that every procedure has its
 * "### `path`" section and every such section names a live procedure, that each section's kind, access
 * level and "may be omitted" input match the procedure, and that the error catalogue table and every
 * domain code the document names agree with the codes the modules declare (every `defineErrors` set a
 * module's index.ts exports) and the edge's mapping of their kinds.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import { envSchema } from "../../apps/server/config.ts";
import { createAppRouter } from "../../apps/server/router.ts";
import {
  createCallerFactory,
  createLogger,
  DomainError,
  domainErrorOf,
  type ErrorDefinition,
  isErrorSet,
  type RequestContext,
  type Session,
  toTrpcError,
  trpcCodeOfKind,
} from "../../modules/kernel/index.ts";
import { createOutboxRouter } from "../../modules/outbox/index.ts";

const repoRoot = join(import.meta.dir, "../..");
const doc = readFileSync(join(repoRoot, "docs/api.md"), "utf8");

// ── the router, without a database ──────────────────────────────────────────

/** A service whose every method throws: procedures that get past their access check touch nothing real. */
function standIn(name: string): unknown {
  return new Proxy(
    {},
    {
      get: (_target, key) =>
        typeof key === "symbol" || key === "then"
          ? undefined
          : () => {
              throw new Error(`stand-in ${name}.${key} was called`);
            },
    },
  );
}

const services = new Proxy({}, { get: (_target, key) => (typeof key === "symbol" ? undefined : standIn(String(key))) }) as never;
const router = createAppRouter(services, createOutboxRouter({} as never, {} as never));

interface ProcedureDef {
  type: "query" | "mutation" | "subscription";
  inputs: unknown[];
}

/** tRPC v11 keeps `_def.procedures` as a flat record keyed by the full dotted path (typed as the nested record). */
const procedures = router._def.procedures as unknown as Record<string, { _def: ProcedureDef }>;
const procedurePaths = Object.keys(procedures).sort();

/** Every code every module declares: the error sets its index.ts exports. */
const declared: ErrorDefinition[] = [];
for (const folder of readdirSync(join(repoRoot, "modules"), { withFileTypes: true })) {
  if (!folder.isDirectory()) continue;
  const exports: Record<string, unknown> = await import(join(repoRoot, "modules", folder.name, "index.ts"));
  for (const value of Object.values(exports)) if (isErrorSet(value)) declared.push(...Object.values(value));
}
const catalogue: Record<string, ErrorDefinition> = Object.fromEntries(declared.map((definition) => [definition.code, definition]));
const domainCodes = new Set(Object.keys(catalogue));
const documentedCodes = new Set([...domainCodes, "VALIDATION_FAILED"]);

// ── the document ────────────────────────────────────────────────────────────

/** Fenced code blocks (also indented ones inside list items) removed: headings and fields live outside them. */
const prose = doc.replace(/^[ \t]*```[\s\S]*?^[ \t]*```[ \t]*$/gm, "");

interface Section {
  path: string;
  body: string;
}

const sections: Section[] = [];
{
  let current: Section | null = null;
  for (const line of prose.split("\n")) {
    const heading = /^### `([^`]+)`\s*$/.exec(line);
    if (heading?.[1]) {
      current = { path: heading[1], body: "" };
      sections.push(current);
    } else if (line.startsWith("#")) {
      current = null;
    } else if (current) {
      current.body += `${line}\n`;
    }
  }
}
const sectionByPath = new Map(sections.map((s) => [s.path, s]));

/** The text of a "- **Name:** …" bullet, continuation lines included. */
function field(section: Section, name: string): string | null {
  const lines = section.body.split("\n");
  const start = lines.findIndex((line) => line.startsWith(`- **${name}:**`));
  if (start < 0) return null;
  const parts = [(lines[start] ?? "").slice(`- **${name}:**`.length)];
  for (const line of lines.slice(start + 1)) {
    if (!/^\s{2,}\S/.test(line)) break;
    parts.push(line);
  }
  return parts.join(" ").replace(/\s+/g, " ").trim();
}

const upperCode = /`([A-Z][A-Z0-9_]{2,})`/g;
const codesIn = (text: string) => [...text.matchAll(upperCode)].map((m) => m[1] as string);

// ── access levels, observed ─────────────────────────────────────────────────

const customerSession: Session = { userId: 1, role: "customer", tokenHash: "api-docs-test", expiresAt: new Date(Date.now() + 3_600_000) };

function contextFor(session: Session | null): RequestContext {
  return { requestId: "api-docs-test", ip: null, session, log: createLogger("silent"), metrics: null };
}

/** The domain code a call with no input answers, or null (success, validation, or a stand-in service saying it was reached). */
async function refusalOf(path: string, session: Session | null): Promise<string | null> {
  let node: unknown = createCallerFactory(router)(contextFor(session));
  for (const key of path.split(".")) node = (node as Record<string, unknown>)[key];
  try {
    await (node as (input?: unknown) => Promise<unknown>)(undefined);
    return null;
  } catch (error) {
    return domainErrorOf(error)?.domainCode ?? null;
  }
}

/** Public unless an anonymous call is refused with UNAUTHENTICATED; admin if a customer's is refused with FORBIDDEN. */
async function accessOf(path: string): Promise<"public" | "customer" | "admin"> {
  if ((await refusalOf(path, null)) !== "UNAUTHENTICATED") return "public";
  return (await refusalOf(path, customerSession)) === "FORBIDDEN" ? "admin" : "customer";
}

async function acceptsNoInput(parser: unknown): Promise<boolean> {
  const standard = (parser as { "~standard"?: { validate(value: unknown): unknown } })["~standard"];
  if (!standard) throw new Error("an input parser without the Standard Schema interface");
  const result = (await standard.validate(undefined)) as { issues?: unknown };
  return !result.issues;
}

// ── the tests ───────────────────────────────────────────────────────────────

describe("the router as the test reads it", () => {
  test("_def.procedures is a flat record of procedures keyed by dotted path", () => {
    expect(procedurePaths.length).toBeGreaterThan(50);
    expect(procedurePaths).toContain("ping");
    expect(procedurePaths).toContain("orders.place");
    expect(procedurePaths).toContain("catalog.admin.create");
    expect(procedurePaths).toContain("outbox.admin.retry");
    for (const path of procedurePaths) {
      expect(typeof procedures[path]).toBe("function");
      expect(["query", "mutation", "subscription"]).toContain(procedures[path]?._def.type ?? "missing");
    }
  });
});

describe("docs/api.md: one section per procedure", () => {
  test("every procedure has a ### `path` heading", () => {
    const undocumented = procedurePaths.filter((path) => !sectionByPath.has(path));
    expect(undocumented).toEqual([]);
  });

  test("every ### `path` heading names an existing procedure, once", () => {
    const stale = sections.map((s) => s.path).filter((path) => !(path in procedures));
    expect(stale).toEqual([]);
    const seen = new Set<string>();
    const duplicates = sections.map((s) => s.path).filter((path) => seen.has(path) || !seen.add(path));
    expect(duplicates).toEqual([]);
  });

  test("each section states the procedure's kind", () => {
    const wrong = procedurePaths.flatMap((path) => {
      const section = sectionByPath.get(path);
      const kind = section ? /\*\*Kind:\*\* (\w+)/.exec(section.body)?.[1] : undefined;
      return section && kind !== procedures[path]?._def.type ? [`${path}: documented ${kind ?? "nothing"}, is ${procedures[path]?._def.type}`] : [];
    });
    expect(wrong).toEqual([]);
  });

  test("each section states who may call the procedure, as the procedure enforces it", async () => {
    const wrong: string[] = [];
    for (const path of procedurePaths) {
      const section = sectionByPath.get(path);
      if (!section) continue;
      const documented = /\*\*Access:\*\* (\w+)/.exec(section.body)?.[1];
      const actual = await accessOf(path);
      if (documented !== actual) wrong.push(`${path}: documented ${documented ?? "nothing"}, is ${actual}`);
    }
    expect(wrong).toEqual([]);
  });

  test("inputs: 'none' exactly when there is none, '(may be omitted)' exactly when undefined is accepted", async () => {
    const wrong: string[] = [];
    for (const path of procedurePaths) {
      const section = sectionByPath.get(path);
      if (!section) continue;
      const input = field(section, "Input");
      const parsers = procedures[path]?._def.inputs ?? [];
      const optional = parsers.length > 0 && (await Promise.all(parsers.map(acceptsNoInput))).every(Boolean);
      if (input === null) wrong.push(`${path}: no Input line`);
      else if (parsers.length === 0 && input !== "none") wrong.push(`${path}: takes no input, documented "${input.slice(0, 40)}"`);
      else if (parsers.length > 0 && input === "none") wrong.push(`${path}: takes input, documented none`);
      else if (optional !== input.includes("may be omitted")) wrong.push(`${path}: input may${optional ? "" : " not"} be omitted`);
    }
    expect(wrong).toEqual([]);
  });

  test("each section has Output and Errors lines, and its Errors name only catalogue codes", () => {
    const wrong = sections.flatMap((section) => {
      const problems: string[] = [];
      if (field(section, "Output") === null) problems.push(`${section.path}: no Output line`);
      const errors = field(section, "Errors");
      if (errors === null) problems.push(`${section.path}: no Errors line`);
      else {
        const codes = codesIn(errors);
        if (codes.length === 0 && !errors.startsWith("none")) problems.push(`${section.path}: Errors is neither codes nor "none"`);
        for (const code of codes) if (!documentedCodes.has(code)) problems.push(`${section.path}: unknown domain code ${code}`);
      }
      return problems;
    });
    expect(wrong).toEqual([]);
  });
});

describe("docs/api.md: the error catalogue table", () => {
  const start = doc.indexOf("\n## Error catalogue");
  const end = doc.indexOf("\n## ", start + 1);
  const rows = doc
    .slice(start, end)
    .split("\n")
    .filter((line) => line.startsWith("| `"))
    .map((line) => line.split("|").map((cell) => cell.trim().replace(/`/g, "")));

  test("the table exists", () => {
    expect(start).toBeGreaterThan(0);
    expect(rows.length).toBeGreaterThan(0);
  });

  test("no two modules declare the same code", () => {
    const codes = declared.map((definition) => definition.code);
    expect(codes.length).toBeGreaterThan(40);
    expect(codes.filter((code, i) => codes.indexOf(code) !== i)).toEqual([]);
  });

  test("every domain code the modules declare has a row, and every row a known code, once", () => {
    const listed = rows.map((cells) => cells[1] ?? "");
    expect([...domainCodes].filter((code) => !listed.includes(code))).toEqual([]);
    expect(listed.filter((code) => !documentedCodes.has(code))).toEqual([]);
    expect(listed.filter((code, i) => listed.indexOf(code) !== i)).toEqual([]);
  });

  test("each row's tRPC code, HTTP status and ref are the catalogue's", () => {
    const wrong = rows.flatMap(([, code = "", trpc, http, ref]) => {
      if (code === "VALIDATION_FAILED") return trpc === "BAD_REQUEST" && http === "400" ? [] : [`${code}: ${trpc} ${http}`];
      const entry = catalogue[code];
      if (!entry) return [];
      const expected = [trpcCodeOfKind[entry.kind], String(getHTTPStatusCodeFromError(toTrpcError(new DomainError(entry, {})))), entry.ref ?? "—"];
      return [trpc, http, ref].join(" ") === expected.join(" ") ? [] : [`${code}: documented ${[trpc, http, ref].join(" ")}, is ${expected.join(" ")}`];
    });
    expect(wrong).toEqual([]);
  });
});

describe("docs/api.md: every code it names exists", () => {
  /** Backticked upper-case words that are not domain codes but may appear: tRPC codes, HTTP methods, environment variables. */
  // Every setting: the environment schema declares each variable once.
  const envNames = Object.keys(envSchema.shape);
  const allowed = new Set([...documentedCodes, ...Object.keys(TRPC_ERROR_CODES_BY_KEY), "GET", "POST", ...envNames]);

  test("every backticked UPPER_SNAKE code is a catalogue code, VALIDATION_FAILED, a tRPC code or a setting", () => {
    expect([...new Set(codesIn(prose))].filter((code) => !allowed.has(code))).toEqual([]);
  });

  test('every "domainCode" in an example is a catalogue code or VALIDATION_FAILED', () => {
    const examples = [...doc.matchAll(/"domainCode":\s*"([^"]+)"/g)].map((m) => m[1] ?? "");
    expect(examples.length).toBeGreaterThan(0);
    expect(examples.filter((code) => !documentedCodes.has(code))).toEqual([]);
  });
});
