/** The webhooks module's refusals (copy modules/orders/errors.ts for the shape). */
import { defineErrors, refusal } from "../kernel/index.ts";

export const webhooksErrors = defineErrors({
  WEBHOOK_ENDPOINT_NOT_FOUND: refusal<{ endpointId: number }>({ kind: "not_found", message: "No such webhook endpoint" }),
  WEBHOOK_TARGET_NOT_ALLOWED: refusal<{ url: string; reason: string }>({ kind: "invalid", message: "Webhooks cannot be sent to this address" }),
});
