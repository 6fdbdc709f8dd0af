/**
 * The payment gateway port (a card processor that takes money for a wallet charge) and its HTTP
 * adapter. The service talks only to the port; tests, the dev server and benchmarks point the
 * adapter at apps/fakes/payment-gateway.ts.
 *
 * Contract of the HTTP API the adapter speaks:
 *   POST {baseUrl}/v1/charges                  Idempotency-Key header, body { userId, amount, currency }
 *     200 { status: "approved", reference }
 *     402 { status: "declined", code, reason }
 *     anything else (5xx, 409 key mismatch, garbage) → PaymentGatewayUnavailableError
 *   POST {baseUrl}/v1/charges/{reference}/void  Idempotency-Key header
 *     200 { status: "voided", reference }
 *     anything else → PaymentGatewayUnavailableError
 *   GET  {baseUrl}/v1/charges/by-key/{idempotencyKey}   what became of a charge sent with that key
 *     200 { status: "approved" | "voided", reference } | { status: "declined", code, reason }
 *     404 { status: "not_found" }    the gateway never decided a charge with this key
 *     anything else → PaymentGatewayUnavailableError
 * The same Idempotency-Key always gets the same answer from the gateway, which is what makes a
 * retry after a lost answer safe.
 */

import { z } from "zod";
import { type JsonClient, type JsonEndpoint, jsonClient } from "../kernel/index.ts";

export interface ChargeRequest {
  userId: number;
  /** Integer won, > 0. */
  amount: number;
  /** The gateway answers the same key with the same answer and charges at most once. */
  idempotencyKey: string;
}

export type ChargeOutcome = { status: "approved"; reference: string } | { status: "declined"; reason: string; code: string };

export interface VoidRequest {
  reference: string;
  idempotencyKey: string;
  reason: string;
}

/** What the gateway decided for a key; `not_found`: it never charged (nor declined) with it. */
export type ChargeLookup = ChargeOutcome | { status: "voided"; reference: string } | { status: "not_found" };

export interface PaymentGateway {
  /**
   * Resolves with the gateway's decision; rejects with PaymentGatewayUnavailableError when the
   * outcome is unknown (timeout, network, 5xx, unreadable answer).
   */
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  /** Cancels an approved charge that the wallet could not credit. Rejects like `charge`. */
  voidCharge(request: VoidRequest): Promise<{ status: "voided"; reference: string }>;
  /**
   * Asks what became of a charge sent with `idempotencyKey`, for recovery after an answer was lost
   * (a timeout, or a process that died waiting). Rejects like `charge` when the gateway cannot say.
   */
  lookup(idempotencyKey: string): Promise<ChargeLookup>;
}

export type GatewayFailure = "timeout" | "network" | "server_error" | "bad_response";

/** The gateway's answer is unknown: it may or may not have charged. */
export class PaymentGatewayUnavailableError extends Error {
  override name = "PaymentGatewayUnavailableError";
  constructor(
    readonly failure: GatewayFailure,
    message: string,
    readonly httpStatus?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Base URL, whole-call timeout, optional API key and fetch: see JsonEndpoint. */
export type HttpPaymentGatewayOptions = JsonEndpoint;

const approvedBody = z.object({ status: z.literal("approved"), reference: z.string().min(1).max(200) });
const declinedBody = z.object({ status: z.literal("declined"), code: z.string().min(1).max(100), reason: z.string().max(500) });
const voidedBody = z.object({ status: z.literal("voided"), reference: z.string().min(1).max(200) });
const lookupBody = z.discriminatedUnion("status", [approvedBody, declinedBody, voidedBody]);

export class HttpPaymentGateway implements PaymentGateway {
  readonly #http: JsonClient;

  constructor(options: HttpPaymentGatewayOptions) {
    this.#http = jsonClient(
      options,
      "HttpPaymentGateway",
      (error) => new PaymentGatewayUnavailableError(error.kind, `payment gateway: ${error.message}`, undefined, { cause: error }),
    );
  }

  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    const { status, body } = await this.#http.post("/v1/charges", request.idempotencyKey, { userId: request.userId, amount: request.amount, currency: "KRW" });
    if (status === 200) {
      const parsed = approvedBody.safeParse(body);
      if (parsed.success) return { status: "approved", reference: parsed.data.reference };
    } else if (status === 402) {
      const parsed = declinedBody.safeParse(body);
      if (parsed.success) return { status: "declined", code: parsed.data.code, reason: parsed.data.reason };
    } else {
      throw new PaymentGatewayUnavailableError(status >= 500 ? "server_error" : "bad_response", `payment gateway answered ${status}`, status);
    }
    throw new PaymentGatewayUnavailableError("bad_response", `payment gateway answered ${status} with an unexpected body`, status);
  }

  async voidCharge(request: VoidRequest): Promise<{ status: "voided"; reference: string }> {
    const { status, body } = await this.#http.post(`/v1/charges/${encodeURIComponent(request.reference)}/void`, request.idempotencyKey, {
      reason: request.reason,
    });
    const parsed = voidedBody.safeParse(body);
    if (status === 200 && parsed.success) return { status: "voided", reference: parsed.data.reference };
    throw new PaymentGatewayUnavailableError(status >= 500 ? "server_error" : "bad_response", `payment gateway answered ${status} to a void`, status);
  }

  async lookup(idempotencyKey: string): Promise<ChargeLookup> {
    const { status, body } = await this.#http.get(`/v1/charges/by-key/${encodeURIComponent(idempotencyKey)}`);
    if (status === 404) return { status: "not_found" };
    if (status === 200) {
      const parsed = lookupBody.safeParse(body);
      if (parsed.success) return parsed.data;
    }
    throw new PaymentGatewayUnavailableError(status >= 500 ? "server_error" : "bad_response", `payment gateway answered ${status} to a lookup`, status);
  }
}
