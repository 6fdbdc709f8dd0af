import { z } from "zod";
import { idSchema, instantSchema, singleLineText, wonSchema } from "../kernel/schemas.ts";

export const createCouponInput = z
  .strictObject({
    name: singleLineText().trim().min(1).max(100),
    discountType: z.enum(["fixed", "percent"]),
    discountValue: z.number().int().positive().max(100_000_000),
    maxDiscountAmount: wonSchema.positive().max(100_000_000).nullable().default(null),
    minOrderAmount: wonSchema.max(100_000_000).default(0),
    totalQuantity: z.number().int().min(1).max(10_000_000),
    issueStartsAt: instantSchema,
    issueEndsAt: instantSchema,
    validDays: z.number().int().min(1).max(3650),
  })
  .refine((c) => c.discountType === "fixed" || c.discountValue <= 100, { message: "a percent discount is 1 to 100", path: ["discountValue"] })
  .refine((c) => c.issueEndsAt > c.issueStartsAt, { message: "the issue window must end after it starts", path: ["issueEndsAt"] });
export type CreateCouponInput = z.infer<typeof createCouponInput>;

export const couponIdInput = z.strictObject({ couponId: idSchema });
export const userCouponIdInput = z.strictObject({ userCouponId: idSchema });
/**
 * Coupon lists stay plain arrays (their shape before paging), at most `limit` long; the next page
 * starts `after` the last item's id (couponId, or userCouponId for `mine`). Fewer than `limit`
 * items: the last page.
 */
const couponPage = { limit: z.number().int().min(1).max(100).default(100), after: idSchema.optional() };
export const listCouponsInput = z.strictObject(couponPage).prefault({});
export const myCouponsInput = z.strictObject({ status: z.enum(["available", "used", "expired"]).optional(), ...couponPage }).prefault({});
export const validateCouponInput = z.strictObject({ userCouponId: idSchema, orderAmount: wonSchema.max(100_000_000_000) });
export const adminListCouponsInput = z.strictObject({ includeEnded: z.boolean().default(false), ...couponPage }).prefault({});
/** Who got a coupon, first come first: paged by slot (`after`: the last item's `slot`), optionally only used or unused ones. */
export const adminIssuedCouponsInput = z.strictObject({
  couponId: idSchema,
  used: z.boolean().optional(),
  limit: couponPage.limit,
  after: z.number().int().min(1).max(10_000_000).optional(),
});
export interface CouponPage {
  limit: number;
  after?: number;
}

export interface CouponView {
  couponId: number;
  name: string;
  discountType: "fixed" | "percent";
  discountValue: number;
  maxDiscountAmount: number | null;
  minOrderAmount: number;
  totalQuantity: number;
  issuedQuantity: number;
  remainingQuantity: number;
  issueStartsAt: Date;
  issueEndsAt: Date;
  validDays: number;
  state: "upcoming" | "open" | "sold_out" | "ended";
}

export interface IssuedCoupon {
  userCouponId: number;
  couponId: number;
  couponName: string;
  issuedAt: Date;
  expiresAt: Date;
}

export interface MyCoupon extends IssuedCoupon {
  discountType: "fixed" | "percent";
  discountValue: number;
  maxDiscountAmount: number | null;
  minOrderAmount: number;
  status: "available" | "used" | "expired";
  usedAt: Date | null;
  orderId: number | null;
}

/** One issued coupon as the operator sees it: who got it, when, and whether an order used it. */
export interface IssuedCouponEntry {
  userCouponId: number;
  userId: number;
  /** The place in the first-come line: 1 is the first customer to get the coupon. */
  slot: number;
  status: "available" | "used" | "expired";
  issuedAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  orderId: number | null;
}
