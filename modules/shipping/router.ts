import { adminProcedure, authedProcedure, router } from "../kernel/index.ts";
import { adminGetInput, adminListInput, setTrackingNumberInput, trackInput } from "./schema.ts";
import type { ShippingService } from "./service.ts";

export function createShippingRouter(shipping: ShippingService) {
  return router({
    /** The caller's own order's shipment and its timeline; anyone else's is SHIPMENT_NOT_FOUND. */
    track: authedProcedure.input(trackInput).query(({ input, ctx }) => shipping.track(ctx.session.userId, input.orderId)),
    admin: router({
      get: adminProcedure.input(adminGetInput).query(({ input }) => shipping.get(input.orderId)),
      list: adminProcedure.input(adminListInput).query(({ input }) => shipping.list(input)),
      setTrackingNumber: adminProcedure
        .input(setTrackingNumberInput)
        .mutation(({ input, ctx }) => shipping.setTrackingNumber(input.orderId, input.carrier, input.trackingNumber, ctx.session.userId)),
    }),
  });
}
