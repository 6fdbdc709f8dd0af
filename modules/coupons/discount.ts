/** The discount arithmetic, pure: integer won in, integer won out. */
export interface DiscountRule {
  discountType: "fixed" | "percent";
  /** Won for fixed; 1..100 for percent. */
  discountValue: number;
  /** Cap on a percent discount. */
  maxDiscountAmount: number | null;
  minOrderAmount: number;
}

/**
 * floor(amount × pct / 100) exactly for every safe-integer amount: `amount * pct` can pass 2^53
 * and round up by a won, so the hundreds and the remainder are taken separately (both exact).
 */
function percentOf(amount: number, pct: number): number {
  const remainder = amount % 100;
  return ((amount - remainder) / 100) * pct + Math.floor((remainder * pct) / 100);
}

/**
 * What a coupon takes off `subtotal`: never negative, never more than the subtotal, a percent
 * discount rounded down to the won and held under its cap. Zero below the minimum order amount.
 */
export function discountFor(rule: DiscountRule, subtotal: number): number {
  if (!Number.isSafeInteger(subtotal) || subtotal <= 0 || subtotal < rule.minOrderAmount) return 0;
  const raw = rule.discountType === "fixed" ? rule.discountValue : percentOf(subtotal, rule.discountValue);
  const capped = rule.discountType === "percent" && rule.maxDiscountAmount !== null ? Math.min(raw, rule.maxDiscountAmount) : raw;
  return Math.max(0, Math.min(capped, subtotal));
}

export interface OrderTotals {
  subtotalAmount: number;
  discountAmount: number;
  finalAmount: number;
}

export function orderTotals(lines: Array<{ unitPrice: number; quantity: number }>, rule: DiscountRule | null): OrderTotals {
  const subtotalAmount = lines.reduce((sum, line) => sum + line.unitPrice * line.quantity, 0);
  const discountAmount = rule ? discountFor(rule, subtotalAmount) : 0;
  return { subtotalAmount, discountAmount, finalAmount: subtotalAmount - discountAmount };
}
