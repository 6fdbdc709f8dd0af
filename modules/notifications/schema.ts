import { z } from "zod";
import { cursorSchema, idSchema, pageLimitSchema, singleLineText } from "../kernel/schemas.ts";

/**
 * The payloads of the events routed to "notifications" (modules/outbox/routes.ts), as far as
 * the texts need them. Not strict: a producer may add fields without breaking delivery.
 */
const won = z.number().int();
const orderId = z.number().int().positive();
const userId = z.number().int().positive();

/** Where a refund went; absent in events written before card payments (all to the wallet). */
const refundedBySource = z.object({ wallet: won, card: won }).optional();

export const eventPayloads = {
  "order.paid": z.object({
    orderId,
    userId,
    subtotalAmount: won,
    discountAmount: won,
    finalAmount: won,
    items: z.array(z.object({ productId: z.number().int(), productName: z.string(), unitPrice: won, quantity: z.number().int() })),
    // Absent in events written before card payments: the wallet paid it all.
    payments: z.array(z.object({ method: z.enum(["wallet", "card"]), amount: won })).optional(),
  }),
  "order.cancelled": z.object({ orderId, userId, refundedAmount: won, refunded: refundedBySource, couponRestored: z.boolean(), reason: z.string() }),
  "order.refunded": z.object({ orderId, userId, refundedAmount: won, refunded: refundedBySource, reason: z.string() }),
  "shipment.shipped": z.object({ orderId, userId, trackingNumber: z.string().nullish(), carrier: z.string().nullish() }),
  "shipment.delivered": z.object({ orderId, userId, trackingNumber: z.string().nullish(), carrier: z.string().nullish() }),
  "inventory.back_in_stock": z.object({ productId: z.number().int().positive(), userId, channel: z.enum(["email", "sms"]) }),
  "inventory.low_stock": z.object({ productId: z.number().int().positive(), quantity: z.number().int(), threshold: z.number().int() }),
} as const;

export type NotifiedEventType = keyof typeof eventPayloads;

export const listMessagesInput = z
  .strictObject({
    channel: z.enum(["email", "sms"]).optional(),
    template: singleLineText().trim().min(1).max(100).optional(),
    /** The customer (or admin) a message was for. */
    userId: idSchema.optional(),
    status: z.enum(["sent", "failed"]).optional(),
    /** The outbox event that caused the messages. */
    sourceEventId: z.uuid().optional(),
    cursor: cursorSchema,
    limit: pageLimitSchema,
  })
  .prefault({});
export type ListMessagesFilter = z.infer<typeof listMessagesInput>;

export interface NotificationMessage {
  id: number;
  channel: "email" | "sms";
  recipient: string;
  template: string;
  subject: string;
  body: string;
  /** "failed": the last attempt failed; the outbox retries it (or the event went dead). */
  status: "sent" | "failed";
  userId: number | null;
  sourceEventId: string | null;
  createdAt: Date;
}

/** What one `handleOutboxEvent`/`alertOperators` call did. */
export interface DeliveryReport {
  sent: number;
  /** Already sent by an earlier delivery of the same event. */
  skipped: number;
}
