/** Order states and the moves between them, in one place. Anything else is INVALID_ORDER_STATE. */
import type { OrderStatus } from "../../db/index.ts";

import { ordersErrors } from "./errors.ts";

export type { OrderStatus };

export const allowedTransitions: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  pending_payment: ["paid", "cancelled", "expired"],
  paid: ["preparing", "shipped", "cancelled"],
  preparing: ["shipped", "cancelled"],
  shipped: ["delivered"],
  delivered: ["refunded"],
  cancelled: [],
  refunded: [],
  expired: [],
};

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return allowedTransitions[from].includes(to);
}

export function assertTransition(orderId: number, from: OrderStatus, to: OrderStatus): void {
  if (!canTransition(from, to)) throw ordersErrors.INVALID_ORDER_STATE.create({ orderId, status: from, attempted: to, allowed: allowedTransitions[from] });
}

/** Money was taken for the order (and must go back if it is cancelled). */
export function isPaid(status: OrderStatus): boolean {
  return status === "paid" || status === "preparing" || status === "shipped" || status === "delivered";
}
