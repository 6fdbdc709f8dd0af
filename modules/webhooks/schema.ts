import { z } from "zod";
import { cursorSchema, idSchema, pageLimitSchema, singleLineText } from "../kernel/schemas.ts";

/**
 * The event types an integrator can ask for. Written out here so the console's forms can share this
 * schema (schema files stay pure); events.ts checks it names exactly webhooksSubscription's events.
 */
export const webhookEventTypes = ["order.paid", "order.cancelled", "order.refunded", "shipment.shipped", "shipment.delivered"] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

const eventType = z.enum(webhookEventTypes);

export const createEndpointInput = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2000),
  eventTypes: z.array(eventType).min(1).max(webhookEventTypes.length),
  description: singleLineText().trim().max(200).default(""),
});
export type CreateEndpointInput = z.infer<typeof createEndpointInput>;

export const listEndpointsInput = z
  .strictObject({ status: z.enum(["active", "paused"]).optional(), cursor: cursorSchema, limit: pageLimitSchema })
  .prefault({});
export type ListEndpointsFilter = z.infer<typeof listEndpointsInput>;

export const endpointIdInput = z.strictObject({ endpointId: idSchema });

export const listDeliveriesInput = z.strictObject({
  endpointId: idSchema,
  status: z.enum(["pending", "delivered", "failed", "dead", "skipped"]).optional(),
  cursor: cursorSchema,
  limit: pageLimitSchema,
});
export type ListDeliveriesFilter = z.infer<typeof listDeliveriesInput>;

export interface WebhookEndpoint {
  id: number;
  url: string;
  eventTypes: string[];
  description: string;
  status: "active" | "paused";
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookDelivery {
  id: number;
  endpointId: number;
  eventId: string;
  eventType: string;
  /** pending: not sent yet or waiting for a retry; failed: the last attempt failed, another follows; skipped: the endpoint was paused. */
  status: "pending" | "delivered" | "failed" | "dead" | "skipped";
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
}
