/**
 * The external data platform (seed 004 §2, §6.3): paid, cancelled and refunded orders and
 * shipment steps are sent to it. The event id travels as `Idempotency-Key`, so an event sent
 * twice (a retry after a lost answer, an expired lease) is applied once downstream.
 */
import { checkEndpoint, HttpTransportError, type JsonAnswer, type JsonEndpoint, postJson } from "../kernel/index.ts";
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
  readonly #endpoint: HttpDataPlatformOptions;
  constructor(options: HttpDataPlatformOptions) {
    checkEndpoint(options, "HttpDataPlatform");
    this.#endpoint = options;
  }

  async publish(event: DataPlatformEvent): Promise<void> {
    let answer: JsonAnswer;
    try {
      answer = await postJson(this.#endpoint, "/v1/events", event.id, event);
    } catch (error) {
      if (error instanceof HttpTransportError)
        throw new Error(error.kind === "timeout" ? `data platform timed out: ${error.message}` : `data platform ${error.message}`, { cause: error });
      throw error;
    }
    const { status, text } = answer;
    if (status >= 200 && status < 300) return;
    const excerpt = text.slice(0, 200);
    // 4xx other than timeouts and throttling: the event itself is refused, retrying will not help.
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
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
