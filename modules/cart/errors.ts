/** The cart's refusals (copy modules/orders/errors.ts for the shape). Orders throws CART_EMPTY when it places a cart. */
import { defineErrors, refusal } from "../kernel/index.ts";

export const cartErrors = defineErrors({
  CART_ITEM_NOT_FOUND: refusal<{ productId: number }>({ kind: "not_found", message: "The product is not in your cart" }),
  CART_FULL: refusal<{ maxLines: number }>({ kind: "invalid", message: "Your cart has too many lines" }),
  CART_EMPTY: refusal({ kind: "invalid", message: "Your cart is empty" }),
  CART_LINE_LIMIT: refusal<{ productId: number; maxQuantity: number }>({ kind: "invalid", message: "A cart line cannot hold that many units" }),
});
