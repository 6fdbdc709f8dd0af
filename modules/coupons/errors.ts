/** The coupons' refusals (copy modules/orders/errors.ts for the shape). C001–C004 are the seeds' codes. */
import { defineErrors, refusal } from "../kernel/index.ts";

export const couponsErrors = defineErrors({
  COUPON_NOT_FOUND: refusal<{ couponId?: number; userCouponId?: number }>({ kind: "not_found", message: "No such coupon" }),
  COUPON_SOLD_OUT: refusal<{ couponId: number; remainingQuantity: number }>({ kind: "conflict", message: "The coupon is sold out", ref: "C001" }),
  COUPON_NOT_OPEN: refusal<{ couponId: number; issueStartsAt: Date }>({ kind: "invalid", message: "The coupon cannot be issued yet", ref: "C002" }),
  COUPON_CLOSED: refusal<{ couponId: number; issueEndsAt: Date }>({ kind: "invalid", message: "The coupon can no longer be issued", ref: "C003" }),
  ALREADY_ISSUED: refusal<{ couponId: number }>({ kind: "conflict", message: "You already have this coupon", ref: "C004" }),
  COUPON_NOT_OWNED: refusal<{ userCouponId: number }>({ kind: "not_found", message: "You do not have this coupon" }),
  COUPON_ALREADY_USED: refusal<{ userCouponId: number; orderId: number | null }>({ kind: "conflict", message: "The coupon was already used" }),
  COUPON_EXPIRED: refusal<{ userCouponId: number; expiresAt: Date }>({ kind: "invalid", message: "The coupon has expired" }),
  COUPON_MIN_ORDER_NOT_MET: refusal<{ userCouponId: number; minOrderAmount: number; orderAmount: number }>({
    kind: "invalid",
    message: "The order does not reach the coupon's minimum amount",
  }),
});
