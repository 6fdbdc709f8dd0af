/**
 * The carrier's webhook endpoint as a plain fetch handler, so the composition root mounts it on
 * Hono (`app.post("/webhooks/carrier", (c) => route(c.req.raw))`) and tests call it directly.
 *
 * The signature covers the exact bytes, so the body is read raw (never parsed and re-serialized),
 * with a size limit enforced while reading (a missing or lying Content-Length does not get past it).
 *
 *   200 { status: "applied" | "duplicate" }
 *   400 { error: { code: "VALIDATION_FAILED", message, fieldErrors } }   signed, but not the contract
 *   401 { error: { code: "INVALID_SIGNATURE", message } }                missing, wrong or stale signature
 *   404 { error: { code: "SHIPMENT_NOT_FOUND", message } }               unknown tracking number: the carrier
 *        retries, which covers an update that overtook our own booking commit
 *   422 { error: { code, message } }                                    signed and well-formed, but a rule refuses it
 *   405 / 413 / 415, and 500 { error: { code: "INTERNAL_SERVER_ERROR" } } with no detail (logged here)
 */
import type { Logger } from "../kernel/index.ts";
import { isDomainError } from "../kernel/index.ts";
import { shippingErrors } from "./errors.ts";
import { InvalidWebhookPayloadError, type ShippingService } from "./service.ts";

export interface CarrierWebhookRouteOptions {
  /** Default 64 KiB: a tracking update is a few hundred bytes. */
  maxBodyBytes?: number;
  logger?: Logger;
}

const SIGNATURE_HEADER = "x-carrier-signature";

function errorResponse(status: number, code: string, message: string, extra: Record<string, unknown> = {}): Response {
  return Response.json({ error: { code, message, ...extra } }, { status });
}

/** The body as text, or null when it is larger than `limit` bytes. Throws on a body that is not UTF-8. */
async function readLimited(request: Request, limit: number): Promise<string | null> {
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) return null;
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
}

export function createCarrierWebhookRoute(service: Pick<ShippingService, "handleCarrierWebhook">, options: CarrierWebhookRouteOptions = {}) {
  const limit = options.maxBodyBytes ?? 64 * 1024;
  const { logger } = options;

  return async function carrierWebhook(request: Request): Promise<Response> {
    if (request.method !== "POST") return errorResponse(405, "METHOD_NOT_ALLOWED", "Use POST");
    const type = request.headers.get("content-type");
    if (type && !/^application\/json\b/i.test(type)) return errorResponse(415, "UNSUPPORTED_MEDIA_TYPE", "Send application/json");
    let rawBody: string | null;
    try {
      rawBody = await readLimited(request, limit);
    } catch {
      return errorResponse(400, "VALIDATION_FAILED", "The body could not be read as UTF-8", { fieldErrors: null });
    }
    if (rawBody === null) return errorResponse(413, "PAYLOAD_TOO_LARGE", "Request body too large");
    try {
      const result = await service.handleCarrierWebhook(rawBody, request.headers.get(SIGNATURE_HEADER));
      return Response.json(result, { status: 200 });
    } catch (error) {
      if (shippingErrors.INVALID_SIGNATURE.is(error)) {
        logger?.warn({ reason: error.details.reason }, "carrier webhook refused: invalid signature");
        return errorResponse(401, "INVALID_SIGNATURE", shippingErrors.INVALID_SIGNATURE.message);
      }
      if (error instanceof InvalidWebhookPayloadError) return errorResponse(400, error.code, error.message, { fieldErrors: error.fieldErrors });
      if (shippingErrors.SHIPMENT_NOT_FOUND.is(error)) {
        logger?.warn({ trackingNumber: error.details.trackingNumber }, "carrier webhook for an unknown tracking number");
        return errorResponse(404, "SHIPMENT_NOT_FOUND", shippingErrors.SHIPMENT_NOT_FOUND.message);
      }
      // Any other rule said no (e.g. the order can no longer move that way): retrying will not help,
      // so answer 422 with the code rather than a 500 the carrier would retry forever.
      if (isDomainError(error)) {
        logger?.warn({ domainCode: error.domainCode, details: error.details }, "carrier webhook not applicable");
        return errorResponse(422, error.domainCode, error.message);
      }
      logger?.error({ err: error }, "carrier webhook failed");
      return errorResponse(500, "INTERNAL_SERVER_ERROR", "Internal server error");
    }
  };
}
