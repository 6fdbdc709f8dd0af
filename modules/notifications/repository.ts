/** All SQL of notifications: notification_messages. */
import { type Selectable, sql } from "kysely";
import type { Db, NotificationMessagesTable, Tx } from "../../db/index.ts";

type Executor = Db | Tx;
export type MessageRow = Selectable<NotificationMessagesTable>;

export interface NewMessage {
  channel: "email" | "sms";
  recipient: string;
  template: string;
  subject: string;
  body: string;
  userId: number | null;
  sourceEventId: string | null;
  at: Date;
}

/** What makes a message caused by an event unique (the partial unique index notification_messages_source_idx). */
export interface MessageKey {
  sourceEventId: string;
  channel: "email" | "sms";
  recipient: string;
  template: string;
}

function values(message: NewMessage) {
  return {
    channel: message.channel,
    recipient: message.recipient,
    template: message.template,
    subject: message.subject,
    body: message.body,
    user_id: message.userId,
    source_event_id: message.sourceEventId,
    created_at: message.at,
    status: "sent" as const,
  };
}

export const notificationRepository = {
  /**
   * Claims the right to send a message caused by an event: inserts it as sent unless its key
   * exists. Returns the new id, or undefined when an earlier delivery already holds the key.
   */
  async claim(db: Executor, message: NewMessage & { sourceEventId: string }): Promise<number | undefined> {
    const row = await db
      .insertInto("notification_messages")
      .values(values(message))
      .onConflict((oc) => oc.columns(["source_event_id", "channel", "recipient", "template"]).where("source_event_id", "is not", null).doNothing())
      .returning("id")
      .executeTakeFirst();
    return row?.id;
  },

  /**
   * Takes back a message whose earlier attempt failed, in one conditional UPDATE: of two
   * deliveries racing for it, one gets the id, the other undefined. Text and time are refreshed
   * to what is sent now.
   */
  async reclaimFailed(db: Executor, key: MessageKey, fresh: { subject: string; body: string; at: Date }): Promise<number | undefined> {
    const row = await db
      .updateTable("notification_messages")
      .set({ status: "sent", subject: fresh.subject, body: fresh.body, created_at: fresh.at })
      .where("source_event_id", "=", key.sourceEventId)
      .where("channel", "=", key.channel)
      .where("recipient", "=", key.recipient)
      .where("template", "=", key.template)
      .where("status", "=", "failed")
      .returning("id")
      .executeTakeFirst();
    return row?.id;
  },

  /** A message no event caused (nothing to deduplicate against). */
  async insert(db: Executor, message: NewMessage): Promise<number> {
    const row = await db.insertInto("notification_messages").values(values(message)).returning("id").executeTakeFirstOrThrow();
    return row.id;
  },

  async markFailed(db: Executor, id: number): Promise<void> {
    await db.updateTable("notification_messages").set({ status: "failed" }).where("id", "=", id).execute();
  },

  /**
   * Erasing an account: its messages stay counted (what was sent, when, which template) but say no
   * more who got them or what they said. The recipient becomes unique per row so the dedupe index
   * (source event, channel, recipient, template) never sees two erased rows collide.
   */
  async eraseForUser(db: Executor, userId: number): Promise<number> {
    const result = await db
      .updateTable("notification_messages")
      .set((eb) => ({ recipient: sql<string>`'erased:' || ${eb.ref("id")}`, subject: "(erased)", body: "(erased)" }))
      .where("user_id", "=", userId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  },

  /** Newest first, keyset-paged by id. */
  list(
    db: Executor,
    filter: {
      channel?: "email" | "sms";
      template?: string;
      userId?: number;
      status?: "sent" | "failed";
      sourceEventId?: string;
      beforeId?: number;
      limit: number;
    },
  ): Promise<MessageRow[]> {
    let q = db.selectFrom("notification_messages").selectAll().orderBy("id", "desc").limit(filter.limit);
    if (filter.channel) q = q.where("channel", "=", filter.channel);
    if (filter.template) q = q.where("template", "=", filter.template);
    if (filter.userId !== undefined) q = q.where("user_id", "=", filter.userId);
    if (filter.status) q = q.where("status", "=", filter.status);
    if (filter.sourceEventId) q = q.where("source_event_id", "=", filter.sourceEventId);
    if (filter.beforeId !== undefined) q = q.where("id", "<", filter.beforeId);
    return q.execute();
  },
};
