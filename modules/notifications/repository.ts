/**
 * All SQL of notifications: notification_messages. The recipient (an email or a phone number), the
 * subject and the body (they carry the customer's name, order lines, tracking numbers) are sealed
 * here, at the edge of storage: the service sees plaintext rows, the database ciphertext and a keyed
 * blind index of the recipient (modules/kernel/pii.ts). The de-duplication key
 * (source_event_id, channel, recipient_index, template) is on that index: a sealed value is random
 * on every write, so only the index can say two recipients are the same.
 */
import { type Selectable, sql } from "kysely";
import type { Db, NotificationMessagesTable, Tx } from "../../db/index.ts";
import { compiledQuery } from "../../db/index.ts";
import type { PiiCipher } from "../kernel/index.ts";

type Executor = Db | Tx;
export type MessageRow = Selectable<NotificationMessagesTable>;

const RECIPIENT = "notification_messages.recipient";
const SUBJECT = "notification_messages.subject";
const BODY = "notification_messages.body";

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

/**
 * The message an event causes, inserted unless its key is taken (notification_messages_source_idx):
 * every notification of a sale runs it, so it is compiled once (db/compiled.ts).
 */
const claimStatement = compiledQuery(
  (
    _db,
    channel: string,
    recipient: string,
    recipientIndex: string,
    template: string,
    subject: string,
    body: string,
    userId: number | null,
    sourceEventId: string,
    at: Date,
  ) => sql<{ id: number }>`
    INSERT INTO notification_messages (channel, recipient, recipient_index, template, subject, body, user_id, source_event_id, created_at, status)
    VALUES (${channel}, ${recipient}, ${recipientIndex}, ${template}, ${subject}, ${body}, ${userId}::int8, ${sourceEventId}::uuid, ${at}, 'sent')
    ON CONFLICT (source_event_id, channel, recipient_index, template) WHERE source_event_id IS NOT NULL DO NOTHING
    RETURNING id`,
);

export type NotificationRepository = ReturnType<typeof createNotificationRepository>;

export function createNotificationRepository(cipher: PiiCipher) {
  /**
   * The recipient exactly as sent: the same text the plaintext unique key compared before sealing,
   * so de-duplication means what it meant (emails reach here lower-cased by identity and config).
   */
  const recipientIndex = (recipient: string) => cipher.blindIndex(recipient, RECIPIENT);

  async function sealed(message: NewMessage) {
    const [recipient, subject, body] = await Promise.all([
      cipher.seal(message.recipient, RECIPIENT),
      cipher.seal(message.subject, SUBJECT),
      cipher.seal(message.body, BODY),
    ]);
    return {
      channel: message.channel,
      recipient,
      recipient_index: recipientIndex(message.recipient),
      template: message.template,
      subject,
      body,
      user_id: message.userId,
      source_event_id: message.sourceEventId,
      created_at: message.at,
      status: "sent" as const,
    };
  }

  async function opened(row: MessageRow): Promise<MessageRow> {
    const [recipient, subject, body] = await Promise.all([
      cipher.open(row.recipient, RECIPIENT),
      cipher.open(row.subject, SUBJECT),
      cipher.open(row.body, BODY),
    ]);
    return { ...row, recipient, subject, body };
  }

  return {
    /**
     * Claims the right to send a message caused by an event: inserts it as sent unless its key
     * exists. Returns the new id, or undefined when an earlier delivery already holds the key.
     */
    async claim(db: Executor, message: NewMessage & { sourceEventId: string }): Promise<number | undefined> {
      const row = await sealed(message);
      const result = await claimStatement(
        db,
        row.channel,
        row.recipient,
        row.recipient_index,
        row.template,
        row.subject,
        row.body,
        row.user_id,
        message.sourceEventId,
        row.created_at,
      );
      return result.rows[0]?.id;
    },

    /**
     * Takes back a message whose earlier attempt failed, in one conditional UPDATE: of two
     * deliveries racing for it, one gets the id, the other undefined. Text and time are refreshed
     * to what is sent now.
     */
    async reclaimFailed(db: Executor, key: MessageKey, fresh: { subject: string; body: string; at: Date }): Promise<number | undefined> {
      const [subject, body] = await Promise.all([cipher.seal(fresh.subject, SUBJECT), cipher.seal(fresh.body, BODY)]);
      const row = await db
        .updateTable("notification_messages")
        .set({ status: "sent", subject, body, created_at: fresh.at })
        .where("source_event_id", "=", key.sourceEventId)
        .where("channel", "=", key.channel)
        .where("recipient_index", "=", recipientIndex(key.recipient))
        .where("template", "=", key.template)
        .where("status", "=", "failed")
        .returning("id")
        .executeTakeFirst();
      return row?.id;
    },

    /** A message no event caused (nothing to deduplicate against). */
    async insert(db: Executor, message: NewMessage): Promise<number> {
      const row = await db
        .insertInto("notification_messages")
        .values(await sealed(message))
        .returning("id")
        .executeTakeFirstOrThrow();
      return row.id;
    },

    /**
     * Erasing an account: its messages stay counted (what was sent, when, which template) but say no
     * more who got them or what they said. Recipient and its index become unique per row, so the dedupe
     * index (source event, channel, recipient_index, template) never sees two erased rows collide, and
     * the start-up sealing pass (rows without an index) leaves them alone.
     */
    async eraseForUser(db: Executor, userId: number): Promise<number> {
      const result = await db
        .updateTable("notification_messages")
        .set((eb) => ({
          recipient: sql<string>`'erased:' || ${eb.ref("id")}`,
          recipient_index: sql<string>`'erased:' || ${eb.ref("id")}`,
          subject: "(erased)",
          body: "(erased)",
        }))
        .where("user_id", "=", userId)
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    async markFailed(db: Executor, id: number): Promise<void> {
      await db.updateTable("notification_messages").set({ status: "failed" }).where("id", "=", id).execute();
    },

    /** Newest first, keyset-paged by id, opened. */
    async list(
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
      return Promise.all((await q.execute()).map(opened));
    },

    /**
     * Seals what is not sealed under the current key (messages logged before encryption, or under an
     * old key) and fills their blind index, `batch` rows at a time. Returns how many rows it rewrote.
     * `plaintextOnly`: just the rows from before encryption (what the server does at start: until
     * they have an index they are outside the de-duplication key); a key rotation is pii:reencrypt's.
     */
    async resealPersonalData(db: Db, options: { batch?: number; plaintextOnly?: boolean } = {}): Promise<number> {
      const batch = options.batch ?? 500;
      const current = `pii1:${cipher.currentKeyId}:`;
      let rewritten = 0;
      let afterId = 0;
      for (;;) {
        const rows = await db
          .selectFrom("notification_messages")
          .select(["id", "recipient", "subject", "body"])
          .where("id", ">", afterId)
          .where((eb) =>
            options.plaintextOnly
              ? eb("recipient_index", "is", null)
              : eb.or([
                  eb("recipient_index", "is", null),
                  eb("recipient", "not like", `${current}%`),
                  eb("subject", "not like", `${current}%`),
                  eb("body", "not like", `${current}%`),
                ]),
          )
          .orderBy("id")
          .limit(batch)
          .execute();
        if (rows.length === 0) return rewritten;
        for (const row of rows) {
          const [recipient, subject, body] = await Promise.all([
            cipher.open(row.recipient, RECIPIENT),
            cipher.open(row.subject, SUBJECT),
            cipher.open(row.body, BODY),
          ]);
          const [sealedRecipient, sealedSubject, sealedBody] = await Promise.all([
            cipher.seal(recipient, RECIPIENT),
            cipher.seal(subject, SUBJECT),
            cipher.seal(body, BODY),
          ]);
          await db
            .updateTable("notification_messages")
            .set({ recipient: sealedRecipient, recipient_index: recipientIndex(recipient), subject: sealedSubject, body: sealedBody })
            .where("id", "=", row.id)
            .execute();
          rewritten++;
        }
        afterId = rows.at(-1)?.id ?? afterId;
      }
    },
  };
}
