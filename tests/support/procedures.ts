/**
 * The router, as the fuzz and authorization suites walk it: every procedure enumerated from the
 * router itself (tRPC v11 keeps `_def.procedures` as a flat record keyed by dotted path), what its
 * input schema looks like (zod 4's `_zod.def`), a plausible value for it, and the server's own
 * verdict on an input before it is sent (the transformer's guard, then the procedure's parser).
 */
import superjson from "superjson";
import type { AppRouter } from "../../apps/server/router.ts";
import { envelopeViolation, inputViolations } from "../../modules/kernel/index.ts";

export interface ProcedureInfo {
  path: string;
  type: "query" | "mutation" | "subscription";
  /** The input parser (zod), or null for none. */
  input: ZodLike | null;
}

export interface ZodLike {
  _zod: { def: ZodDef };
  safeParseAsync(value: unknown): Promise<{ success: boolean }>;
  minValue?: number | null;
  maxValue?: number | null;
  minLength?: number | null;
  maxLength?: number | null;
}

interface ZodDef {
  type: string;
  shape?: Record<string, ZodLike>;
  innerType?: ZodLike;
  in?: ZodLike;
  options?: ZodLike[];
  element?: ZodLike;
  entries?: Record<string, string | number>;
  values?: unknown[];
  format?: string;
}

export function proceduresOf(router: AppRouter): ProcedureInfo[] {
  const record = router._def.procedures as unknown as Record<string, { _def: { type: ProcedureInfo["type"]; inputs: ZodLike[] } }>;
  return Object.entries(record)
    .map(([path, procedure]) => ({ path, type: procedure._def.type, input: procedure._def.inputs[0] ?? null }))
    .sort((a, b) => a.path.localeCompare(b.path));
}

/** Strips optional/default/prefault/nullable/pipe wrappers. */
export function unwrap(schema: ZodLike): ZodLike {
  let current = schema;
  for (let i = 0; i < 20; i++) {
    const def = current._zod.def;
    if (def.innerType && ["optional", "nullable", "default", "prefault", "readonly", "catch", "nonoptional"].includes(def.type)) current = def.innerType;
    else if (def.type === "pipe" && def.in) current = def.in;
    else return current;
  }
  return current;
}

/** The fields of an object input (after unwrapping), or null when the input is not an object. */
export function fieldsOf(schema: ZodLike | null): Record<string, ZodLike> | null {
  if (!schema) return null;
  const inner = unwrap(schema);
  return inner._zod.def.type === "object" ? (inner._zod.def.shape ?? {}) : null;
}

/** Whether a field may be left out. */
export function isOptional(schema: ZodLike): boolean {
  return ["optional", "default", "prefault"].includes(schema._zod.def.type);
}

/** A value of the right type and within simple bounds; refinements may still refuse it. */
export function plausible(schema: ZodLike, depth = 0): unknown {
  const inner = unwrap(schema);
  const def = inner._zod.def;
  switch (def.type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(def.shape ?? {})) if (!isOptional(field) && depth < 6) out[key] = plausible(field, depth + 1);
      return out;
    }
    case "string": {
      if (def.format === "email") return "fuzz@example.com";
      if (def.format === "uuid" || def.format === "guid") return "00000000-0000-4000-8000-000000000000";
      if (def.format === "datetime") return "2026-11-21T09:00:00Z";
      if (def.format === "date") return "2026-11-21";
      const min = inner.minLength ?? 0;
      return "fuzz-value-1234".padEnd(min, "x").slice(0, inner.maxLength ?? 1000);
    }
    case "number": {
      const min = inner.minValue ?? 1;
      return Math.min(Math.max(1, Number.isFinite(min) ? min : 1), Number.isFinite(inner.maxValue ?? Number.NaN) ? (inner.maxValue as number) : 1);
    }
    case "boolean":
      return false;
    case "enum":
      return Object.values(def.entries ?? {})[0];
    case "literal":
      return def.values?.[0];
    case "array":
      return def.element && depth < 6 ? [plausible(def.element, depth + 1)] : [];
    case "union":
      return def.options?.[0] ? plausible(def.options[0], depth + 1) : undefined;
    case "date":
      return new Date("2026-11-21T09:00:00Z");
    default:
      return undefined;
  }
}

/** The wire text of an input exactly as the typed client sends it (superjson's envelope, JSON). */
export function wireOf(input: unknown): string {
  return JSON.stringify(superjson.serialize(input));
}

/** Would the server accept this wire input for this procedure? The guard, then the parser. */
export async function serverAccepts(procedure: ProcedureInfo, wire: string | undefined): Promise<boolean> {
  const raw = wire === undefined ? undefined : JSON.parse(wire);
  if (envelopeViolation(raw) || (raw !== undefined && inputViolations(raw).length > 0)) return false;
  // tRPC decodes an absent input as undefined (and ignores it for a procedure without a parser).
  const value = raw === undefined ? undefined : superjson.deserialize(raw);
  if (!procedure.input) return true;
  return (await procedure.input.safeParseAsync(value)).success;
}

/** Every table of the public schema with its row count and a checksum of all its rows. */
export async function tableFingerprints(db: import("../../db/index.ts").Db): Promise<Record<string, string>> {
  const { sql } = await import("kysely");
  const tables = await sql<{ name: string }>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`.execute(db);
  const out: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const row = await sql<{ n: string; sum: string | null }>`
      SELECT count(*)::text AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS sum FROM ${sql.table(name)} t`.execute(db);
    out[name] = `${row.rows[0]?.n} rows, ${row.rows[0]?.sum ?? "empty"}`;
  }
  return out;
}
