import { z } from "zod";
import type { LedgerEntryKind } from "../../db/index.ts";
import { cursorSchema, idempotencyKeySchema, idSchema, pageLimitSchema } from "../kernel/schemas.ts";

/**
 * The amount is only checked to be a safe integer here: the bounds are a rule of the service
 * (CHARGE_AMOUNT_OUT_OF_RANGE with min and max in the details), not a shape error.
 */
export const chargeInput = z.strictObject({
  amount: z.number().int(),
  idempotencyKey: idempotencyKeySchema.optional(),
});

/** Customer procedures never take a userId: the wallet is always the caller's own. */
export const balanceInput = z.strictObject({}).optional();
export const historyInput = z.strictObject({ cursor: cursorSchema, limit: pageLimitSchema }).prefault({});
export const adminLedgerInput = z.strictObject({ userId: idSchema, cursor: cursorSchema, limit: pageLimitSchema });

export interface WalletBalance {
  balance: number;
  /** Null when the customer never had an account row (no charge yet). */
  updatedAt: Date | null;
}

/** What a charge answers (seed 004 shape); an idempotent retry gets exactly this again. */
export interface ChargeResult {
  previousBalance: number;
  chargedAmount: number;
  currentBalance: number;
  ledgerEntryId: number;
  chargedAt: Date;
}

export interface LedgerEntry {
  id: number;
  kind: LedgerEntryKind;
  /** Signed: charges and refunds positive, payments negative. */
  amount: number;
  balanceAfter: number;
  orderId: number | null;
  gatewayReference: string | null;
  createdAt: Date;
}

export interface DebitResult {
  previousBalance: number;
  balanceAfter: number;
  /** Null for a zero debit, which writes no entry. */
  ledgerEntryId: number | null;
}

export interface RefundResult {
  balanceAfter: number;
  ledgerEntryId: number | null;
}

export interface BooksMismatch {
  userId: number;
  balance: number;
  ledgerSum: number;
}

export interface BooksReport {
  checkedAccounts: number;
  /** Accounts whose balance differs from the sum of their ledger: should always be empty. */
  mismatches: BooksMismatch[];
}
