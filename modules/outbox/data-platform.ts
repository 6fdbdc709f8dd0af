/**
 * The external data platform (seed 004 §2, §6.3): paid, cancelled and refunded orders and
 * shipment steps are sent to it. The event id travels as `Idempotency-Key`, so an event sent
 * twice (a retry after a lost answer, an expired lease) is applied once downstream.
 */
import { type DeliverableEvent, type OutboxHandler, PermanentDeliveryError } from "./poller.ts";

export interface DataPlatformEvent {
  id: string;
  type: string;
  occurredAt: Date;
  aggregate: { type: string; id: string };
  data: Record<string, unknown>;
}

export interface DataPlatform {
  /** Resolves once the platform accepted the event; throws otherwise. */
  publish(event: DataPlatformEvent): Promise<void>;
}

export interface HttpDataPlatformOptions {
  /** e.g. http://127.0.0.1:4020 (events go to /v1/events). */
  baseUrl: string;
  timeoutMs: number;
  apiKey?: string;
  fetch?: typeof fetch;
}

export class HttpDataPlatform implements DataPlatform {
  readonly #options: HttpDataPlatformOptions;
  constructor(options: HttpDataPlatformOptions) {
    this.#options = options;
  }

  async publish(event: DataPlatformEvent): Promise<void> {
    const { baseUrl, timeoutMs, apiKey } = this.#options;
    const doFetch = this.#options.fetch ?? fetch;
    let response: Response;
    try {
      response = await doFetch(`${baseUrl.replace(/\/$/, "")}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": event.id, ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      throw new Error(timedOut ? `data platform timed out after ${timeoutMs} ms` : `data platform unreachable: ${String(error)}`);
    }
    if (response.ok) return;
    const text = (await response.text().catch(() => "")).slice(0, 200);
    // 4xx other than timeouts and throttling: the event itself is refused, retrying will not help.
    if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
      throw new PermanentDeliveryError(`data platform refused the event: HTTP ${response.status} ${text}`);
    }
    throw new Error(`data platform answered HTTP ${response.status} ${text}`);
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
