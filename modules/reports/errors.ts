/** The reports' refusals (copy modules/orders/errors.ts for the shape). */
import { defineErrors, refusal } from "../kernel/index.ts";

export const reportsErrors = defineErrors({
  INVALID_PERIOD: refusal<{ from: Date; to: Date; maxDays?: number }>({
    kind: "invalid",
    message: "The period must start before it ends and span at most 366 days",
  }),
});
