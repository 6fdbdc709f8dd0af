/** webhooks: operators register integrators' endpoints; subscribed events reach each one signed, through the outbox, with retries and a delivery log. */

export { webhooksErrors } from "./errors.ts";
export type { WebhookBody } from "./events.ts";
export { webhookDeliverySubscription, webhooksSubscription } from "./events.ts";
export { createWebhooksRouter } from "./router.ts";
export type { CreateEndpointInput, WebhookDelivery, WebhookEndpoint, WebhookEventType } from "./schema.ts";
export { webhookEventTypes } from "./schema.ts";
export type { WebhookConfig, WebhookDeps, WebhookService } from "./service.ts";
export { createWebhookService, signWebhook, WEBHOOK_EVENT_ID_HEADER, WEBHOOK_SIGNATURE_HEADER } from "./service.ts";
export type { Resolve } from "./target.ts";
export { isPrivateAddress } from "./target.ts";
