/**
 * Cached answers decoded and serialized once (modules/kernel/serialized.ts): same value while the stored string is the same;
 * and the one-pass superjson form of plain answers.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import superjson from "superjson";
import { serializedFormOf, serializeOnce, serializePlain, sharedDecoder } from "../../modules/kernel/index.ts";

describe("sharedDecoder", () => {
  const answer = { period: { days: 3, at: new Date("2026-11-24T00:00:00Z") }, products: [{ rank: 1, productId: 7, name: "Fig" }] };

  test("the same stored string gives the same frozen value, whose superjson form is kept", () => {
    const decode = sharedDecoder();
    const raw = superjson.stringify(answer);
    const first = decode<typeof answer>("popular:3days:5", raw);
    expect(first).toEqual(answer);
    expect(decode<typeof answer>("popular:3days:5", raw)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.products[0])).toBe(true);
    expect(serializedFormOf(first)).toEqual(superjson.serialize(answer));
  });

  test("a changed string, or another key, is decoded anew", () => {
    const decode = sharedDecoder();
    const first = decode<typeof answer>("k", superjson.stringify(answer));
    const changed = decode<typeof answer>("k", superjson.stringify({ ...answer, products: [] }));
    expect(changed).not.toBe(first);
    expect(changed.products).toEqual([]);
    expect(decode<typeof answer>("other", superjson.stringify(answer))).not.toBe(first);
  });

  test("values never marked have no kept form", () => {
    expect(serializedFormOf({ a: 1 })).toBeUndefined();
    expect(serializedFormOf("text")).toBeUndefined();
    const marked = serializeOnce({ a: [1, 2] });
    expect(serializedFormOf(marked)).toEqual({ json: { a: [1, 2] } });
    expect(() => {
      (marked.a as number[]).push(3);
    }).toThrow();
  });
});

describe("serializePlain", () => {
  const same = (value: unknown) => expect(serializePlain(value)).toEqual(superjson.serialize(value));

  test("plain data with Dates: exactly superjson's form, dates annotated by escaped path", () => {
    const at = new Date("2026-12-02T11:00:00.123Z");
    const page = {
      items: [
        { id: 1, name: "Fig", price: 1_000, createdAt: at, updatedAt: new Date(0), tags: ["a", "b"], inStock: true, note: null },
        { id: 2, name: "Kettle", price: 0, createdAt: new Date(5), nested: { "dotted.key": new Date(6), "back\\slash": new Date(7) } },
      ],
      nextCursor: null,
    };
    same(page);
    same({ a: 1, b: "x", c: [1, [2, [3]]], d: {} });
    same([new Date(1), { at: new Date(2) }]);
    expect(serializePlain(page)).toMatchObject({ meta: { values: { "items.0.createdAt": ["Date"], "items.1.nested.dotted\\.key": ["Date"] }, v: 1 } });
  });

  test("anything superjson annotates otherwise is left to superjson", () => {
    const shared = { a: 1 };
    const date = new Date(1);
    for (const value of [
      { a: undefined },
      // biome-ignore lint/suspicious/noSparseArray: a hole is what this checks
      [1, , 3],
      { n: -0 },
      { n: Number.NaN },
      { n: Number.POSITIVE_INFINITY },
      { n: 10n },
      { m: new Map([[1, 2]]) },
      { s: new Set([1]) },
      { r: /x/ },
      { e: new Error("x") },
      { u: new URL("https://example.com") },
      { d: new Date(Number.NaN) },
      { twice: shared, again: shared },
      { start: date, end: date },
      { o: Object.create(null) },
      { c: new (class Point {})() },
      { f: () => 1 },
      "text",
      7,
      null,
      new Date(0),
    ]) {
      expect(serializePlain(value)).toBeUndefined();
    }
    expect(serializePlain(JSON.parse('{"__proto__": {"x": 1}}'))).toBeUndefined();
  });

  test("random plain data: the same form as superjson", () => {
    const plain = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.string(),
        fc.boolean(),
        fc.constant(null),
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
        fc.integer(),
        fc.date({ noInvalidDate: true }),
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(fc.oneof(fc.string(), fc.constantFrom("a.b", "a\\b", ".", "\\", "0")), tie("value"), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(fc.oneof(fc.array(plain), fc.dictionary(fc.string(), plain)), (value) => {
        const fast = serializePlain(value);
        // A key superjson refuses (__proto__ and the like) leaves the value to superjson.
        if (fast === undefined) return;
        expect(fast).toEqual(superjson.serialize(value));
        expect(superjson.deserialize(fast)).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });
});
