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

/**
 * True when superjson would add nothing to `value`: only null, strings, booleans, finite numbers (not
 * -0), arrays without holes and plain objects of those, at most `maxDepth` deep (a cycle is not). Then
 * `{ json: value }` is its superjson form, without walking it the way superjson does. Two references
 * to one object arrive as two equal copies (superjson would restore the shared reference).
 */
export function isPlainJson(value: unknown, maxDepth = 32): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (maxDepth === 0) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!(i in value) || !isPlainJson(value[i], maxDepth - 1)) return false;
        return true;
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return false;
      for (const key in value) if (!isPlainJson((value as Record<string, unknown>)[key], maxDepth - 1)) return false;
      return true;
    }
    default:
      return false;
  }
}
