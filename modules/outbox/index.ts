/** outbox: events written with the change they announce, delivered by an in-process poller. */
export type { DeliveryState } from "./admin.ts";
export { createOutboxRouter, deliveryStates } from "./admin.ts";
export type { DataPlatform, DataPlatformEvent, HttpDataPlatformOptions } from "./data-platform.ts";
export { dataPlatformHandler, HttpDataPlatform } from "./data-platform.ts";
export type { DeliverableEvent, ListenForNotifications, OutboxHandler, OutboxPoller, OutboxPollerConfig, OutboxPollerDeps, PollResult } from "./poller.ts";
export { createOutboxPoller, PermanentDeliveryError } from "./poller.ts";
export type { Destination } from "./routes.ts";
export { destinations, outboxRoutes } from "./routes.ts";
export type { OutboxEvent } from "./service.ts";
export { enqueueEvents } from "./service.ts";
