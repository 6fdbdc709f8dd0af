/** The wallet's refusals (copy modules/orders/errors.ts for the shape). */
import { defineErrors, refusal } from "../kernel/index.ts";
import type { GatewayFailure } from "./gateway.ts";

export const walletErrors = defineErrors({
  PAYMENT_DECLINED: refusal<{ reason: string; gatewayCode: string }>({ kind: "invalid", message: "The payment was declined" }),
  PAYMENT_GATEWAY_UNAVAILABLE: refusal<{ failure: GatewayFailure | "unknown"; retryable: true }>({
    kind: "unavailable",
    message: "The payment gateway did not answer",
  }),
  CHARGE_AMOUNT_OUT_OF_RANGE: refusal<{ amount: number; minAmount: number; maxAmount: number }>({
    kind: "invalid",
    message: "The charge amount is out of range",
  }),
  /** A replayed refusal (idempotency key) or one after a voided approval also says `gatewayReference` and `voided`. */
  BALANCE_LIMIT_EXCEEDED: refusal<{
    amount: number;
    currentBalance: number;
    maxBalance: number;
    chargeableAmount: number;
    gatewayReference?: string;
    voided?: boolean;
  }>({ kind: "invalid", message: "The balance would exceed its limit" }),
  INSUFFICIENT_BALANCE: refusal<{ requiredAmount: number; currentBalance: number; shortfall: number }>({
    kind: "invalid",
    message: "Not enough balance",
    ref: "PAY001",
  }),
  // Deleting an account (modules/customers): Agora pays no balance out.
  ACCOUNT_HAS_BALANCE: refusal<{ userId: number; balance: number; unsettledCharges: number }>({
    kind: "conflict",
    message: "The wallet still holds money: spend it or have it paid out first",
  }),
});
