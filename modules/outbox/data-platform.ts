/**
 * The external data platform (seed 004 §2, §6.3): paid, cancelled and refunded orders and
 * shipment steps are sent to it. The event id travels as `Idempotency-Key`, so an event sent
 * twice (a retry after a lost answer, an expired lease) is applied once downstream.
 */
import { type JsonClient, type JsonEndpoint, jsonClient, refusedForGood } from "../kernel/index.ts";
import { type DeliverableEvent, type OutboxHandler, PermanentDeliveryError } from "./poller.ts";

export interface DataPlatformEvent {
  id: string;
  type: string;
  occurredAt: Date;
  aggregate: { type: string; id: string };
  /** The event's payload, as its producer's contract defines it. */
  data: unknown;
}

export interface DataPlatform {
  /** Resolves once the platform accepted the event; throws otherwise. */
  publish(event: DataPlatformEvent): Promise<void>;
}

/** Where the platform listens (events go to /v1/events). */
export type HttpDataPlatformOptions = JsonEndpoint;

export class HttpDataPlatform implements DataPlatform {
  readonly #http: JsonClient;
  constructor(options: HttpDataPlatformOptions) {
    this.#http = jsonClient(
      options,
      "HttpDataPlatform",
      (error) => new Error(error.kind === "timeout" ? `data platform timed out: ${error.message}` : `data platform ${error.message}`, { cause: error }),
    );
  }

  async publish(event: DataPlatformEvent): Promise<void> {
    const { status, text } = await this.#http.post("/v1/events", event.id, event);
    if (status >= 200 && status < 300) return;
    const excerpt = text.slice(0, 200);
    // 4xx other than timeouts and throttling: the event itself is refused, retrying will not help.
    if (refusedForGood(status)) {
      throw new PermanentDeliveryError(`data platform refused the event: HTTP ${status} ${excerpt}`);
    }
    throw new Error(`data platform answered HTTP ${status} ${excerpt}`);
  }
}

export function dataPlatformHandler(platform: DataPlatform): OutboxHandler {
  return (event: DeliverableEvent) =>
    platform.publish({
      id: event.id,
      type: event.type,
      occurredAt: event.createdAt,
      aggregate: { type: event.aggregateType, id: event.aggregateId },
      data: event.payload,
    });
}
