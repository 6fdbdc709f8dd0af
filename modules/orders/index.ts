/** orders: place and pay in one transaction, the two-step flow, cancellation, history. */
export { ordersErrors } from "./errors.ts";
export type { OrderPaidPayload } from "./events.ts";
export { orderCancelled, orderPaid, orderRefunded } from "./events.ts";
export type { OrderStatus } from "./lifecycle.ts";
export { assertTransition, canTransition } from "./lifecycle.ts";
export { createOrdersRouter } from "./router.ts";
export type {
  CancelledOrder,
  OrderDetail,
  OrderLineView,
  OrderPaymentView,
  OrderRefundView,
  OrderSummary,
  PendingOrder,
  PlacedOrder,
  RefundedOrder,
  ReorderResult,
  ShippableOrder,
} from "./schema.ts";
export type { Actor, OrderCard, OrdersConfig, OrdersDeps, OrdersService, OrderWallet, PaymentChoice } from "./service.ts";
export { createOrdersService } from "./service.ts";
export type { OrderAddressBook } from "./workflow.ts";
