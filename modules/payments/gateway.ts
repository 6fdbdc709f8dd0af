/**
 * The card port: what orders need of the payment gateway to take a card payment (authorize at
 * placement, capture once the order committed, void an authorization no order took, refund a
 * captured one), and its HTTP adapter. Tests, the dev server and benchmarks point the adapter at
 * apps/fakes/payment-gateway.ts; the wallet's charges use the same gateway (modules/wallet/gateway.ts).
 *
 * Contract of the HTTP API (every POST carries an Idempotency-Key; the same key gets the same answer):
 *   POST {baseUrl}/v1/authorizations                 { userId, amount, currency }
 *     200 { status: "authorized", reference } | 402 { status: "declined", code, reason }
 *   POST {baseUrl}/v1/authorizations/{ref}/capture   200 { status: "captured" } | 409 { code: "AUTHORIZATION_VOIDED" }
 *   POST {baseUrl}/v1/authorizations/{ref}/void      200 { status: "voided" }   | 409 { code: "ALREADY_CAPTURED" }
 *   POST {baseUrl}/v1/authorizations/{ref}/refund    200 { status: "refunded" } | 409 { code: "NOT_CAPTURED" }
 *   GET  {baseUrl}/v1/authorizations/by-key/{key}    200 { status, reference } | { status: "declined", code, reason } | 404 not_found
 * Anything else (5xx, timeouts, unreadable bodies) → CardGatewayUnavailableError: the outcome is unknown.
 */
import { z } from "zod";
import { type JsonClient, type JsonEndpoint, jsonClient } from "../kernel/index.ts";

export type AuthorizationOutcome = { status: "authorized"; reference: string } | { status: "declined"; reason: string; code: string };

/** What the gateway decided for an authorization key; `not_found`: it never decided one with it. */
export type AuthorizationLookup = AuthorizationOutcome | { status: "captured" | "voided" | "refunded"; reference: string } | { status: "not_found" };

export interface CardGateway {
  /** Holds `amount` on the customer's card. Rejects with CardGatewayUnavailableError when the outcome is unknown. */
  authorize(request: { userId: number; amount: number; idempotencyKey: string }): Promise<AuthorizationOutcome>;
  /** Takes the authorized money. Rejects with CardGatewayRefusedError("AUTHORIZATION_VOIDED") when it was voided. */
  capture(request: { reference: string; idempotencyKey: string }): Promise<void>;
  /** Lets an uncaptured authorization go. Rejects with CardGatewayRefusedError("ALREADY_CAPTURED") once captured. */
  voidAuthorization(request: { reference: string; idempotencyKey: string }): Promise<void>;
  /** Gives captured money back to the card. Rejects with CardGatewayRefusedError("NOT_CAPTURED") before capture. */
  refund(request: { reference: string; idempotencyKey: string }): Promise<void>;
  /** What became of the authorization sent with `idempotencyKey` (recovery after a lost answer). */
  lookup(idempotencyKey: string): Promise<AuthorizationLookup>;
}

/** The gateway's answer is unknown: it may or may not have done it. */
export class CardGatewayUnavailableError extends Error {
  override name = "CardGatewayUnavailableError";
  constructor(
    readonly failure: "timeout" | "network" | "server_error" | "bad_response",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The gateway said no to a capture, void or refund because of the authorization's state. */
export class CardGatewayRefusedError extends Error {
  override name = "CardGatewayRefusedError";
  constructor(readonly code: "AUTHORIZATION_VOIDED" | "ALREADY_CAPTURED" | "NOT_CAPTURED" | "NOT_FOUND") {
    super(`payment gateway refused: ${code}`);
  }
}

const reference = z.string().min(1).max(200);
const authorizedBody = z.object({ status: z.literal("authorized"), reference });
const declinedBody = z.object({ status: z.literal("declined"), code: z.string().min(1).max(100), reason: z.string().max(500) });
const lookupBody = z.discriminatedUnion("status", [authorizedBody, declinedBody, z.object({ status: z.enum(["captured", "voided", "refunded"]), reference })]);
const refusalBody = z.object({ code: z.enum(["AUTHORIZATION_VOIDED", "ALREADY_CAPTURED", "NOT_CAPTURED"]) });

export class HttpCardGateway implements CardGateway {
  readonly #http: JsonClient;

  constructor(options: JsonEndpoint) {
    this.#http = jsonClient(
      options,
      "HttpCardGateway",
      (error) => new CardGatewayUnavailableError(error.kind, `payment gateway: ${error.message}`, { cause: error }),
    );
  }

  async authorize(request: { userId: number; amount: number; idempotencyKey: string }): Promise<AuthorizationOutcome> {
    const { status, body } = await this.#http.post("/v1/authorizations", request.idempotencyKey, {
      userId: request.userId,
      amount: request.amount,
      currency: "KRW",
    });
    const parsed = status === 200 ? authorizedBody.safeParse(body) : status === 402 ? declinedBody.safeParse(body) : null;
    if (parsed?.success) return parsed.data;
    throw unavailable(status, "an authorization");
  }

  capture(request: { reference: string; idempotencyKey: string }): Promise<void> {
    return this.#act("capture", request);
  }

  voidAuthorization(request: { reference: string; idempotencyKey: string }): Promise<void> {
    return this.#act("void", request);
  }

  refund(request: { reference: string; idempotencyKey: string }): Promise<void> {
    return this.#act("refund", request);
  }

  async lookup(idempotencyKey: string): Promise<AuthorizationLookup> {
    const { status, body } = await this.#http.get(`/v1/authorizations/by-key/${encodeURIComponent(idempotencyKey)}`);
    if (status === 404) return { status: "not_found" };
    const parsed = lookupBody.safeParse(body);
    if (status === 200 && parsed.success) return parsed.data;
    throw unavailable(status, "a lookup");
  }

  async #act(action: "capture" | "void" | "refund", request: { reference: string; idempotencyKey: string }): Promise<void> {
    const { status, body } = await this.#http.post(`/v1/authorizations/${encodeURIComponent(request.reference)}/${action}`, request.idempotencyKey, {});
    if (status === 200) return;
    if (status === 404) throw new CardGatewayRefusedError("NOT_FOUND");
    const refusal = status === 409 ? refusalBody.safeParse(body) : null;
    if (refusal?.success) throw new CardGatewayRefusedError(refusal.data.code);
    throw unavailable(status, `a ${action}`);
  }
}

function unavailable(status: number, what: string): CardGatewayUnavailableError {
  return new CardGatewayUnavailableError(status >= 500 ? "server_error" : "bad_response", `payment gateway answered ${status} to ${what}`);
}
