import { adminProcedure, authedProcedure, noInput, router } from "../kernel/index.ts";
import {
  adminCancelOrderInput,
  adminChangeAddressInput,
  adminEditLinesInput,
  adminOrdersInput,
  adminRefundOrderInput,
  cancelOrderInput,
  changeAddressInput,
  createOrderInput,
  myOrdersInput,
  orderIdInput,
  payOrderInput,
  placeOrderInput,
} from "./schema.ts";
import type { OrdersService } from "./service.ts";

export function createOrdersRouter(orders: OrdersService) {
  return router({
    /** One step: place and pay (wallet, card or split; the wallet without `payment`). Answers { orderId, finalAmount, remainingBalance, payments, ... }. */
    place: authedProcedure.input(placeOrderInput).mutation(({ input, ctx }) => orders.place(ctx.session.userId, input)),
    /** Two steps: reserve now (pending payment) ... */
    create: authedProcedure.input(createOrderInput).mutation(({ input, ctx }) => orders.create(ctx.session.userId, input)),
    /** ... and pay within the payment window. */
    pay: authedProcedure.input(payOrderInput).mutation(({ input, ctx }) => orders.pay(ctx.session.userId, input.orderId, input.idempotencyKey, input.payment)),
    // The customer routes act as a customer even for an admin's session: operators use orders.admin.*.
    cancel: authedProcedure
      .input(cancelOrderInput)
      .mutation(({ input, ctx }) => orders.cancel({ userId: ctx.session.userId, role: "customer" }, input.orderId, input.reason)),
    changeAddress: authedProcedure
      .input(changeAddressInput)
      .mutation(({ input: { orderId, ...to }, ctx }) => orders.changeAddress({ userId: ctx.session.userId, role: "customer" }, orderId, to)),
    reorder: authedProcedure.input(orderIdInput).mutation(({ input, ctx }) => orders.reorder(ctx.session.userId, input.orderId)),
    mine: authedProcedure.input(myOrdersInput).query(({ input, ctx }) => orders.mine(ctx.session.userId, input)),
    get: authedProcedure.input(orderIdInput).query(({ input, ctx }) => orders.get({ userId: ctx.session.userId, role: "customer" }, input.orderId)),
    admin: router({
      list: adminProcedure.input(adminOrdersInput).query(({ input }) => orders.adminList(input)),
      get: adminProcedure.input(orderIdInput).query(({ input, ctx }) => orders.get(ctx.session, input.orderId)),
      cancel: adminProcedure.input(adminCancelOrderInput).mutation(({ input, ctx }) => orders.cancel(ctx.session, input.orderId, input.reason)),
      changeAddress: adminProcedure
        .input(adminChangeAddressInput)
        .mutation(({ input, ctx }) => orders.changeAddress(ctx.session, input.orderId, { shippingAddress: input.shippingAddress })),
      editLines: adminProcedure
        .input(adminEditLinesInput)
        .mutation(({ input, ctx }) => orders.editLines(input.orderId, input.items, input.reason, ctx.session.userId)),
      refund: adminProcedure
        .input(adminRefundOrderInput)
        .mutation(({ input, ctx }) => orders.refund(input.orderId, input.reason, input.restock, ctx.session.userId)),
      sweepExpired: adminProcedure.input(noInput).mutation(async () => ({ expired: await orders.sweepExpired() })),
    }),
  });
}
