/**
 * The notification log stores recipients, subjects and bodies sealed (modules/notifications/repository.ts).
 * Tests that read its rows directly open them with the development keys every TestAgora runs on.
 */
import { createPiiCipher, developmentPiiKeys } from "../../modules/kernel/index.ts";

const cipher = createPiiCipher(developmentPiiKeys);

type LogFields = { recipient?: string; subject?: string; body?: string };

export async function openMessage<Row extends LogFields>(row: Row): Promise<Row> {
  const opened = { ...row };
  if (row.recipient !== undefined) opened.recipient = await cipher.open(row.recipient, "notification_messages.recipient");
  if (row.subject !== undefined) opened.subject = await cipher.open(row.subject, "notification_messages.subject");
  if (row.body !== undefined) opened.body = await cipher.open(row.body, "notification_messages.body");
  return opened;
}

export const openMessages = <Row extends LogFields>(rows: Row[]): Promise<Row[]> => Promise.all(rows.map(openMessage));
