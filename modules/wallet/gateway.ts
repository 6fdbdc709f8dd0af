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
 * The same Idempotency-Key always gets the same answer from the gateway, which is what makes a
 * retry after a lost answer safe.
 */
import { z } from "zod";

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

export interface PaymentGateway {
  /**
   * Resolves with the gateway's decision; rejects with PaymentGatewayUnavailableError when the
   * outcome is unknown (timeout, network, 5xx, unreadable answer).
   */
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  /** Cancels an approved charge that the wallet could not credit. Rejects like `charge`. */
  voidCharge(request: VoidRequest): Promise<{ status: "voided"; reference: string }>;
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

export interface HttpPaymentGatewayOptions {
  /** e.g. http://127.0.0.1:4010 (no trailing /v1). */
  baseUrl: string;
  /** Whole-call budget (connect, answer and body); past it the call fails with failure "timeout". */
  timeoutMs: number;
  /** Sent as `Authorization: Bearer …` when set. */
  apiKey?: string;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

const approvedBody = z.object({ status: z.literal("approved"), reference: z.string().min(1).max(200) });
const declinedBody = z.object({ status: z.literal("declined"), code: z.string().min(1).max(100), reason: z.string().max(500) });
const voidedBody = z.object({ status: z.literal("voided"), reference: z.string().min(1).max(200) });

export class HttpPaymentGateway implements PaymentGateway {
  readonly #baseUrl: string;
  readonly #timeoutMs: number;
  readonly #apiKey: string | undefined;
  readonly #fetch: typeof fetch;

  constructor(options: HttpPaymentGatewayOptions) {
    if (!Number.isInteger(options.timeoutMs) || options.timeoutMs <= 0) throw new Error("HttpPaymentGateway: timeoutMs must be a positive integer");
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs;
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? fetch;
  }

  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    const { status, body } = await this.#post("/v1/charges", request.idempotencyKey, { userId: request.userId, amount: request.amount, currency: "KRW" });
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
    const { status, body } = await this.#post(`/v1/charges/${encodeURIComponent(request.reference)}/void`, request.idempotencyKey, { reason: request.reason });
    const parsed = voidedBody.safeParse(body);
    if (status === 200 && parsed.success) return { status: "voided", reference: parsed.data.reference };
    throw new PaymentGatewayUnavailableError(status >= 500 ? "server_error" : "bad_response", `payment gateway answered ${status} to a void`, status);
  }

  async #post(path: string, idempotencyKey: string, payload: unknown): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey };
    if (this.#apiKey) headers.Authorization = `Bearer ${this.#apiKey}`;
    let response: Response;
    try {
      // One signal for the whole exchange: it also aborts a body that never finishes.
      const signal = AbortSignal.timeout(this.#timeoutMs);
      response = await this.#fetch(`${this.#baseUrl}${path}`, { method: "POST", headers, body: JSON.stringify(payload), signal });
      const text = await response.text();
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = null;
      }
      return { status: response.status, body };
    } catch (error) {
      if (isTimeout(error))
        throw new PaymentGatewayUnavailableError("timeout", `payment gateway did not answer within ${this.#timeoutMs} ms`, undefined, { cause: error });
      throw new PaymentGatewayUnavailableError("network", `payment gateway unreachable: ${String(error)}`, undefined, { cause: error });
    }
  }
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
}
