/**
 * The wallet: prepaid balance in integer won, charged by card through the payment gateway and
 * spent by orders. The balance always equals the sum of the account's ledger; the database
 * refuses a negative balance (CHECK) as the last guard.
 *
 * ## A charge
 *   1. Bounds (CHARGE_AMOUNT_OUT_OF_RANGE), then, with an idempotency key, the claim
 *      (scope "wallet.charge"): a finished key replays its stored outcome; a key still running in
 *      another request is waited for (polling, up to `idempotencyWaitMs`), so every caller with
 *      one key gets the same answer.
 *   2. Balance pre-check (BALANCE_LIMIT_EXCEEDED): no card is charged for money that cannot fit.
 *   3. The gateway, outside any transaction (no row lock or connection held during the call).
 *      The gateway key is derived from (user, key, amount), so a retry after a lost answer is
 *      answered by the gateway from its own memory and the card is charged once.
 *      Declined → PAYMENT_DECLINED; unknown outcome → PAYMENT_GATEWAY_UNAVAILABLE. Both change
 *      nothing and give the key back, so the customer's retry runs again.
 *   4. Approved → ONE transaction: lock the account row, re-check the cap, credit, write the
 *      "charge" ledger entry with the gateway reference, complete the idempotency key.
 *   5. If step 4 fails after the approval (the cap was reached by a concurrent charge, or the
 *      database failed), the gateway charge is VOIDED and the key is completed with the refusal,
 *      so a retry with the same key gets the same refusal instead of re-crediting a voided charge.
 *      If the void itself fails, the error is logged with the reference for manual reconciliation.
 *
 * ## For the orders module (inside ITS transaction, lock rank Wallet after Order)
 *   debit: conditional UPDATE (the update is the exclusive lock) + "payment" entry (negative).
 *   refund: credit + "refund" entry (positive). Refunds are not capped by maxBalance: they give
 *   back money that was already the customer's, and a cancellation must never fail on the cap.
 *   A zero amount (fully discounted order) writes no entry (CHECK amount <> 0).
 */
import { uuidv7 } from "uuidv7";
import { z } from "zod";
import type { Db, Tx } from "../../db/index.ts";
import { inTransaction } from "../../db/index.ts";
import { claimBeforeCallingOut, completeInTransaction, hashRequest, type IdempotentRequest, releaseClaim } from "../idempotency/index.ts";
import type { Clock, Logger, Page } from "../kernel/index.ts";
import { DomainError, decodeCursor, encodeCursor, isDomainError } from "../kernel/index.ts";
import { type ChargeOutcome, type PaymentGateway, PaymentGatewayUnavailableError } from "./gateway.ts";
import { walletRepository } from "./repository.ts";
import type { BooksReport, ChargeResult, DebitResult, LedgerEntry, RefundResult, WalletBalance } from "./schema.ts";

export interface WalletConfig {
  /** Smallest charge, won. */
  minCharge: number;
  /** Largest single charge, won. */
  maxCharge: number;
  /** A charge may not take the balance above this, won. */
  maxBalance: number;
  /** How long a request waits for another request holding the same idempotency key. */
  idempotencyWaitMs: number;
}

export const defaultWalletConfig: WalletConfig = {
  minCharge: 1_000,
  maxCharge: 1_000_000,
  maxBalance: 10_000_000,
  idempotencyWaitMs: 15_000,
};

export interface WalletDeps {
  db: Db;
  clock: Clock;
  gateway: PaymentGateway;
  config?: Partial<WalletConfig>;
  /** Where anomalies go (a charge that could neither be credited nor voided). */
  logger?: Logger;
}

export const CHARGE_SCOPE = "wallet.charge";

/** What an idempotency key stores: the result, or the refusal that followed an approval. */
type StoredCharge =
  | { outcome: "charged"; result: ChargeResult }
  | { outcome: "refused"; code: "BALANCE_LIMIT_EXCEEDED" | "PAYMENT_DECLINED"; details: Record<string, unknown> };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const cursorShape = z.number().int().positive();

function toEntry(row: Awaited<ReturnType<typeof walletRepository.listLedger>>[number]): LedgerEntry {
  return {
    id: row.id,
    kind: row.kind,
    amount: row.amount,
    balanceAfter: row.balance_after,
    orderId: row.order_id,
    gatewayReference: row.gateway_reference,
    createdAt: row.created_at,
  };
}

function assertMovement(amount: number, what: string): void {
  if (!Number.isSafeInteger(amount) || amount < 0) throw new Error(`wallet.${what}: amount must be a non-negative integer (won), got ${amount}`);
}

export type WalletService = ReturnType<typeof createWalletService>;

export function createWalletService({ db, clock, gateway, config: overrides, logger }: WalletDeps) {
  const config: WalletConfig = { ...defaultWalletConfig, ...overrides };
  for (const [name, value] of Object.entries(config)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`wallet config ${name} must be a non-negative integer, got ${value}`);
  }
  if (config.minCharge < 1 || config.minCharge > config.maxCharge) throw new Error("wallet config: need 1 <= minCharge <= maxCharge");

  function checkBounds(amount: number): void {
    if (!Number.isSafeInteger(amount) || amount < config.minCharge || amount > config.maxCharge) {
      throw new DomainError("CHARGE_AMOUNT_OUT_OF_RANGE", { amount, minAmount: config.minCharge, maxAmount: config.maxCharge });
    }
  }

  function limitExceeded(amount: number, currentBalance: number): DomainError {
    return new DomainError("BALANCE_LIMIT_EXCEEDED", {
      amount,
      currentBalance,
      maxBalance: config.maxBalance,
      chargeableAmount: Math.max(0, config.maxBalance - currentBalance),
    });
  }

  function replay(stored: StoredCharge): ChargeResult {
    if (stored.outcome === "charged") return stored.result;
    throw new DomainError(stored.code, stored.details);
  }

  /** Claims the key, or waits while another request holds it. Null: this call owns the key. */
  async function claimOrWait(request: IdempotentRequest): Promise<StoredCharge | null> {
    const deadline = performance.now() + config.idempotencyWaitMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      try {
        const claim = await claimBeforeCallingOut<StoredCharge>(db, request, clock.now());
        return claim ? claim.replay : null;
      } catch (error) {
        if (!isDomainError(error, "IDEMPOTENCY_IN_PROGRESS") || performance.now() + delay > deadline) throw error;
      }
      await sleep(delay);
    }
  }

  /** Steps 2 and 3: pre-check and gateway. Any refusal here changes nothing and gives the key back. */
  async function callGateway(userId: number, amount: number, gatewayKey: string, claim: IdempotentRequest | null): Promise<string> {
    try {
      const account = await walletRepository.findAccount(db, userId);
      const currentBalance = account?.balance ?? 0;
      if (currentBalance + amount > config.maxBalance) throw limitExceeded(amount, currentBalance);

      let outcome: ChargeOutcome;
      try {
        outcome = await gateway.charge({ userId, amount, idempotencyKey: gatewayKey });
      } catch (error) {
        const failure = error instanceof PaymentGatewayUnavailableError ? error.failure : "unknown";
        logger?.warn({ userId, amount, gatewayKey, failure, err: error }, "wallet: payment gateway unavailable");
        throw new DomainError("PAYMENT_GATEWAY_UNAVAILABLE", { failure, retryable: true });
      }
      if (outcome.status === "declined") throw new DomainError("PAYMENT_DECLINED", { reason: outcome.reason, gatewayCode: outcome.code });
      return outcome.reference;
    } catch (error) {
      if (claim) await releaseClaim(db, claim);
      throw error;
    }
  }

  /** Step 4: the one transaction that credits an approved charge. */
  function credit(userId: number, amount: number, reference: string, claim: IdempotentRequest | null): Promise<ChargeResult> {
    const at = clock.now();
    return inTransaction(db, async (trx) => {
      await walletRepository.ensureAccount(trx, userId, at);
      const previousBalance = (await walletRepository.lockAccount(trx, userId)) ?? 0;
      if (previousBalance + amount > config.maxBalance) throw limitExceeded(amount, previousBalance);
      const currentBalance = await walletRepository.credit(trx, userId, amount, at);
      const ledgerEntryId = await walletRepository.insertLedgerEntry(trx, {
        userId,
        kind: "charge",
        amount,
        balanceAfter: currentBalance,
        orderId: null,
        gatewayReference: reference,
        at,
      });
      const result: ChargeResult = { previousBalance, chargedAmount: amount, currentBalance, ledgerEntryId, chargedAt: at };
      // Lock order: the key row is rank 1 but updated last. Nothing else locks this row while the
      // claim is in progress (waiters only read it, holding no other lock), so no cycle can form.
      if (claim) await completeInTransaction(trx, claim, { outcome: "charged", result } satisfies StoredCharge, at);
      return result;
    });
  }

  /** Step 5: the approval could not be credited. Voids it, records the refusal under the key, returns what to throw. */
  async function undoApproval(
    userId: number,
    amount: number,
    reference: string,
    gatewayKey: string,
    claim: IdempotentRequest | null,
    error: unknown,
  ): Promise<DomainError> {
    const overCap = isDomainError(error, "BALANCE_LIMIT_EXCEEDED") ? error : null;
    if (!overCap) logger?.error({ userId, amount, reference, err: error }, "wallet: crediting an approved charge failed; voiding it");
    let voided = false;
    try {
      await gateway.voidCharge({ reference, idempotencyKey: `${gatewayKey}:void`, reason: overCap ? "wallet balance limit reached" : "wallet credit failed" });
      voided = true;
    } catch (voidError) {
      logger?.error({ userId, amount, reference, err: voidError }, "wallet: approved charge was neither credited nor voided; reconcile by hand");
    }
    const stored: StoredCharge = overCap
      ? { outcome: "refused", code: "BALANCE_LIMIT_EXCEEDED", details: { ...overCap.details, gatewayReference: reference, voided } }
      : {
          outcome: "refused",
          code: "PAYMENT_DECLINED",
          details: { reason: "The wallet could not be credited; the charge was cancelled", gatewayCode: "VOIDED", gatewayReference: reference, voided },
        };
    if (claim) {
      try {
        await inTransaction(db, (trx) => completeInTransaction(trx, claim, stored, clock.now()));
      } catch (storeError) {
        // The key stays in progress: a retry is told IDEMPOTENCY_IN_PROGRESS rather than re-crediting a voided charge.
        logger?.error({ userId, key: claim.key, err: storeError }, "wallet: could not record a refused charge under its idempotency key");
      }
    }
    return new DomainError(stored.code, stored.details);
  }

  async function chargeOnce(userId: number, amount: number, claim: IdempotentRequest | null): Promise<ChargeResult> {
    const gatewayKey = claim ? `wallet-charge:${userId}:${amount}:${claim.key}` : `wallet-charge:${userId}:${uuidv7()}`;
    const reference = await callGateway(userId, amount, gatewayKey, claim);
    try {
      return await credit(userId, amount, reference, claim);
    } catch (error) {
      throw await undoApproval(userId, amount, reference, gatewayKey, claim, error);
    }
  }

  async function ledgerPage(userId: number, cursor: string | undefined, limit: number): Promise<Page<LedgerEntry>> {
    const beforeId = decodeCursor(cursor, cursorShape);
    const rows = await walletRepository.listLedger(db, userId, beforeId, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { items: page.map(toEntry), nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
  }

  return {
    config: Object.freeze({ ...config }),

    /** Tops the wallet up by card. With a key, retries (also concurrent ones) get the first outcome. */
    async charge(userId: number, amount: number, idempotencyKey?: string): Promise<ChargeResult> {
      checkBounds(amount);
      if (idempotencyKey === undefined) return chargeOnce(userId, amount, null);
      const claim: IdempotentRequest = { userId, scope: CHARGE_SCOPE, key: idempotencyKey, requestHash: hashRequest({ amount }) };
      const stored = await claimOrWait(claim);
      if (stored) return replay(stored);
      return chargeOnce(userId, amount, claim);
    },

    async getBalance(userId: number): Promise<WalletBalance> {
      const account = await walletRepository.findAccount(db, userId);
      return { balance: account?.balance ?? 0, updatedAt: account?.updated_at ?? null };
    },

    history: ledgerPage,

    // ── for the orders module, inside its transaction ───────────────────────

    /** Takes an order's amount. Throws INSUFFICIENT_BALANCE { requiredAmount, currentBalance, shortfall }. */
    async debit(trx: Tx, userId: number, amount: number, meta: { orderId: number | null }): Promise<DebitResult> {
      assertMovement(amount, "debit");
      if (amount === 0) {
        const balance = (await walletRepository.findAccount(trx, userId))?.balance ?? 0;
        return { previousBalance: balance, balanceAfter: balance, ledgerEntryId: null };
      }
      const at = clock.now();
      let debited = await walletRepository.debitWithEntry(trx, userId, amount, meta.orderId, at);
      if (debited === undefined) {
        // Refused on the statement's snapshot. Look again under the row lock, so the error's numbers
        // are exact and a charge that committed in between is not missed.
        const currentBalance = (await walletRepository.lockAccount(trx, userId)) ?? 0;
        if (currentBalance < amount)
          throw new DomainError("INSUFFICIENT_BALANCE", { requiredAmount: amount, currentBalance, shortfall: amount - currentBalance });
        debited = await walletRepository.debitWithEntry(trx, userId, amount, meta.orderId, at);
        if (debited === undefined) throw new Error("wallet.debit: refused while holding the account lock");
      }
      return { previousBalance: debited.balanceAfter + amount, balanceAfter: debited.balanceAfter, ledgerEntryId: debited.ledgerEntryId };
    },

    /** Gives an order's amount back (cancellation, refund). Not capped by maxBalance. */
    async refund(trx: Tx, userId: number, amount: number, meta: { orderId: number | null }): Promise<RefundResult> {
      assertMovement(amount, "refund");
      if (amount === 0) {
        const balance = (await walletRepository.findAccount(trx, userId))?.balance ?? 0;
        return { balanceAfter: balance, ledgerEntryId: null };
      }
      const at = clock.now();
      await walletRepository.ensureAccount(trx, userId, at);
      const balanceAfter = await walletRepository.credit(trx, userId, amount, at);
      const ledgerEntryId = await walletRepository.insertLedgerEntry(trx, {
        userId,
        kind: "refund",
        amount,
        balanceAfter,
        orderId: meta.orderId,
        gatewayReference: null,
        at,
      });
      return { balanceAfter, ledgerEntryId };
    },

    // ── admin ───────────────────────────────────────────────────────────────

    async ledgerFor(userId: number, cursor: string | undefined, limit: number) {
      const [account, totals, page] = await Promise.all([
        walletRepository.findAccount(db, userId),
        walletRepository.ledgerTotals(db, userId),
        ledgerPage(userId, cursor, limit),
      ]);
      return { userId, balance: account?.balance ?? 0, ledgerSum: totals.sum, entryCount: totals.count, ...page };
    },

    /** Balances held (what the shop owes its customers) and wallet movements in a period. */
    totals: (from: Date, to: Date) => walletRepository.totals(db, from, to),

    /** Accounts whose balance is not the sum of their ledger. Empty when the books are right. */
    async verifyBooks(): Promise<BooksReport> {
      const [checkedAccounts, mismatches] = await Promise.all([walletRepository.countAccounts(db), walletRepository.booksMismatches(db, 1000)]);
      return { checkedAccounts, mismatches };
    },
  };
}
