/** shipping: books parcels with the carrier for paid orders, cancels them for cancelled ones, follows signed carrier webhooks. */

export type { Carrier, CarrierBooking, CarrierItem, CreateShipmentRequest, HttpCarrierOptions } from "./carrier.ts";
export { CarrierTooLateError, HttpCarrier } from "./carrier.ts";
export { shippingErrors } from "./errors.ts";
export { shipmentDelivered, shipmentShipped } from "./events.ts";
export { createShippingRouter } from "./router.ts";
export type { CarrierWebhookBody, ShipmentDetail, ShipmentStatus, ShipmentSummary, ShipmentTracking, TimelineEntry, WebhookResult } from "./schema.ts";
export type { CarrierWebhookConfig, ShippingDeps, ShippingOrders, ShippingService } from "./service.ts";
export { createShippingService, shippingSubscription } from "./service.ts";
export type { CarrierWebhookRouteOptions } from "./webhook-route.ts";
export { createCarrierWebhookRoute } from "./webhook-route.ts";
