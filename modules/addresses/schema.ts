import { z } from "zod";
import { cursorSchema, idSchema, multilineText, pageLimitSchema, singleLineText } from "../kernel/schemas.ts";

const labelSchema = singleLineText().trim().min(1).max(50);
const recipientSchema = singleLineText().trim().min(1).max(100);
const phoneSchema = singleLineText()
  .trim()
  .regex(/^\+?[0-9][0-9 -]{6,18}$/, "a phone number of digits, spaces or dashes");
/** Shorter than an order's 500: the order's copy is "recipient (phone)" and a line break before it. */
const addressTextSchema = multilineText().trim().min(5).max(370);

export const addAddressInput = z.strictObject({
  label: labelSchema,
  recipient: recipientSchema,
  phone: phoneSchema.optional(),
  address: addressTextSchema,
  /** The first address is the default whatever this says. */
  makeDefault: z.boolean().default(false),
});
export type AddAddressInput = z.infer<typeof addAddressInput>;

export const updateAddressInput = z
  .strictObject({
    addressId: idSchema,
    label: labelSchema.optional(),
    recipient: recipientSchema.optional(),
    phone: phoneSchema.nullable().optional(),
    address: addressTextSchema.optional(),
  })
  .refine((v) => v.label !== undefined || v.recipient !== undefined || v.phone !== undefined || v.address !== undefined, "nothing to update");

export const addressIdInput = z.strictObject({ addressId: idSchema });
export const listAddressesInput = z.strictObject({ cursor: cursorSchema, limit: pageLimitSchema }).prefault({});

export interface Address {
  addressId: number;
  label: string;
  recipient: string;
  phone: string | null;
  address: string;
  isDefault: boolean;
  createdAt: Date;
  updatedAt: Date;
}
