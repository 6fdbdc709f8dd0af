import { adminProcedure, authedProcedure, publicProcedure, router } from "../kernel/index.ts";
import {
  adminIssuedCouponsInput,
  adminListCouponsInput,
  couponIdInput,
  createCouponInput,
  listCouponsInput,
  myCouponsInput,
  userCouponIdInput,
  validateCouponInput,
} from "./schema.ts";
import type { CouponService } from "./service.ts";

export function createCouponRouter(coupons: CouponService) {
  return router({
    list: publicProcedure.input(listCouponsInput).query(({ input }) => coupons.listIssuable(input)),
    issue: authedProcedure.input(couponIdInput).mutation(({ input, ctx }) => coupons.issue(ctx.session.userId, input.couponId)),
    mine: authedProcedure.input(myCouponsInput).query(({ input, ctx }) => coupons.mine(ctx.session.userId, input.status, input)),
    validate: authedProcedure.input(validateCouponInput).query(({ input, ctx }) => coupons.validate(ctx.session.userId, input.userCouponId, input.orderAmount)),
    history: authedProcedure.input(userCouponIdInput).query(({ input, ctx }) => coupons.history(ctx.session.userId, input.userCouponId)),
    admin: router({
      create: adminProcedure.input(createCouponInput).mutation(({ input }) => coupons.create(input)),
      list: adminProcedure.input(adminListCouponsInput).query(({ input }) => coupons.listAll(input.includeEnded, input)),
      get: adminProcedure.input(couponIdInput).query(({ input }) => coupons.get(input.couponId)),
      history: adminProcedure.input(userCouponIdInput).query(({ input }) => coupons.history(null, input.userCouponId)),
      issued: adminProcedure.input(adminIssuedCouponsInput).query(({ input }) => coupons.listIssued(input)),
      resetAdmission: adminProcedure.input(couponIdInput).mutation(async ({ input }) => {
        await coupons.resetAdmission(input.couponId);
        return { reset: true as const };
      }),
    }),
  });
}
