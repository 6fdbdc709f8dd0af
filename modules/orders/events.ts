/**
 * The events orders emits: the contract consumers (shipping, notifications, the data platform,
 * webhooks) read them by. Copy this file's pattern to add an event (docs/architecture.md).
 */
import { z } from "zod";
import { defineEvent } from "../outbox/index.ts";

const id = z.number().int().positive();
const won = z.number().int().nonnegative();
/** Where a refund went. Optional only for events written before card payments (all to the wallet). */
const refundedBySource = z.strictObject({ wallet: won, card: won }).optional();

export const orderPaid = defineEvent(
  "order.paid",
  "order",
  z.strictObject({
    orderId: id,
    userId: id,
    subtotalAmount: won,
    discountAmount: won,
    finalAmount: won,
    paidAt: z.iso.datetime(),
    items: z.array(z.strictObject({ productId: id, productName: z.string(), unitPrice: won, quantity: z.number().int().positive() })).min(1),
    // How it was paid. Optional only for events written before card payments (the wallet paid it all).
    payments: z.array(z.strictObject({ method: z.enum(["wallet", "card"]), amount: won })).optional(),
  }),
);

export const orderCancelled = defineEvent(
  "order.cancelled",
  "order",
  z.strictObject({
    orderId: id,
    userId: id,
    refundedAmount: won,
    refunded: refundedBySource,
    couponRestored: z.boolean(),
    reason: z.string(),
    cancelledAt: z.iso.datetime(),
  }),
);

export const orderRefunded = defineEvent(
  "order.refunded",
  "order",
  z.strictObject({
    orderId: id,
    userId: id,
    refundedAmount: won,
    refunded: refundedBySource,
    restocked: z.boolean(),
    reason: z.string(),
    refundedAt: z.iso.datetime(),
  }),
);

export type OrderPaidPayload = z.output<typeof orderPaid.schema>;
