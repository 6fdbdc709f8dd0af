/**
 * The orders module's refusals. To add a code: one entry here (kind, message, seeds' ref if any, and
 * the details it carries), a row in docs/api.md's error catalogue, and a line in apps/web/shared/errors.tsx.
 * Never rename a code: clients key on it. Throw with `ordersErrors.ORDER_NOT_FOUND.create({ orderId })`.
 */
import type { OrderStatus } from "../../db/index.ts";
import { defineErrors, refusal } from "../kernel/index.ts";

export const ordersErrors = defineErrors({
  ORDER_NOT_FOUND: refusal<{ orderId: number }>({ kind: "not_found", message: "No such order" }),
  // attempted: the status asked for, or an edit that only some states allow.
  INVALID_ORDER_STATE: refusal<{
    orderId: number;
    status: OrderStatus;
    attempted: OrderStatus | "changeAddress" | "editLines";
    allowed: readonly OrderStatus[];
  }>({
    kind: "conflict",
    message: "The order cannot do this in its current state",
  }),
  ORDER_PAYMENT_EXPIRED: refusal<{ orderId: number; paymentDueAt: Date | null }>({ kind: "conflict", message: "The order was not paid in time" }),
  PAYMENT_SPLIT_INVALID: refusal<{ walletAmount: number; finalAmount: number }>({
    kind: "invalid",
    message: "The wallet part of a split payment is more than the order's total",
  }),
  // Deleting an account (modules/customers) waits until its orders are finished.
  ACCOUNT_HAS_OPEN_ORDERS: refusal<{ userId: number; orderIds: number[] }>({ kind: "conflict", message: "The account has orders that are not finished yet" }),
});
