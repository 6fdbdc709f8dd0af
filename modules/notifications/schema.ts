import { z } from "zod";
import { cursorSchema, idSchema, pageLimitSchema, singleLineText } from "../kernel/schemas.ts";

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
