import { z } from "zod";
import { idSchema, singleLineText } from "../kernel/schemas.ts";

/** The customer confirms with their password: a stolen session alone cannot erase an account. */
export const deleteMyAccountInput = z.strictObject({ password: z.string().min(1).max(128) });

export const adminDeleteCustomerInput = z.strictObject({ userId: idSchema, reason: singleLineText().trim().min(1).max(500) });
