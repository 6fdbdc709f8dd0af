/** The outbox console's refusals (copy modules/orders/errors.ts for the shape). */
import { defineErrors, refusal } from "../kernel/index.ts";

export const outboxErrors = defineErrors({
  OUTBOX_EVENT_NOT_FOUND: refusal<{ eventId: string }>({ kind: "not_found", message: "No such outbox event" }),
  OUTBOX_EVENT_NOT_RETRYABLE: refusal<{ eventId: string; status: "pending" | "sent" | "dead"; leasedUntil: Date | null }>({
    kind: "conflict",
    message: "The event was sent already, or is being sent right now",
  }),
});
