/** The events the catalog emits, one contract each (see modules/orders/events.ts for the pattern). */
import { z } from "zod";
import { defineEvent } from "../outbox/index.ts";

const productId = z.number().int().positive();

/** The stock of a product fell below its threshold. */
export const inventoryLowStock = defineEvent(
  "inventory.low_stock",
  "product",
  z.strictObject({ productId, quantity: z.number().int().nonnegative(), threshold: z.number().int().nonnegative() }),
);

/**
 * A product came back from zero and a customer had signed up for it. Each sign-up is its own
 * aggregate: one customer's notice need not wait behind another's.
 */
export const inventoryBackInStock = defineEvent(
  "inventory.back_in_stock",
  "restock_signup",
  z.strictObject({ productId, userId: z.number().int().positive(), channel: z.enum(["email", "sms"]), signupId: z.number().int().positive() }),
);
