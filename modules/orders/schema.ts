import { z } from "zod";
import { cursorSchema, idempotencyKeySchema, idSchema, instantSchema, multilineText, pageLimitSchema, singleLineText, wonSchema } from "../kernel/schemas.ts";
import type { OrderStatus } from "./lifecycle.ts";

const orderItemSchema = z.strictObject({ productId: idSchema, quantity: z.number().int().min(1).max(99) });

/**
 * How the order is paid: the wallet (also when absent), the card, or both — `walletAmount` from the
 * wallet and the rest by card. A wallet part above the order's total is PAYMENT_SPLIT_INVALID.
 */
export const paymentChoiceSchema = z.discriminatedUnion("method", [
  z.strictObject({ method: z.literal("wallet") }),
  z.strictObject({ method: z.literal("card") }),
  z.strictObject({ method: z.literal("split"), walletAmount: wonSchema }),
]);

const shippingAddressSchema = multilineText().trim().min(5).max(500);

/**
 * Items given explicitly, or (without `items`) the whole cart. The address: given as text, or an
 * address book entry by `addressId`, or (with neither) the address book's default.
 */
const orderRequest = z.strictObject({
  items: z.array(orderItemSchema).min(1).max(50).optional(),
  shippingAddress: shippingAddressSchema.optional(),
  addressId: idSchema.optional(),
  userCouponId: idSchema.optional(),
  idempotencyKey: idempotencyKeySchema.optional(),
});
const oneAddress = (v: { shippingAddress?: string; addressId?: number }) => v.shippingAddress === undefined || v.addressId === undefined;
const oneAddressMessage = "give shippingAddress or addressId, not both";

/** The two-step flow's first step: the order, unpaid. */
export const createOrderInput = orderRequest.refine(oneAddress, oneAddressMessage);
/** Placed and paid in one step. */
export const placeOrderInput = orderRequest.extend({ payment: paymentChoiceSchema.optional() }).refine(oneAddress, oneAddressMessage);
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

export const payOrderInput = z.strictObject({ orderId: idSchema, payment: paymentChoiceSchema.optional(), idempotencyKey: idempotencyKeySchema.optional() });
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
  /** The wallet's balance after the order (unchanged when the card paid it all). */
  remainingBalance: number;
  /** What each method paid. */
  payments: Array<{ method: "wallet" | "card"; amount: number }>;
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
  /** A return after delivery (not a cancellation): when and why the money went back. */
  refundedAt: Date | null;
  refundReason: string | null;
  shippingAddress: string | null;
}

export interface OrderPaymentView {
  method: "wallet" | "card";
  amount: number;
  status: "paid" | "refunded";
  createdAt: Date;
}

/** Money an order gave back, per source. */
export interface OrderRefundView {
  kind: "cancellation" | "return";
  walletAmount: number;
  cardAmount: number;
  reason: string;
  /** Who asked; null when the system did. */
  actorId: number | null;
  createdAt: Date;
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
  /** The whole payment: its method ("split" when both paid), total and status; null before payment. */
  payment: { method: "wallet" | "card" | "split"; amount: number; status: "paid" | "refunded"; createdAt: Date } | null;
  /** One row per method that paid. */
  payments: OrderPaymentView[];
  refunds: OrderRefundView[];
}

export interface RefundedOrder {
  orderId: number;
  status: "refunded";
  refundedAmount: number;
  /** Where the money went back. */
  refunded: { wallet: number; card: number };
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
  /** Where the money went back (both 0 for an unpaid order). */
  refunded: { wallet: number; card: number };
  couponRestored: boolean;
  cancelledAt: Date;
}
