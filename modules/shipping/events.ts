/** The events shipping emits, one contract each (see modules/orders/events.ts for the pattern). */
import { z } from "zod";
import { defineEvent } from "../outbox/index.ts";

const shipmentStep = z.strictObject({
  orderId: z.number().int().positive(),
  userId: z.number().int().positive(),
  trackingNumber: z.string().nullable(),
  carrier: z.string().nullable(),
  occurredAt: z.iso.datetime(),
});

export const shipmentShipped = defineEvent("shipment.shipped", "shipment", shipmentStep);
export const shipmentDelivered = defineEvent("shipment.delivered", "shipment", shipmentStep);

/**
 * A parcel booked to an address the order no longer ships to (changed while the carrier was
 * booking). Shipping sends it to itself: written in the transaction that finds the change, so the
 * stale parcel is cancelled at the carrier, retried by the outbox until the carrier confirms.
 */
export const shipmentBookingStale = defineEvent(
  "shipment.booking_stale",
  "shipment",
  z.strictObject({
    orderId: z.number().int().positive(),
    shipmentId: z.number().int().positive(),
    carrier: z.string().min(1),
    trackingNumber: z.string().min(1),
  }),
);
