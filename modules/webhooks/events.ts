/**
 * What webhooks receive and emit. Integrators get the events of this subscription; each one is
 * fanned out to one `webhook.delivery` per subscribed endpoint, which the outbox sends, retries
 * and declares dead on its own (destination "webhook").
 */
import { z } from "zod";
import { orderCancelled, orderPaid, orderRefunded } from "../orders/index.ts";
import { defineEvent, subscribe } from "../outbox/index.ts";
import { shipmentDelivered, shipmentShipped } from "../shipping/index.ts";
import { anEndpointWants } from "./repository.ts";
import { webhookEventTypes } from "./schema.ts";

/**
 * The events an integrator can ask for (destination "webhooks": the fan-out): orders and shipments.
 * Stock notices stay inside (a restock sign-up is one customer's request to us, not a partner's business).
 */
export const webhooksSubscription = subscribe("webhooks", [orderPaid, orderCancelled, orderRefunded, shipmentShipped, shipmentDelivered], {
  writtenWhen: anEndpointWants,
});

// schema.ts spells the same list for the forms; a drift between the two fails at start and in every test.
const subscribed = webhooksSubscription.events.map((contract) => contract.type).sort();
if (subscribed.join() !== [...webhookEventTypes].sort().join())
  throw new Error(
    `webhooks: schema.ts's webhookEventTypes (${webhookEventTypes.join(", ")}) must name webhooksSubscription's events (${subscribed.join(", ")})`,
  );

/** The body an integrator receives: the same envelope the data platform gets. */
export const webhookBody = z.strictObject({
  /** The same for every endpoint and every attempt: de-duplicate by it. */
  id: z.uuid(),
  type: z.string(),
  occurredAt: z.iso.datetime(),
  aggregate: z.strictObject({ type: z.string(), id: z.string() }),
  data: z.json(),
});
export type WebhookBody = z.output<typeof webhookBody>;

/**
 * One event for one endpoint. Its aggregate is (endpoint, the event's aggregate): an endpoint gets
 * one order's events in order, and one failing order does not hold back the others.
 */
export const webhookDelivery = defineEvent(
  "webhook.delivery",
  "webhook_endpoint",
  z.strictObject({ deliveryId: z.number().int().positive(), endpointId: z.number().int().positive(), body: webhookBody }),
);

export const webhookDeliverySubscription = subscribe("webhook", [webhookDelivery]);
