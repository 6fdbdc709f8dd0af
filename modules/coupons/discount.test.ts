/**
 * The discount arithmetic, pure: worked examples, then properties checked by fast-check over
 * every rule the coupon schema accepts and every subtotal up to Number.MAX_SAFE_INTEGER.
 * Exact reference values are computed with BigInt, so float rounding cannot hide in the oracle.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type DiscountRule, discountFor, orderTotals } from "./discount.ts";

const fixed = (discountValue: number, minOrderAmount = 0, maxDiscountAmount: number | null = null): DiscountRule => ({
  discountType: "fixed",
  discountValue,
  maxDiscountAmount,
  minOrderAmount,
});
const percent = (discountValue: number, maxDiscountAmount: number | null = null, minOrderAmount = 0): DiscountRule => ({
  discountType: "percent",
  discountValue,
  maxDiscountAmount,
  minOrderAmount,
});

/** floor(subtotal × pct / 100), exactly. */
const exactPercent = (subtotal: number, pct: number) => Number((BigInt(subtotal) * BigInt(pct)) / 100n);

// ── arbitraries: the rules createCouponInput accepts ─────────────────────

const LIMIT = 100_000_000;
const capArb = fc.option(fc.integer({ min: 1, max: LIMIT }), { nil: null });
const minArb = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: LIMIT }));
const fixedRuleArb: fc.Arbitrary<DiscountRule> = fc.record({
  discountType: fc.constant("fixed" as const),
  discountValue: fc.integer({ min: 1, max: LIMIT }),
  maxDiscountAmount: capArb,
  minOrderAmount: minArb,
});
const percentRuleArb: fc.Arbitrary<DiscountRule> = fc.record({
  discountType: fc.constant("percent" as const),
  discountValue: fc.integer({ min: 1, max: 100 }),
  maxDiscountAmount: capArb,
  minOrderAmount: minArb,
});
const ruleArb = fc.oneof(fixedRuleArb, percentRuleArb);
/** Mostly realistic amounts, with the edges (0, negatives, the whole safe range) mixed in. */
const subtotalArb = fc.oneof(
  fc.integer({ min: 0, max: 1_000_000 }),
  fc.integer({ min: 0, max: 500_000_000_000 }),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: -1_000_000, max: 0 }),
);
const linesArb = fc.array(fc.record({ unitPrice: fc.integer({ min: 0, max: LIMIT }), quantity: fc.integer({ min: 1, max: 99 }) }), { maxLength: 50 });

const runs = { numRuns: 2_000 };

describe("discountFor: examples", () => {
  test("fixed: the whole amount once the minimum is met, never more than the subtotal", () => {
    expect(discountFor(fixed(3_000, 10_000), 9_999)).toBe(0);
    expect(discountFor(fixed(3_000, 10_000), 10_000)).toBe(3_000);
    expect(discountFor(fixed(3_000, 10_000), 250_000)).toBe(3_000);
    expect(discountFor(fixed(5_000), 2_000)).toBe(2_000);
    expect(discountFor(fixed(5_000), 5_000)).toBe(5_000);
  });

  test("fixed: a cap applies only to percent discounts", () => {
    expect(discountFor(fixed(5_000, 0, 1_000), 20_000)).toBe(5_000);
  });

  test("percent: rounded down to the won, held under the cap", () => {
    expect(discountFor(percent(10, 3_000, 20_000), 19_999)).toBe(0);
    expect(discountFor(percent(10, 3_000, 20_000), 20_000)).toBe(2_000);
    expect(discountFor(percent(10, 3_000), 29_999)).toBe(2_999);
    expect(discountFor(percent(10, 3_000), 30_000)).toBe(3_000);
    expect(discountFor(percent(10, 3_000), 40_000)).toBe(3_000);
    expect(discountFor(percent(15), 12_345)).toBe(1_851); // 1851.75
    expect(discountFor(percent(33), 101)).toBe(33); // 33.33
    expect(discountFor(percent(1), 99)).toBe(0); // 0.99
    expect(discountFor(percent(100), 48_250)).toBe(48_250);
    expect(discountFor(percent(100, 10_000), 48_250)).toBe(10_000);
  });

  test("percent: exact at the top of the safe-integer range (no float rounding up)", () => {
    // 3335071843078734 × 97 / 100 = 3235019687786371.98: a float product rounds this up by a won.
    expect(discountFor(percent(97), 3_335_071_843_078_734)).toBe(3_235_019_687_786_371);
    expect(discountFor(percent(68), 5_174_989_843_061_085)).toBe(3_518_993_093_281_537);
    expect(discountFor(percent(99), Number.MAX_SAFE_INTEGER)).toBe(exactPercent(Number.MAX_SAFE_INTEGER, 99));
  });

  test("nothing off a zero, negative, fractional or unsafe subtotal", () => {
    for (const rule of [fixed(1_000), percent(50)]) {
      expect(discountFor(rule, 0)).toBe(0);
      expect(discountFor(rule, -5_000)).toBe(0);
      expect(discountFor(rule, 10_000.5)).toBe(0);
      expect(discountFor(rule, Number.NaN)).toBe(0);
      expect(discountFor(rule, Number.POSITIVE_INFINITY)).toBe(0);
      expect(discountFor(rule, Number.MAX_SAFE_INTEGER + 1)).toBe(0);
    }
  });
});

describe("orderTotals: examples", () => {
  test("subtotal is Σ unitPrice × quantity; the discount comes off it", () => {
    const lines = [
      { unitPrice: 12_000, quantity: 2 },
      { unitPrice: 3_500, quantity: 3 },
    ];
    expect(orderTotals(lines, null)).toEqual({ subtotalAmount: 34_500, discountAmount: 0, finalAmount: 34_500 });
    expect(orderTotals(lines, percent(10, 3_000))).toEqual({ subtotalAmount: 34_500, discountAmount: 3_000, finalAmount: 31_500 });
    expect(orderTotals(lines, percent(5))).toEqual({ subtotalAmount: 34_500, discountAmount: 1_725, finalAmount: 32_775 });
    expect(orderTotals(lines, fixed(50_000))).toEqual({ subtotalAmount: 34_500, discountAmount: 34_500, finalAmount: 0 });
    expect(orderTotals(lines, fixed(5_000, 40_000))).toEqual({ subtotalAmount: 34_500, discountAmount: 0, finalAmount: 34_500 });
  });

  test("no lines: all zero", () => {
    expect(orderTotals([], fixed(1_000))).toEqual({ subtotalAmount: 0, discountAmount: 0, finalAmount: 0 });
  });
});

describe("discountFor: properties", () => {
  test("an integer with 0 ≤ discount ≤ subtotal, for any rule and subtotal", () => {
    fc.assert(
      fc.property(ruleArb, subtotalArb, (rule, subtotal) => {
        const discount = discountFor(rule, subtotal);
        expect(Number.isSafeInteger(discount)).toBe(true);
        expect(discount).toBeGreaterThanOrEqual(0);
        expect(discount).toBeLessThanOrEqual(Math.max(0, subtotal));
      }),
      runs,
    );
  });

  test("below the minimum order amount (or at zero) it is 0", () => {
    fc.assert(
      fc.property(
        ruleArb.filter((r) => r.minOrderAmount > 0),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (rule, fraction) => {
          const subtotal = Math.floor(rule.minOrderAmount * fraction); // 0 .. minOrderAmount - 1
          expect(discountFor(rule, subtotal)).toBe(0);
        },
      ),
      runs,
    );
  });

  test("percent: never above the cap; exactly floor(subtotal × pct / 100) when under it", () => {
    fc.assert(
      fc.property(percentRuleArb, subtotalArb, (rule, subtotal) => {
        const discount = discountFor(rule, subtotal);
        if (rule.maxDiscountAmount !== null) expect(discount).toBeLessThanOrEqual(rule.maxDiscountAmount);
        if (subtotal <= 0 || subtotal < rule.minOrderAmount) return expect(discount).toBe(0);
        const exact = exactPercent(subtotal, rule.discountValue);
        expect(discount).toBe(rule.maxDiscountAmount === null ? exact : Math.min(exact, rule.maxDiscountAmount));
      }),
      runs,
    );
  });

  test("fixed: min(discountValue, subtotal) once the minimum is met", () => {
    fc.assert(
      fc.property(fixedRuleArb, subtotalArb, (rule, subtotal) => {
        const expected = subtotal <= 0 || subtotal < rule.minOrderAmount ? 0 : Math.min(rule.discountValue, subtotal);
        expect(discountFor(rule, subtotal)).toBe(expected);
      }),
      runs,
    );
  });

  test("a bigger order (past the minimum) never gets a smaller discount", () => {
    fc.assert(
      fc.property(ruleArb, subtotalArb, fc.integer({ min: 0, max: 1_000_000 }), (rule, a, extra) => {
        const b = a + extra;
        fc.pre(a > 0 && a >= rule.minOrderAmount && Number.isSafeInteger(b));
        expect(discountFor(rule, b)).toBeGreaterThanOrEqual(discountFor(rule, a));
      }),
      runs,
    );
  });
});

describe("orderTotals: properties", () => {
  test("subtotal = Σ unitPrice × quantity; finalAmount = subtotal − discount ≥ 0", () => {
    fc.assert(
      fc.property(linesArb, fc.option(ruleArb, { nil: null }), (lines, rule) => {
        const totals = orderTotals(lines, rule);
        const exactSubtotal = lines.reduce((sum, l) => sum + BigInt(l.unitPrice) * BigInt(l.quantity), 0n);
        expect(BigInt(totals.subtotalAmount)).toBe(exactSubtotal);
        expect(totals.discountAmount).toBe(rule ? discountFor(rule, totals.subtotalAmount) : 0);
        expect(totals.finalAmount).toBe(totals.subtotalAmount - totals.discountAmount);
        expect(totals.finalAmount).toBeGreaterThanOrEqual(0);
        expect(Number.isSafeInteger(totals.finalAmount)).toBe(true);
      }),
      runs,
    );
  });
});
