/** outbox: events written in the same transaction as the change they announce. */
export type { OutboxEvent } from "./service.ts";
export { enqueueEvents } from "./service.ts";
