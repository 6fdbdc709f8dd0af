/** orders: place and pay in one transaction, the two-step flow, cancellation, history. */
export type { OrderStatus } from "./lifecycle.ts";
export { assertTransition, canTransition } from "./lifecycle.ts";
export { createOrdersRouter } from "./router.ts";
export type { CancelledOrder, OrderDetail, OrderLineView, OrderSummary, PendingOrder, PlacedOrder, RefundedOrder, ShippableOrder } from "./schema.ts";
export type { Actor, OrdersConfig, OrdersDeps, OrdersService, OrderWallet } from "./service.ts";
export { createOrdersService } from "./service.ts";
