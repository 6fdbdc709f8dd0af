/** The identity module's refusals (copy modules/orders/errors.ts for the shape). It also throws kernelErrors' FORBIDDEN and RATE_LIMITED. */
import { defineErrors, refusal } from "../kernel/index.ts";

export const identityErrors = defineErrors({
  INVALID_CREDENTIALS: refusal({ kind: "unauthenticated", message: "Email or password is wrong" }),
  ACCOUNT_DEACTIVATED: refusal({ kind: "forbidden", message: "This account is deactivated" }),
  EMAIL_TAKEN: refusal<{ email: string }>({ kind: "conflict", message: "This email is already registered" }),
  USER_NOT_FOUND: refusal<{ userId: number }>({ kind: "not_found", message: "No such customer" }),
});
