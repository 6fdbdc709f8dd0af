/** Inputs (zod) and answers of the shipping module. */
import { z } from "zod";
import type { ShipmentStatus } from "../../db/index.ts";
import { cursorSchema, idSchema, pageLimitSchema, singleLineText } from "../kernel/schemas.ts";

export type { ShipmentStatus };

export const shipmentStatusSchema = z.enum(["requested", "ready", "in_transit", "delivered", "cancelled"]);

export const trackInput = z.strictObject({ orderId: idSchema });
export const adminGetInput = z.strictObject({ orderId: idSchema });
export const adminListInput = z.strictObject({ status: shipmentStatusSchema.optional(), cursor: cursorSchema, limit: pageLimitSchema }).default({ limit: 20 });
export type ShipmentFilter = z.infer<typeof adminListInput>;

export const setTrackingNumberInput = z.strictObject({
  orderId: idSchema,
  carrier: singleLineText().trim().min(1).max(50),
  trackingNumber: singleLineText()
    .trim()
    .min(4)
    .max(64)
    .regex(/^[A-Za-z0-9-]+$/, "letters, digits and dashes only"),
});

/** What a carrier webhook carries (unknown fields are ignored: carriers add fields over time). */
export const carrierWebhookBody = z.object({
  eventId: z.string().trim().min(1).max(200),
  trackingNumber: z.string().trim().min(1).max(100),
  status: z.enum(["in_transit", "out_for_delivery", "delivered"]),
  occurredAt: z.iso.datetime({ offset: true }),
  description: z.string().max(500).optional(),
});
export type CarrierWebhookBody = z.infer<typeof carrierWebhookBody>;

export interface TimelineEntry {
  status: string;
  description: string;
  occurredAt: Date;
}

/** What the customer sees of their order's shipment. */
export interface ShipmentTracking {
  orderId: number;
  status: ShipmentStatus;
  carrier: string | null;
  trackingNumber: string | null;
  address: string | null;
  timeline: TimelineEntry[];
}

export interface ShipmentSummary {
  shipmentId: number;
  orderId: number;
  userId: number;
  status: ShipmentStatus;
  carrier: string | null;
  trackingNumber: string | null;
  address: string | null;
  requestedAt: Date;
  updatedAt: Date;
  deliveredAt: Date | null;
}

/** What an operator sees: the whole row and every event, with the carrier's ids. */
export interface ShipmentDetail extends ShipmentSummary {
  timeline: Array<TimelineEntry & { carrierEventId: string | null; receivedAt: Date }>;
}

export interface WebhookResult {
  status: "applied" | "duplicate";
}
