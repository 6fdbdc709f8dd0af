/** orders: place and pay in one transaction, the two-step flow, cancellation, history. */
export { ordersErrors } from "./errors.ts";
export type { OrderPaidPayload } from "./events.ts";
export { orderCancelled, orderPaid, orderRefunded } from "./events.ts";
export type { OrderStatus } from "./lifecycle.ts";
export { allowedTransitions, canTransition, isPaid } from "./lifecycle.ts";
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
  ShippableOrder,
} from "./schema.ts";
export type { Actor, OrderCard, OrdersConfig, OrdersDeps, OrdersService, OrderWallet, PaymentChoice } from "./service.ts";
export { createOrdersService, defaultOrdersConfig } from "./service.ts";
