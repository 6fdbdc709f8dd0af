import { z } from "zod";
import { cursorSchema, idempotencyKeySchema, idSchema, instantSchema, multilineText, pageLimitSchema, singleLineText } from "../kernel/index.ts";
import type { OrderStatus } from "./lifecycle.ts";

const orderItemSchema = z.strictObject({ productId: idSchema, quantity: z.number().int().min(1).max(99) });

const shippingAddressSchema = multilineText().trim().min(5).max(500);

/**
 * Items given explicitly, or (without `items`) the whole cart. The address: given as text, or an
 * address book entry by `addressId`, or (with neither) the address book's default.
 */
export const placeOrderInput = z
  .strictObject({
    items: z.array(orderItemSchema).min(1).max(50).optional(),
    shippingAddress: shippingAddressSchema.optional(),
    addressId: idSchema.optional(),
    userCouponId: idSchema.optional(),
    idempotencyKey: idempotencyKeySchema.optional(),
  })
  .refine((v) => v.shippingAddress === undefined || v.addressId === undefined, "give shippingAddress or addressId, not both");
export type PlaceOrderInput = z.infer<typeof placeOrderInput>;

/** A new address for an order not yet booked with the carrier: as text, or an address book entry. */
export const changeAddressInput = z
  .strictObject({ orderId: idSchema, shippingAddress: shippingAddressSchema.optional(), addressId: idSchema.optional() })
  .refine((v) => (v.shippingAddress === undefined) !== (v.addressId === undefined), "give shippingAddress or addressId (one of them)");
export const adminChangeAddressInput = z.strictObject({ orderId: idSchema, shippingAddress: shippingAddressSchema });

/** An operator's edit of an unpaid order: the whole new list of lines. */
export const adminEditLinesInput = z.strictObject({
  orderId: idSchema,
  items: z.array(orderItemSchema).min(1).max(50),
  reason: singleLineText().trim().min(1).max(500),
});

export const payOrderInput = z.strictObject({ orderId: idSchema, idempotencyKey: idempotencyKeySchema.optional() });
export const orderIdInput = z.strictObject({ orderId: idSchema });
export const cancelOrderInput = z.strictObject({ orderId: idSchema, reason: singleLineText().trim().min(1).max(500).optional() });
export const adminCancelOrderInput = z.strictObject({ orderId: idSchema, reason: singleLineText().trim().min(1).max(500) });
export const adminRefundOrderInput = z.strictObject({
  orderId: idSchema,
  reason: singleLineText().trim().min(1).max(500),
  /** The goods came back to the warehouse: put them back in stock. */
  restock: z.boolean().default(false),
});

const statusSchema = z.enum(["pending_payment", "paid", "preparing", "shipped", "delivered", "cancelled", "refunded", "expired"]);

export const myOrdersInput = z.strictObject({ status: statusSchema.optional(), cursor: cursorSchema, limit: pageLimitSchema }).default({ limit: 20 });
export const adminOrdersInput = z
  .strictObject({
    status: statusSchema.optional(),
    userId: idSchema.optional(),
    from: instantSchema.optional(),
    to: instantSchema.optional(),
    cursor: cursorSchema,
    limit: pageLimitSchema,
  })
  .default({ limit: 20 });
export type OrderFilter = z.infer<typeof adminOrdersInput>;

export interface PlacedOrder {
  orderId: number;
  status: OrderStatus;
  subtotalAmount: number;
  discountAmount: number;
  finalAmount: number;
  remainingBalance: number;
  createdAt: Date;
}

export interface PendingOrder {
  orderId: number;
  status: "pending_payment";
  subtotalAmount: number;
  discountAmount: number;
  finalAmount: number;
  paymentDueAt: Date;
  createdAt: Date;
}

export interface OrderLineView {
  productId: number;
  productName: string;
  unitPrice: number;
  quantity: number;
  lineAmount: number;
}

export interface OrderSummary {
  orderId: number;
  userId: number;
  status: OrderStatus;
  subtotalAmount: number;
  discountAmount: number;
  finalAmount: number;
  userCouponId: number | null;
  createdAt: Date;
  paidAt: Date | null;
  paymentDueAt: Date | null;
  cancelledAt: Date | null;
  cancelReason: string | null;
  shippingAddress: string | null;
}

export interface OrderDetail extends OrderSummary {
  lines: OrderLineView[];
  /** Delivery of the paid order to the external data platform (seed 004 §6.3); null before payment. */
  sync: {
    synced: boolean;
    status: "pending" | "sent" | "dead";
    attempts: number;
    lastError: string | null;
    nextRetryAt: Date | null;
    syncedAt: Date | null;
  } | null;
  payment: { method: "wallet"; amount: number; status: "paid" | "refunded"; createdAt: Date } | null;
}

export interface RefundedOrder {
  orderId: number;
  status: "refunded";
  refundedAmount: number;
  restocked: boolean;
  refundedAt: Date;
}

/** What shipping needs to know of an order. */
export interface ShippableOrder {
  orderId: number;
  userId: number;
  status: OrderStatus;
  shippingAddress: string | null;
  lines: OrderLineView[];
}

export interface ReorderResult {
  /** What went into the cart, per product (quantities after capping). */
  added: Array<{ productId: number; quantity: number }>;
  /** Lines left out or cut: gone or hidden products, no stock, the cart's limits. */
  skipped: Array<{
    productId: number;
    productName: string;
    requestedQuantity: number;
    addedQuantity: number;
    reason: "not_for_sale" | "out_of_stock" | "stock_limit" | "line_limit" | "cart_full";
  }>;
}

export interface CancelledOrder {
  orderId: number;
  status: "cancelled";
  refundedAmount: number;
  couponRestored: boolean;
  cancelledAt: Date;
}
