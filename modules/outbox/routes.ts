/**
 * Where each event goes. One outbox row is written per destination, so the data platform, the
 * carrier and the notifier each have their own attempts, backoff and dead state, and one slow or
 * failing system never holds back another. Destinations are names; the composition root
 * registers a handler for each.
 */
export const destinations = ["data-platform", "shipping", "notifications"] as const;
export type Destination = (typeof destinations)[number];

export const outboxRoutes: Readonly<Record<string, readonly Destination[]>> = {
  "order.paid": ["data-platform", "shipping", "notifications"],
  "order.cancelled": ["data-platform", "shipping", "notifications"],
  "order.refunded": ["data-platform", "notifications"],
  "shipment.shipped": ["data-platform", "notifications"],
  "shipment.delivered": ["data-platform", "notifications"],
  "inventory.low_stock": ["notifications"],
  "inventory.back_in_stock": ["notifications"],
};

export function destinationsOf(type: string): readonly Destination[] {
  const routed = outboxRoutes[type];
  if (!routed) throw new Error(`outbox: no route for event type "${type}"; add it to modules/outbox/routes.ts`);
  return routed;
}
