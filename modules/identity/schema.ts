import { z } from "zod";
import { cursorSchema, idSchema, pageLimitSchema, singleLineText } from "../kernel/schemas.ts";

export const emailSchema = z
  .email()
  .max(254)
  .transform((email) => email.toLowerCase());
export const passwordSchema = z.string().min(8).max(128);
export const nameSchema = singleLineText().trim().min(1).max(100);
export const phoneSchema = singleLineText()
  .trim()
  .regex(/^\+?[0-9][0-9 -]{6,18}$/, "a phone number of digits, spaces or dashes");

export const signUpInput = z.strictObject({
  email: emailSchema,
  password: passwordSchema,
  name: nameSchema,
  phone: phoneSchema.optional(),
});
export type SignUpInput = z.infer<typeof signUpInput>;

export const loginInput = z.strictObject({ email: emailSchema, password: z.string().min(1).max(128) });
export type LoginInput = z.infer<typeof loginInput>;

export const updateProfileInput = z
  .strictObject({ name: nameSchema.optional(), phone: phoneSchema.nullable().optional() })
  .refine((v) => v.name !== undefined || v.phone !== undefined, "nothing to update");

export const changePasswordInput = z.strictObject({ currentPassword: z.string().min(1).max(128), newPassword: passwordSchema });

export const listCustomersInput = z
  .strictObject({
    query: singleLineText().trim().max(100).optional(),
    /** Without it, every account but erased ones. */
    status: z.enum(["active", "deactivated", "deleted"]).optional(),
    /** Customers unless asked otherwise. */
    role: z.enum(["customer", "admin", "any"]).default("customer"),
    cursor: cursorSchema,
    limit: pageLimitSchema,
  })
  .prefault({});

export const registerCustomerInput = z.strictObject({ email: emailSchema, name: nameSchema, phone: phoneSchema.optional() });

export const updateCustomerInput = z
  .strictObject({ userId: idSchema, name: nameSchema.optional(), email: emailSchema.optional(), phone: phoneSchema.nullable().optional() })
  .refine((v) => v.name !== undefined || v.email !== undefined || v.phone !== undefined, "nothing to update");

export const userIdInput = z.strictObject({ userId: idSchema });

export interface UserProfile {
  id: number;
  email: string;
  name: string;
  phone: string | null;
  role: "customer" | "admin";
  status: "active" | "deactivated" | "deleted";
  /** Registered by an operator with a temporary password not yet replaced. */
  mustChangePassword: boolean;
  createdAt: Date;
}
