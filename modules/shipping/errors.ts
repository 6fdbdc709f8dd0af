/** Shipping's refusals (copy modules/orders/errors.ts for the shape), the carrier webhook's included. */
import type { ShipmentStatus } from "../../db/index.ts";
import { defineErrors, refusal } from "../kernel/index.ts";

export const shippingErrors = defineErrors({
  SHIPMENT_NOT_FOUND: refusal<{ orderId?: number; trackingNumber?: string }>({ kind: "not_found", message: "No such shipment" }),
  SHIPMENT_INVALID_STATE: refusal<{ orderId: number; shipmentStatus: ShipmentStatus }>({
    kind: "conflict",
    message: "The shipment cannot do this in its current state",
  }),
  TRACKING_NUMBER_TAKEN: refusal<{ orderId: number; trackingNumber: string }>({
    kind: "conflict",
    message: "This tracking number belongs to another shipment",
  }),
  INVALID_SIGNATURE: refusal<{ reason: "missing" | "malformed" | "expired" | "mismatch" }>({ kind: "unauthenticated", message: "The signature is not valid" }),
});
