/** cart: what a customer means to buy, checked against stock as it is added. */
export { cartErrors } from "./errors.ts";
export { createCartRouter } from "./router.ts";
export type { Cart, CartLine } from "./schema.ts";
export { MAX_CART_LINES, MAX_LINE_QUANTITY } from "./schema.ts";
export type { CartDeps, CartService } from "./service.ts";
export { createCartService } from "./service.ts";
