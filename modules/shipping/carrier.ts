/**
 * The carrier port (the parcel company that books, moves and delivers a shipment) and its HTTP
 * adapter. The service talks only to the port; tests and the dev server point the adapter at
 * apps/fakes/carrier.ts.
 *
 * Contract of the HTTP API the adapter speaks:
 *   POST {baseUrl}/v1/shipments                      Idempotency-Key header, body { orderId, address, items }
 *     2xx { carrier, trackingNumber, status }         the same key always answers the same booking
 *   POST {baseUrl}/v1/shipments/{trackingNumber}/cancel
 *     2xx { status: "cancelled", trackingNumber }     cancelling twice is fine
 *     409 { code: "ALREADY_IN_TRANSIT" }              the parcel left: CarrierTooLateError
 *
 * How failures come out (the outbox poller decides from the type):
 *   network failure, timeout, 5xx, 408, 429, an unreadable 2xx  → plain Error: retried later
 *   any other 4xx (bad address, unknown tracking number, ...)    → PermanentDeliveryError: dead at once
 */

import { z } from "zod";
import { type JsonClient, type JsonEndpoint, jsonClient, refusedForGood } from "../kernel/index.ts";
import { PermanentDeliveryError } from "../outbox/index.ts";

export interface CarrierItem {
  productId: number;
  productName: string;
  quantity: number;
}

export interface CreateShipmentRequest {
  /** The carrier answers the same key with the same booking: a retried request books once. */
  idempotencyKey: string;
  orderId: number;
  address: string;
  items: CarrierItem[];
}

export interface CarrierBooking {
  /** The carrier's name as it reports it (stored on the shipment). */
  carrier: string;
  trackingNumber: string;
}

export interface Carrier {
  createShipment(request: CreateShipmentRequest): Promise<CarrierBooking>;
  /** Resolves once the booking is cancelled (or already was); CarrierTooLateError once the parcel is on its way. */
  cancelShipment(request: { trackingNumber: string }): Promise<void>;
}

/** The carrier refused to cancel: the parcel is already in transit (or delivered). Retrying will not help. */
export class CarrierTooLateError extends Error {
  override name = "CarrierTooLateError";
  readonly code = "SHIPMENT_ALREADY_IN_TRANSIT";
  constructor(readonly trackingNumber: string) {
    super(`the carrier can no longer cancel ${trackingNumber}: it is already in transit`);
  }
}

/** Base URL, whole-call timeout, optional API key and fetch: see JsonEndpoint. */
export type HttpCarrierOptions = JsonEndpoint;

const bookingBody = z.object({ carrier: z.string().min(1).max(100), trackingNumber: z.string().min(1).max(100) });

export class HttpCarrier implements Carrier {
  readonly #http: JsonClient;

  constructor(options: HttpCarrierOptions) {
    // Retryable: the outbox tries again with the same key.
    this.#http = jsonClient(options, "HttpCarrier", (error) => new Error(`carrier: ${error.message}`, { cause: error }));
  }

  async createShipment(request: CreateShipmentRequest): Promise<CarrierBooking> {
    const { status, body, text } = await this.#http.post("/v1/shipments", request.idempotencyKey, {
      orderId: request.orderId,
      address: request.address,
      items: request.items,
    });
    if (status >= 200 && status < 300) {
      const parsed = bookingBody.safeParse(body);
      // A 2xx we cannot read: the booking may exist; a retry with the same key gets it back.
      if (!parsed.success) throw new Error(`carrier answered ${status} with an unreadable booking: ${text.slice(0, 200)}`);
      return parsed.data;
    }
    throw failure("create a shipment", status, text);
  }

  async cancelShipment(request: { trackingNumber: string }): Promise<void> {
    const path = `/v1/shipments/${encodeURIComponent(request.trackingNumber)}/cancel`;
    const { status, text } = await this.#http.post(path, `cancel:${request.trackingNumber}`, {});
    if (status >= 200 && status < 300) return;
    if (status === 409) throw new CarrierTooLateError(request.trackingNumber);
    throw failure(`cancel ${request.trackingNumber}`, status, text);
  }
}

/** 4xx other than timeouts and throttling: the request itself is refused, retrying will not help. */
function failure(what: string, status: number, text: string): Error {
  const message = `carrier refused to ${what}: HTTP ${status} ${text.slice(0, 200)}`.trim();
  if (refusedForGood(status)) return new PermanentDeliveryError(message);
  return new Error(`carrier could not ${what}: HTTP ${status} ${text.slice(0, 200)}`.trim());
}
