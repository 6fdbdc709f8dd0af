/** coupons: first-come-first-served issue, one per customer; validation, use and restore for orders. */

export type { DiscountRule, OrderTotals } from "./discount.ts";
export { orderTotals } from "./discount.ts";
export { couponsErrors } from "./errors.ts";
export { createCouponRouter } from "./router.ts";
export type { CouponView, IssuedCoupon, IssuedCouponEntry, MyCoupon } from "./schema.ts";
export type { CouponDeps, CouponService } from "./service.ts";
export { createCouponService, renewAdmissionEpoch } from "./service.ts";
