/** orders: place and pay in one transaction, the two-step flow, cancellation, history. */
export type { OrderStatus } from "./lifecycle.ts";
export { allowedTransitions, canTransition, isPaid } from "./lifecycle.ts";
export { createOrdersRouter } from "./router.ts";
export type {
  CancelledOrder,
  OrderDetail,
  OrderLineView,
  OrderSummary,
  PendingOrder,
  PlacedOrder,
  RefundedOrder,
  ReorderResult,
  ShippableOrder,
} from "./schema.ts";
export type { Actor, OrdersConfig, OrdersDeps, OrdersService, OrderWallet } from "./service.ts";
export { createOrdersService, defaultOrdersConfig } from "./service.ts";
export type { OrderAddressBook } from "./workflow.ts";
