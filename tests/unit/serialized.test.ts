/** Cached answers decoded and serialized once (modules/kernel/serialized.ts): same value while the stored string is the same. */
import { describe, expect, test } from "bun:test";
import superjson from "superjson";
import { isPlainJson, serializedFormOf, serializeOnce, sharedDecoder } from "../../modules/kernel/index.ts";

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

describe("isPlainJson: `{ json: value }` is superjson's own form of the value", () => {
  const plain: unknown[] = [
    null,
    "text",
    true,
    0,
    -12.5,
    [],
    [1, "a", null, [false]],
    {},
    { pong: true },
    Object.assign(Object.create(null), { a: 1 }),
    { message: "No coupons left", code: -32009, data: { httpStatus: 409, details: { couponId: 3, remainingQuantity: 0 }, stack: null } },
  ];
  for (const value of plain) {
    test(`plain: ${JSON.stringify(value)}`, () => {
      expect(isPlainJson(value)).toBe(true);
      expect(superjson.serialize(value)).toEqual({ json: value } as never);
    });
  }

  const special: Array<[string, unknown]> = [
    ["undefined", undefined],
    ["a property set to undefined", { a: undefined }],
    ["a Date", { at: new Date(0) }],
    ["NaN", [Number.NaN]],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["-0", -0],
    ["a bigint", 1n],
    ["a Map", new Map([[1, 2]])],
    ["a Set", new Set([1])],
    ["a class instance", new (class Point {})()],
    ["a sparse array", Object.assign(new Array(3), { 0: 1, 2: 3 })],
    ["a regular expression", /x/],
  ];
  for (const [name, value] of special) {
    test(`not plain: ${name} (superjson adds meta or changes it)`, () => {
      expect(isPlainJson(value)).toBe(false);
    });
  }

  test("a cycle is not plain (superjson restores it; the depth bound stops the walk)", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(isPlainJson(cyclic)).toBe(false);
  });
});
