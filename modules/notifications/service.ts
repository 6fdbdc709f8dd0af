/**
 * Notifications: turns outbox events into messages to customers and operators, and alerts the
 * operators about dead outbox events.
 *
 * ## Exactly once per (event, channel, recipient, template)
 * For each message of an event:
 *   1. claim: INSERT the row as "sent" ON CONFLICT DO NOTHING on that key
 *      (unique index notification_messages_source_idx);
 *   2. no row came back → a delivery of the same event got there first: if that one ended
 *      "failed", take the row back with one conditional UPDATE (failed → sent), else skip;
 *   3. send; if the sender throws, mark the row "failed" and throw, so the outbox retries the
 *      event. The retry skips what was sent and takes back what failed.
 * The key is on the recipient's blind index, not the recipient: the log stores it sealed
 * (repository.ts).
 * So a redelivered event (a retry, a lease that ran out, two pollers) sends nothing twice, and a
 * failed send is neither lost nor repeated; two deliveries racing for one message cannot both
 * win the INSERT or the UPDATE. A row left "failed" after the event went dead shows which
 * messages never left (admin.list status=failed).
 *
 * What remains: a process killed between the claim and the end of the send leaves a row that
 * says "sent" for a message that may not have left (at most once in that window), and a provider
 * that took a message but answered too late gets it again on the retry. Neither can be closed
 * without a provider-side idempotency key.
 */

import { z } from "zod";
import type { Db, Tx } from "../../db/index.ts";
import { inventoryBackInStock, inventoryLowStock } from "../catalog/index.ts";
import type { Contact } from "../identity/index.ts";
import type { Clock, Logger, Page, PiiCipher } from "../kernel/index.ts";
import { decodeCursor, encodeCursor, isDomainError } from "../kernel/index.ts";
import { orderCancelled, orderPaid, orderRefunded } from "../orders/index.ts";
import { type DeliverableEvent, eventHandler, PermanentDeliveryError, subscribe } from "../outbox/index.ts";
import { shipmentDelivered, shipmentShipped } from "../shipping/index.ts";
import { createNotificationRepository, type MessageRow } from "./repository.ts";
import type { DeliveryReport, ListMessagesFilter, NotificationMessage } from "./schema.ts";
import { type Channel, type NotificationSender, SenderConfigurationError } from "./sender.ts";
import type { Rendered, TemplateName } from "./templates.ts";
import * as templates from "./templates.ts";

/** What notifications needs of identity (the identity service fits it). */
export interface ContactBook {
  getContacts(userIds: number[]): Promise<Contact[]>;
  /** Active admins: the operators when none are configured. */
  adminContacts(): Promise<Contact[]>;
}

/** What notifications needs of the catalog (the catalog service fits it): product names for stock texts. */
export interface ProductNames {
  get(productId: number, audience: "admin"): Promise<{ name: string }>;
}

export interface NotificationDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  identity: ContactBook;
  catalog: ProductNames;
  sender: NotificationSender;
  /** Seals recipients and texts in the log (the one identity and orders use). */
  cipher: PiiCipher;
  /** Where low-stock and dead-event alerts go; empty → every active admin account. */
  operators?: { emails: string[] };
}

interface PlannedMessage {
  channel: Channel;
  recipient: string;
  userId: number | null;
  template: TemplateName;
  rendered: Rendered;
}

interface Operator {
  email: string;
  userId: number | null;
}

const cursorShape = z.number().int().positive();

/** The events that become messages; their payloads are read with the producers' contracts. */
export const notificationsSubscription = subscribe("notifications", [
  orderPaid,
  orderCancelled,
  orderRefunded,
  shipmentShipped,
  shipmentDelivered,
  inventoryBackInStock,
  inventoryLowStock,
]);

function toMessage(row: MessageRow): NotificationMessage {
  return {
    id: row.id,
    channel: row.channel,
    recipient: row.recipient,
    template: row.template,
    subject: row.subject,
    body: row.body,
    status: row.status,
    userId: row.user_id,
    sourceEventId: row.source_event_id,
    createdAt: row.created_at,
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type NotificationService = ReturnType<typeof createNotificationService>;

/**
 * `bun run pii:reencrypt`'s pass over the log, without a whole service (it needs no sender or
 * contacts): seals every message not sealed under the cipher's current key. Returns rows rewritten.
 */
export function resealNotificationLog(db: Db, cipher: PiiCipher): Promise<number> {
  return createNotificationRepository(cipher).resealPersonalData(db);
}

export function createNotificationService({ db, clock, logger, identity, catalog, sender, cipher, operators }: NotificationDeps) {
  const notificationRepository = createNotificationRepository(cipher);
  // Normalized once: a configured address listed twice is one operator.
  const configuredOperators = [...new Set((operators?.emails ?? []).map((e) => e.trim().toLowerCase()).filter(Boolean))];

  async function customer(userId: number): Promise<Contact> {
    const [contact] = await identity.getContacts([userId]);
    // Accounts are deactivated, never deleted: an unknown id is a broken event, not a passing failure.
    if (!contact) throw new PermanentDeliveryError(`notifications: no account ${userId}`);
    return contact;
  }

  async function productName(productId: number): Promise<string> {
    try {
      return (await catalog.get(productId, "admin")).name;
    } catch (error) {
      // A product deleted since the event still gets its message, by number.
      if (isDomainError(error, "PRODUCT_NOT_FOUND")) return `상품 #${productId}`;
      throw error;
    }
  }

  async function operatorList(): Promise<Operator[]> {
    if (configuredOperators.length > 0) return configuredOperators.map((email) => ({ email, userId: null }));
    return (await identity.adminContacts()).map((admin) => ({ email: admin.email, userId: admin.userId }));
  }

  function email(contact: Contact, template: TemplateName, rendered: Rendered): PlannedMessage {
    return { channel: "email", recipient: contact.email, userId: contact.userId, template, rendered };
  }

  function sms(contact: Contact & { phone: string }, template: TemplateName, rendered: Rendered): PlannedMessage {
    return { channel: "sms", recipient: contact.phone, userId: contact.userId, template, rendered };
  }

  type ShipmentStep = z.output<typeof shipmentShipped.schema>;
  async function shipmentMessages(step: ShipmentStep, shipped: boolean): Promise<PlannedMessage[]> {
    const template = shipped ? "shipment.shipped" : "shipment.delivered";
    const c = await customer(step.userId);
    const facts = { name: c.name, orderId: step.orderId, carrier: step.carrier, trackingNumber: step.trackingNumber };
    const messages = [email(c, template, shipped ? templates.shipmentShippedEmail(facts) : templates.shipmentDeliveredEmail(facts))];
    if (c.phone) messages.push(sms({ ...c, phone: c.phone }, template, shipped ? templates.shipmentShippedSms(facts) : templates.shipmentDeliveredSms(facts)));
    return messages;
  }

  /**
   * Who hears about an event, on which channel. Order receipts (paid, cancelled, refunded) go by
   * email only: they carry amounts and lines. Shipment steps are time-sensitive: by email, and by
   * SMS too when the customer gave a phone number.
   */
  const plan = {
    async "order.paid"(p: z.output<typeof orderPaid.schema>): Promise<PlannedMessage[]> {
      const c = await customer(p.userId);
      return [email(c, "order.paid", templates.orderPaidEmail({ name: c.name, ...p }))];
    },
    async "order.cancelled"(p: z.output<typeof orderCancelled.schema>): Promise<PlannedMessage[]> {
      const c = await customer(p.userId);
      return [email(c, "order.cancelled", templates.orderCancelledEmail({ name: c.name, ...p }))];
    },
    async "order.refunded"(p: z.output<typeof orderRefunded.schema>): Promise<PlannedMessage[]> {
      const c = await customer(p.userId);
      return [email(c, "order.refunded", templates.orderRefundedEmail({ name: c.name, ...p }))];
    },
    "shipment.shipped": (p: ShipmentStep) => shipmentMessages(p, true),
    "shipment.delivered": (p: ShipmentStep) => shipmentMessages(p, false),
    async "inventory.back_in_stock"(p: z.output<typeof inventoryBackInStock.schema>): Promise<PlannedMessage[]> {
      const [c, name] = await Promise.all([customer(p.userId), productName(p.productId)]);
      const facts = { name: c.name, productId: p.productId, productName: name };
      // The channel the customer chose; SMS without a phone number on file falls back to email.
      if (p.channel === "sms" && c.phone) return [sms({ ...c, phone: c.phone }, "inventory.back_in_stock", templates.backInStockSms(facts))];
      return [email(c, "inventory.back_in_stock", templates.backInStockEmail(facts))];
    },
    async "inventory.low_stock"(p: z.output<typeof inventoryLowStock.schema>): Promise<PlannedMessage[]> {
      const [ops, name] = await Promise.all([operatorList(), productName(p.productId)]);
      // Nobody to tell: dead at once, so it shows in outbox.admin.list instead of vanishing.
      if (ops.length === 0) throw new PermanentDeliveryError("notifications: no operator to notify (set NOTIFY_OPERATOR_EMAILS or create an admin)");
      const rendered = templates.lowStockEmail({ productId: p.productId, productName: name, quantity: p.quantity, threshold: p.threshold });
      return ops.map((op) => ({ channel: "email" as const, recipient: op.email, userId: op.userId, template: "inventory.low_stock" as const, rendered }));
    },
  };
  const send =
    <P>(planned: (payload: P) => Promise<PlannedMessage[]>) =>
    async (payload: P, event: DeliverableEvent): Promise<void> => {
      await deliverAll(await planned(payload), event.id);
    };

  /** Claims, sends and records one message; see the header for the protocol. */
  async function deliverOne(message: PlannedMessage, sourceEventId: string | null): Promise<"sent" | "skipped"> {
    const at = clock.now();
    const row = { channel: message.channel, recipient: message.recipient, template: message.template, ...message.rendered, userId: message.userId, at };
    let id: number | undefined;
    if (sourceEventId === null) id = await notificationRepository.insert(db, { ...row, sourceEventId: null });
    else {
      id = await notificationRepository.claim(db, { ...row, sourceEventId });
      id ??= await notificationRepository.reclaimFailed(
        db,
        { sourceEventId, channel: message.channel, recipient: message.recipient, template: message.template },
        { ...message.rendered, at },
      );
      if (id === undefined) return "skipped";
    }
    try {
      await sender.send({
        channel: message.channel,
        to: message.recipient,
        subject: message.rendered.subject,
        body: message.rendered.body,
        template: message.template,
        id,
      });
    } catch (error) {
      await notificationRepository.markFailed(db, id).catch((markError) => {
        // The row still says "sent": this message will not be retried. Say so loudly.
        logger.error(
          { err: markError, messageId: id, sourceEventId, template: message.template },
          "notifications: a failed send could not be marked failed; it will not be retried",
        );
      });
      throw error;
    }
    logger.info({ messageId: id, channel: message.channel, template: message.template, userId: message.userId, sourceEventId }, "notification sent");
    return "sent";
  }

  /**
   * Sends every message, one after another (an event has a handful; the poller runs events in
   * parallel), so records keep the plan's order: email before SMS, operators as configured.
   * One failing does not hold back the others; the call fails if any failed.
   */
  async function deliverAll(messages: PlannedMessage[], sourceEventId: string | null): Promise<DeliveryReport> {
    const report: DeliveryReport = { sent: 0, skipped: 0 };
    const failures: unknown[] = [];
    for (const message of messages) {
      try {
        report[await deliverOne(message, sourceEventId)]++;
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length === 0) return report;
    const summary = `notifications: ${failures.length} of ${messages.length} messages failed: ${errorText(failures[0])}`;
    // Misconfiguration (SMS given to the SMTP sender) does not heal with time: dead at once, operators alerted.
    if (failures.some((f) => f instanceof SenderConfigurationError)) throw new PermanentDeliveryError(summary);
    throw new Error(summary);
  }

  return {
    /** Erasing an account, inside that transaction: its messages keep their counts and lose who and what. */
    eraseRecipientsOf: (trx: Tx, userId: number) => notificationRepository.eraseForUser(trx, userId),

    /** The outbox handler for destination "notifications". Throws to have the event retried. */
    handleOutboxEvent: eventHandler(notificationsSubscription, {
      "order.paid": send(plan["order.paid"]),
      "order.cancelled": send(plan["order.cancelled"]),
      "order.refunded": send(plan["order.refunded"]),
      "shipment.shipped": send(plan["shipment.shipped"]),
      "shipment.delivered": send(plan["shipment.delivered"]),
      "inventory.back_in_stock": send(plan["inventory.back_in_stock"]),
      "inventory.low_stock": send(plan["inventory.low_stock"]),
    }),

    /**
     * Emails every operator. With `sourceEventId` (a dead outbox event) each operator is told
     * once per event, however often this is called for it.
     */
    async alertOperators(alert: { subject: string; body: string; sourceEventId?: string }): Promise<void> {
      const ops = await operatorList();
      if (ops.length === 0) {
        logger.error(
          { subject: alert.subject, sourceEventId: alert.sourceEventId },
          "notifications: no operator to alert (set NOTIFY_OPERATOR_EMAILS or create an admin)",
        );
        return;
      }
      const rendered = { subject: alert.subject, body: alert.body };
      await deliverAll(
        ops.map((op) => ({ channel: "email", recipient: op.email, userId: op.userId, template: "operator.alert", rendered })),
        alert.sourceEventId ?? null,
      );
    },

    /**
     * Seals messages logged before encryption (and, unless `plaintextOnly`, re-seals those under an
     * older key); returns how many rows it rewrote. The server runs it with `plaintextOnly` at start,
     * before the outbox poller, `bun run pii:reencrypt` in full.
     */
    resealPersonalData: (options: { plaintextOnly?: boolean } = {}) => notificationRepository.resealPersonalData(db, options),

    /** Admin: what was sent (or recorded), newest first, recipients and texts opened. */
    async list(filter: ListMessagesFilter): Promise<Page<NotificationMessage>> {
      const { cursor, limit, ...where } = filter;
      const rows = await notificationRepository.list(db, { ...where, beforeId: decodeCursor(cursor, cursorShape), limit: limit + 1 });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return { items: page.map(toMessage), nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
    },
  };
}
