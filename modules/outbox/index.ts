/** outbox: typed events written with the change they announce, one row per subscribed destination, delivered by an in-process poller. Knows no module. */
export type { DeliveryState } from "./admin.ts";
export { createOutboxRouter, deliveryStates } from "./admin.ts";
export type { EventContract, EventHandlers, EventPublisher, OutboxEvent, Subscription } from "./contract.ts";
export { createEventPublisher, defineEvent, eventHandler, subscribe } from "./contract.ts";
export type { DataPlatform, DataPlatformEvent, HttpDataPlatformOptions } from "./data-platform.ts";
export { dataPlatformHandler, HttpDataPlatform } from "./data-platform.ts";
export { outboxErrors } from "./errors.ts";
export type { DeliverableEvent, ListenForNotifications, OutboxHandler, OutboxPoller, OutboxPollerConfig, OutboxPollerDeps, PollResult } from "./poller.ts";
export { createOutboxPoller, PermanentDeliveryError } from "./poller.ts";
