/** zod primitives shared by every module's input schemas. */
import { z } from "zod";

/** Database ids: positive integers. */
export const idSchema = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** Money: integer won, never a float. */
export const wonSchema = z.number().int().nonnegative().max(1_000_000_000_000);
export const pageLimitSchema = z.number().int().min(1).max(100).default(20);
/** Opaque cursor from a previous page. */
export const cursorSchema = z.string().max(200).optional();
/** Client-chosen key that makes a retry return the first result instead of running twice. */
export const idempotencyKeySchema = z
  .string()
  .trim()
  .min(8)
  .max(100)
  .regex(/^[A-Za-z0-9_.:-]+$/);

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Cursors are opaque to clients: base64url of JSON, checked on the way back in. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (!cursor) return undefined;
  try {
    return schema.parse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
  } catch {
    return undefined;
  }
}
