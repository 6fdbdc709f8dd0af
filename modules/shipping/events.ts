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
