/**
 * zod primitives shared by every module's input schemas: the one input policy.
 *
 * - Text: `singleLineText()` refuses every control character (C0, DEL, C1) and broken UTF-16
 *   (lone surrogates); `multilineText()` allows only newline, carriage return and tab besides.
 *   PostgreSQL cannot store NUL at all (22021), and the rest mean nothing in a name or a reason.
 * - Instants: `instantSchema` takes a Date (superjson) or an ISO-8601 string, nothing else:
 *   no numbers, booleans, nulls or arrays coerced into 1970.
 * - Objects are strict (`z.strictObject`): an unknown key is refused. Prototype keys (`__proto__`,
 *   `constructor`, `prototype`) and NUL anywhere are refused before the input is even decoded
 *   (see `inputViolations`, used by the transformer in trpc.ts), since superjson would drop
 *   `__proto__` silently.
 */
import { z } from "zod";

/** Every C0 control character, DEL and the C1 controls. */
const CONTROL = /\p{Cc}/u;
/** The same, but newline, carriage return and tab are text. */
const CONTROL_BUT_LINE_BREAKS = /(?![\n\r\t])\p{Cc}/u;

/** Half of a surrogate pair without its other half: not a character, and not encodable as UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const refuseIn = (pattern: RegExp) => (value: string) => !pattern.test(value) && !LONE_SURROGATE.test(value);

/** A name, a reason, a query: no control characters at all. Chain `.trim().min().max()` after it. */
export function singleLineText() {
  return z.string().refine(refuseIn(CONTROL), "control characters are not allowed");
}

/** A description: line breaks and tabs allowed, other control characters not. */
export function multilineText() {
  return z.string().refine(refuseIn(CONTROL_BUT_LINE_BREAKS), "control characters other than line breaks and tabs are not allowed");
}

/** The instants an input may name: years 1 to 9999, as ISO-8601 writes them (JavaScript's own range is far wider than PostgreSQL's). */
const FIRST_INSTANT = new Date("0001-01-01T00:00:00Z").getTime();
const LAST_INSTANT = new Date("9999-12-31T23:59:59.999Z").getTime();

/** An instant: a Date (through superjson) or an ISO-8601 date-time with offset (or a date, read as UTC midnight). */
export const instantSchema = z
  .union([z.date(), z.iso.datetime({ offset: true }), z.iso.date()], { error: "an ISO-8601 date-time (e.g. 2026-11-21T09:00:00Z) or a Date" })
  .transform((value) => (value instanceof Date ? value : new Date(value.length === 10 ? `${value}T00:00:00Z` : value)))
  .refine((date) => date.getTime() >= FIRST_INSTANT && date.getTime() <= LAST_INSTANT, "a date between the years 1 and 9999");

/** For procedures that take nothing: `{}` or nothing at all, anything else is refused. */
export const noInput = z.strictObject({}).optional();

/** Database ids: positive integers. */
export const idSchema = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** Money: integer won, never a float. */
export const wonSchema = z.number().int().nonnegative().max(1_000_000_000_000);
export const pageLimitSchema = z.number().int().min(1).max(100).default(20);
/** Opaque cursor from a previous page. */
export const cursorSchema = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9_-]*$/, "not a cursor this server gave out")
  .optional();
/** Client-chosen key that makes a retry return the first result instead of running twice. */
export const idempotencyKeySchema = z
  .string()
  .trim()
  .min(8)
  .max(100)
  .regex(/^[A-Za-z0-9_.:-]+$/);

/**
 * The wire input of one call must be superjson's envelope, `{ json, meta? }` (or nothing): an array, a
 * number or other keys would otherwise decode to "no input" and run a procedure that takes none.
 */
export function envelopeViolation(raw: unknown): z.core.$ZodIssue | null {
  if (raw === undefined) return null;
  const isEnvelope = typeof raw === "object" && raw !== null && !Array.isArray(raw) && Object.keys(raw).every((key) => key === "json" || key === "meta");
  return isEnvelope ? null : { code: "custom", path: [], message: 'the input must be superjson\'s envelope {"json": …, "meta"?: …}', input: raw };
}

/** Keys that name an object's prototype: refused anywhere in an input. */
const PROTOTYPE_KEYS = new Set(["__proto__", "constructor", "prototype"]);
/** Deeper than any procedure's input; a deeper one is refused before anything walks it. */
export const MAX_INPUT_DEPTH = 16;

/**
 * What the raw (still encoded) input of a call breaks of the policy everywhere, whatever its
 * schema: prototype keys, NUL in any string or key, nesting deeper than MAX_INPUT_DEPTH.
 * Walked without recursion. Paths are those of the decoded input (superjson's `json` envelope left out).
 */
export function inputViolations(raw: unknown): z.core.$ZodIssue[] {
  const issues: z.core.$ZodIssue[] = [];
  const stack: Array<{ value: unknown; path: PropertyKey[]; depth: number }> = [{ value: raw, path: [], depth: 0 }];
  while (stack.length > 0 && issues.length < 20) {
    const { value, path, depth } = stack.pop() as { value: unknown; path: PropertyKey[]; depth: number };
    const shown = path[0] === "json" ? path.slice(1) : path;
    if (typeof value === "string") {
      if (value.includes("\u0000")) issues.push({ code: "custom", path: shown, message: "NUL characters are not allowed", input: value });
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    if (depth >= MAX_INPUT_DEPTH) {
      issues.push({ code: "custom", path: shown, message: `nested deeper than ${MAX_INPUT_DEPTH} levels`, input: undefined });
      continue;
    }
    for (const key of Object.keys(value)) {
      // superjson's meta names paths as dotted keys ("items.0.at"): their segments count as keys too.
      const named = path[0] === "meta" ? key.split(".") : [key];
      if (named.some((segment) => PROTOTYPE_KEYS.has(segment)) || key.includes("\u0000")) {
        issues.push({
          code: "unrecognized_keys",
          keys: [key],
          path: shown,
          message: `Unrecognized key: ${JSON.stringify(key)}`,
          input: value as Record<string, unknown>,
        });
        continue;
      }
      stack.push({ value: (value as Record<string, unknown>)[key], path: [...path, key], depth: depth + 1 });
    }
  }
  return issues;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Cursors are opaque to clients: base64url of JSON, checked on the way back in. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (!cursor) return undefined;
  try {
    return schema.parse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
  } catch {
    return undefined;
  }
}
