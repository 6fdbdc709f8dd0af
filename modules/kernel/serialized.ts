/**
 * Answers served many times unchanged (a cached popular list to a crowd) keep their superjson form:
 * the tRPC transformer (trpc.ts) sends the kept form instead of walking the value again.
 */
import superjson from "superjson";

type Serialized = ReturnType<typeof superjson.serialize>;

const serializedAnswers = new WeakMap<object, Serialized>();

/**
 * Marks `value` as an answer served many times unchanged: it is frozen, deeply (a caller cannot
 * change what the next one gets), and its superjson form is computed once, now.
 */
export function serializeOnce<T extends object>(value: T): T {
  if (!serializedAnswers.has(value)) serializedAnswers.set(value, superjson.serialize(deepFreeze(value)));
  return value;
}

/** The kept superjson form of a value marked with `serializeOnce`; undefined for any other value. */
export function serializedFormOf(value: unknown): Serialized | undefined {
  return typeof value === "object" && value !== null ? serializedAnswers.get(value) : undefined;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * Decodes cached strings (superjson) for `Cache.getShared`: while a key's stored string stays the
 * same, every reader gets the same frozen value, decoded and serialized once. Holds the last string
 * of at most `maxKeys` keys.
 */
export function sharedDecoder(maxKeys = 1_000) {
  const last = new Map<string, { raw: string; value: unknown }>();
  return <T>(key: string, raw: string): T => {
    const held = last.get(key);
    if (held && held.raw === raw) return held.value as T;
    const value = superjson.parse<T>(raw);
    if (typeof value === "object" && value !== null) serializeOnce(value);
    if (last.size >= maxKeys) last.clear();
    last.set(key, { raw, value });
    return value;
  };
}

/** Thrown inside `serializePlain` at the first value it leaves to superjson. */
const notPlain = Symbol("not plain");

/** superjson's path segment for a key (pathstringifier.js: `\` and `.` escaped). */
function escapeKey(key: string): string {
  return key.includes(".") || key.includes("\\") ? key.replace(/\\/g, "\\\\").replace(/\./g, "\\.") : key;
}

/**
 * superjson's form of an answer made only of plain objects and arrays, strings, finite numbers,
 * booleans, null and valid Dates, each object met once: what nearly every procedure returns, built
 * in one pass. superjson's own walker tracks every path for referential equality and tries its
 * transformers on every value (~150 µs for a catalog page of 20 products, about half of what a
 * page costs the server). Anything else (undefined, -0, NaN, bigint, Map, Set, a class instance, an
 * object met twice, a key superjson refuses) returns undefined, and superjson serializes it. The
 * result equals superjson.serialize(value) (tests/unit/serialized.test.ts).
 */
export function serializePlain(value: unknown): Serialized | undefined {
  // superjson annotates a Date at the root differently (values: ["Date"]); primitives cost it little.
  if (typeof value !== "object" || value === null) return undefined;
  const rootProto = Object.getPrototypeOf(value);
  if (rootProto !== Object.prototype && rootProto !== Array.prototype) return undefined;
  const seen = new Set<object>();
  const path: string[] = [];
  let dates: Record<string, ["Date"]> | null = null;

  const walk = (v: unknown): unknown => {
    switch (typeof v) {
      case "string":
      case "boolean":
        return v;
      case "number":
        if (!Number.isFinite(v) || (v === 0 && 1 / v < 0)) throw notPlain;
        return v;
      case "object": {
        if (v === null) return v;
        if (seen.has(v)) throw notPlain;
        seen.add(v);
        const proto = Object.getPrototypeOf(v);
        if (proto === Date.prototype) {
          const time = (v as Date).getTime();
          if (Number.isNaN(time)) throw notPlain;
          dates ??= {};
          dates[path.join(".")] = ["Date"];
          return (v as Date).toISOString();
        }
        if (proto === Array.prototype) {
          const array = v as unknown[];
          const out = new Array(array.length);
          for (let i = 0; i < array.length; i++) {
            path.push(String(i));
            out[i] = walk(array[i]);
            path.pop();
          }
          return out;
        }
        if (proto !== Object.prototype) throw notPlain;
        const out: Record<string, unknown> = {};
        for (const key of Object.keys(v)) {
          if (key === "__proto__" || key === "constructor" || key === "prototype") throw notPlain;
          path.push(escapeKey(key));
          out[key] = walk((v as Record<string, unknown>)[key]);
          path.pop();
        }
        return out;
      }
      default:
        throw notPlain;
    }
  };

  try {
    const json = walk(value);
    return (dates ? { json, meta: { values: dates, v: 1 } } : { json }) as Serialized;
  } catch (error) {
    if (error === notPlain) return undefined;
    throw error;
  }
}
