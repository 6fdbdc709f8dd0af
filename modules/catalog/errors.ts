/** The catalog and inventory refusals (copy modules/orders/errors.ts for the shape). */
import { defineErrors, refusal } from "../kernel/index.ts";
import type { InsufficientItem } from "./schema.ts";

export const catalogErrors = defineErrors({
  PRODUCT_NOT_FOUND: refusal<{ productId: number; productIds?: number[] }>({ kind: "not_found", message: "No such product", ref: "P001" }),
  INSUFFICIENT_STOCK: refusal<{ insufficientItems: InsufficientItem[]; availableStock?: number }>({
    kind: "invalid",
    message: "Not enough stock",
    ref: "P002",
  }),
  INVALID_STOCK_CHANGE: refusal<{ productId: number; change: number; availableStock: number }>({ kind: "invalid", message: "Stock cannot go below zero" }),
  PRODUCT_IN_STOCK: refusal<{ productId: number; stock: number }>({ kind: "conflict", message: "The product is in stock; no restock sign-up needed" }),
  ALREADY_SUBSCRIBED: refusal<{ productId: number }>({ kind: "conflict", message: "You already signed up for this product" }),
});
