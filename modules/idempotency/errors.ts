/** The idempotency keys' refusals (copy modules/orders/errors.ts for the shape); any procedure that takes a key may answer them. */
import { defineErrors, refusal } from "../kernel/index.ts";

export const idempotencyErrors = defineErrors({
  IDEMPOTENCY_KEY_REUSED: refusal<{ key: string }>({ kind: "unprocessable", message: "This idempotency key was used for a different request" }),
  IDEMPOTENCY_IN_PROGRESS: refusal<{ key: string }>({ kind: "conflict", message: "A request with this idempotency key is still running" }),
});
