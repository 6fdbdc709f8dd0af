/**
 * The wallet: prepaid balance in integer won, charged by card through the payment gateway and
 * spent by orders. The balance always equals the sum of the account's ledger; the database
 * refuses a negative balance (CHECK) as the last guard.
 *
 * ## A charge: durable, because money leaves a card before it reaches the wallet
 * Two statements with the database per charge, each its own commit, and no connection or transaction
 * held while the gateway answers.
 *   1. Bounds (CHARGE_AMOUNT_OUT_OF_RANGE), then ONE statement: with an idempotency key, the claim
 *      (scope "wallet.charge") and, only if this statement claimed the key, the ATTEMPT
 *      (wallet_charge_attempts, "pending", with the gateway key and a lease), and the balance for
 *      the cap pre-check (BALANCE_LIMIT_EXCEEDED: no card is charged for money that cannot fit).
 *      A key that was there already is not claimed and nothing is written: a finished key replays
 *      its stored outcome; a key still running in another request is waited for (polling, up to
 *      `idempotencyWaitMs`), so every caller with one key gets the same answer. A key whose request
 *      died is settled by that wait (below). Without a key the statement only records the attempt.
 *   2. The gateway, outside any transaction. The gateway key is derived from (user, amount, key),
 *      so any retry is answered by the gateway from its own memory and the card is charged once.
 *      Declined → the attempt is closed and the key given back (one statement), PAYMENT_DECLINED. Unknown outcome
 *      (timeout, network, 5xx) → the gateway is asked once by key (lookup); if it cannot say yet,
 *      PAYMENT_GATEWAY_UNAVAILABLE and the attempt stays pending with its key in progress.
 *   3. Approved → ONE statement: the attempt's row locked while pending (a racing settler waits,
 *      then finds it settled), the account created or credited unless the cap is passed, the
 *      "charge" ledger entry, the attempt → credited, and the key completed with a pointer to that
 *      entry (its gateway reference: a replay reads the answer back from the ledger).
 *   4. Over the cap after the approval (a concurrent charge filled the wallet): the same statement
 *      moves the attempt to "voiding" instead and credits nothing; the gateway charge is voided, then
 *      "voided" and the key completed with the refusal.
 *   5. Recovery: an attempt still pending or voiding when its lease (`chargeLeaseMs`, longer than the
 *      gateway timeout) runs out belongs to a request that died or gave up. The recovery worker
 *      (`start()`, every `recoveryIntervalMs`; several instances are safe: SKIP LOCKED and a new
 *      lease) — or the customer's own retry with the same key — takes it over and asks the gateway
 *      by key: approved → credited as in 3; declined → closed; never seen → closed ("failed") and
 *      the key given back; voiding → voided again. Captured money is always credited or voided.
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
import { inTransaction, isConnectionError, refusedByServer } from "../../db/index.ts";
import {
  completeInTransaction,
  hashRequest,
  type IdempotentRequest,
  idempotencyErrors,
  type KeyId,
  outcomeOfTakenKey,
  releaseAbandonedClaim,
  releaseClaim,
  staleClaims,
  storedResponse,
} from "../idempotency/index.ts";
import type { Clock, Logger, Page, PeriodicTask } from "../kernel/index.ts";
import {
  BatchQueueTimeout,
  createBatchQueue,
  DomainError,
  decodeCursor,
  type ErrorDefinition,
  encodeCursor,
  kernelErrors,
  periodicTask,
} from "../kernel/index.ts";
import { walletErrors } from "./errors.ts";
import { type ChargeLookup, type PaymentGateway, PaymentGatewayUnavailableError } from "./gateway.ts";
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
  /**
   * How long the request that recorded a charge has to settle it before recovery may take it over.
   * Must exceed the gateway's timeout, so no request of ours is still on its way when recovery asks.
   */
  chargeLeaseMs: number;
  /** How often the recovery worker looks for charges left unsettled. */
  recoveryIntervalMs: number;
  /**
   * Most keyed charges whose statement (the record, then the credit) shares one multi-row statement
   * while others run (one per customer); 1: each charge its own statements.
   */
  chargeBatchSize: number;
  /** Batched statements of each kind running at once. */
  chargeBatchConcurrency: number;
  /** Longest wait for a shared statement before SERVICE_UNAVAILABLE (the pool's connection timeout). */
  chargeBatchMaxWaitMs: number;
}

const defaultWalletConfig: WalletConfig = {
  minCharge: 1_000,
  maxCharge: 1_000_000,
  maxBalance: 10_000_000,
  idempotencyWaitMs: 15_000,
  chargeLeaseMs: 15_000,
  recoveryIntervalMs: 5_000,
  chargeBatchSize: 32,
  chargeBatchConcurrency: 2,
  chargeBatchMaxWaitMs: 15_000,
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

/**
 * What an idempotency key stores: the credit (its gateway reference: the answer is read back from
 * that "charge" ledger entry, so the key is completed in the crediting statement itself), or the
 * refusal that followed an approval. "charged" (the whole result) is what keys completed before
 * held; they replay as they were.
 */
type StoredCharge =
  | { outcome: "credited"; reference: string }
  | { outcome: "charged"; result: ChargeResult }
  | { outcome: "refused"; code: "BALANCE_LIMIT_EXCEEDED" | "PAYMENT_DECLINED"; details: Record<string, unknown> };

/** What the first statement of a charge recorded, or the stored outcome of the customer's key. */
type Recorded = { attemptId: number; balance: number } | { replay: StoredCharge };

/** The attempt a charge settles. */
interface AttemptRef {
  id: number;
  userId: number;
  amount: number;
  gatewayKey: string;
}
type StaleAttempt = Awaited<ReturnType<typeof walletRepository.takeOverStaleAttempts>>[number];

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
  let recovery: PeriodicTask | null = null;
  for (const [name, value] of Object.entries(config)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`wallet config ${name} must be a non-negative integer, got ${value}`);
  }
  if (config.minCharge < 1 || config.minCharge > config.maxCharge) throw new Error("wallet config: need 1 <= minCharge <= maxCharge");

  function checkBounds(amount: number): void {
    if (!Number.isSafeInteger(amount) || amount < config.minCharge || amount > config.maxCharge) {
      throw walletErrors.CHARGE_AMOUNT_OUT_OF_RANGE.create({ amount, minAmount: config.minCharge, maxAmount: config.maxCharge });
    }
  }

  function limitExceeded(amount: number, currentBalance: number) {
    return walletErrors.BALANCE_LIMIT_EXCEEDED.create({
      amount,
      currentBalance,
      maxBalance: config.maxBalance,
      chargeableAmount: Math.max(0, config.maxBalance - currentBalance),
    });
  }

  /** A stored refusal as the error it was: its details were made by the same definition. */
  function refusedAgain(stored: Extract<StoredCharge, { outcome: "refused" }>): DomainError {
    return new DomainError(walletErrors[stored.code] as ErrorDefinition<string, Record<string, unknown>>, stored.details);
  }

  async function replay(userId: number, stored: StoredCharge): Promise<ChargeResult> {
    if (stored.outcome === "credited") return creditedResult(userId, stored.reference);
    if (stored.outcome === "charged") return stored.result;
    throw refusedAgain(stored);
  }

  /** The answer of a credited charge, read back from its "charge" ledger entry (the same numbers the crediting request answered). */
  async function creditedResult(userId: number, reference: string): Promise<ChargeResult> {
    const entry = await walletRepository.findChargeEntry(db, userId, reference);
    if (!entry) throw new Error(`wallet: no "charge" ledger entry for the credited charge ${reference}`);
    return {
      previousBalance: entry.balance_after - entry.amount,
      chargedAmount: entry.amount,
      currentBalance: entry.balance_after,
      ledgerEntryId: entry.id,
      chargedAt: entry.created_at,
    };
  }

  const leaseFromNow = () => new Date(clock.now().getTime() + config.chargeLeaseMs);
  /**
   * Charges at once share their statements (one multi-row statement, one commit, for what arrived
   * while the previous ones ran; kernel/batch-queue.ts): PostgreSQL's cost of a charge is mostly per
   * statement. Each statement commits on its own, so a batch that fails with PostgreSQL's answer
   * changed nothing, and its charges run their own statements (which meet the failure that is
   * theirs); one that fails without an answer (the connection lost) may have committed, and that
   * failure is each charge's answer, as it would be for its own statement.
   */
  const ALONE = Symbol("alone");
  /** Shared statements run (a batch of one included), and the most charges one carried: tests and metrics. */
  const batchStats = { records: { shared: 0, largest: 0 }, settles: { shared: 0, largest: 0 } };
  function statementBatches<Item extends { userId: number }, Result>(
    stats: { shared: number; largest: number },
    run: (items: Item[]) => Promise<Array<Result | typeof ALONE>>,
    alone: (item: Item) => Promise<Result>,
  ) {
    if (config.chargeBatchSize <= 1) return alone;
    const queue = createBatchQueue<Item, Result | typeof ALONE>({
      maxBatch: config.chargeBatchSize,
      maxConcurrent: config.chargeBatchConcurrency,
      keyOf: (item) => item.userId,
      maxWaitMs: config.chargeBatchMaxWaitMs,
      // A batch of one goes through the shared statement too: the settle's skips a held account
      // instead of waiting for it in the batch's slot.
      run: async (items) => {
        try {
          const results = await run(items);
          stats.shared++;
          stats.largest = Math.max(stats.largest, items.length);
          return results;
        } catch (error) {
          // PostgreSQL refused the statement: nothing of it was committed, each charge runs its own,
          // unless the database is unreachable or overloaded (each would meet the same, once more).
          if (!refusedByServer(error) || isConnectionError(error)) throw error;
          return items.map(() => ALONE);
        }
      },
    });
    return async (item: Item): Promise<Result> => {
      const result = await queue.submit(item).catch((error: unknown) => {
        if (error instanceof BatchQueueTimeout) throw kernelErrors.SERVICE_UNAVAILABLE.create({ dependency: "database", retryable: true });
        throw error;
      });
      return result === ALONE ? alone(item) : result;
    };
  }

  // The lease and time here too are taken when the statement runs.
  type KeyedAttempt = Omit<Parameters<typeof walletRepository.claimKeyAndRecordAttempt>[1], "at" | "leaseUntil">;
  const claimKeyAndRecordAttempt = statementBatches<KeyedAttempt, Awaited<ReturnType<typeof walletRepository.claimKeyAndRecordAttempt>>>(
    batchStats.records,
    (attempts) => walletRepository.claimKeysAndRecordAttempts(db, attempts, leaseFromNow(), clock.now()),
    (attempt) => walletRepository.claimKeyAndRecordAttempt(db, { ...attempt, leaseUntil: leaseFromNow(), at: clock.now() }),
  );
  // The time and the lease are taken when the statement runs, not before its wait for a batch or a
  // connection: the lease then runs from the write, and the answer's chargedAt is the ledger entry's
  // own (a replay reads it there).
  type Approved = Omit<Parameters<typeof walletRepository.settleApproved>[1], "at" | "leaseUntil">;
  const settleApproved = statementBatches<Approved, Awaited<ReturnType<typeof walletRepository.settleApproved>>>(
    batchStats.settles,
    async (attempts) => {
      const at = clock.now();
      const leaseUntil = leaseFromNow();
      const settled = await walletRepository.settleApprovedMany(
        db,
        attempts.map((attempt) => ({ ...attempt, at, leaseUntil })),
        config.maxBalance,
      );
      // An account another transaction holds: that charge settles on its own, waiting for it alone.
      return settled.map((result) => (result === "busy" ? ALONE : result));
    },
    (attempt) => walletRepository.settleApproved(db, { ...attempt, at: clock.now(), leaseUntil: leaseFromNow() }),
  );

  const gatewayUnavailable = (error: unknown) => {
    const failure = error instanceof PaymentGatewayUnavailableError ? error.failure : "unknown";
    return walletErrors.PAYMENT_GATEWAY_UNAVAILABLE.create({ failure, retryable: true });
  };

  /**
   * Claims the key and records the attempt in one statement, or waits while another request holds
   * the key. A key held by a request that died (or gave up on the gateway) is settled here once its
   * attempt's lease has run out, so the customer's retry gets the outcome instead of waiting a day.
   */
  async function claimAndRecordOrWait(request: IdempotentRequest, amount: number, gatewayKey: string): Promise<Recorded> {
    const deadline = performance.now() + config.idempotencyWaitMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      try {
        const recorded = await claimKeyAndRecordAttempt({
          userId: request.userId,
          amount,
          gatewayKey,
          scope: request.scope,
          idempotencyKey: request.key,
          requestHash: request.requestHash,
        });
        if (recorded.claimed) {
          if (recorded.attemptId !== undefined) return { attemptId: recorded.attemptId, balance: recorded.balance };
          await releaseClaim(db, request);
          throw new Error(`wallet: charge attempt ${gatewayKey} is unsettled while its key was free`);
        }
        const taken = await outcomeOfTakenKey<StoredCharge>(request, recorded.existing);
        if (taken) return taken;
        continue; // the key was given back in between: claim again
      } catch (error) {
        if (!idempotencyErrors.IDEMPOTENCY_IN_PROGRESS.is(error)) throw error;
        if (await settleAbandoned(request, gatewayKey)) continue;
        if (performance.now() + delay > deadline) throw error;
      }
      await sleep(delay);
    }
  }

  /** True when the key's attempt (or the bare claim) was abandoned and is now settled or given back. */
  async function settleAbandoned(key: KeyId, gatewayKey: string): Promise<boolean> {
    const attempt = await walletRepository.findAttemptByGatewayKey(db, gatewayKey);
    if (!attempt || attempt.status === "declined" || attempt.status === "failed") {
      // Nothing of this key can still charge a card: no attempt (claimed before the claim and the
      // attempt shared one statement, by a request that died before recording it), or one closed by
      // a request that died before giving the key back (before both shared one statement).
      return releaseAbandonedClaim(db, key, new Date(clock.now().getTime() - config.chargeLeaseMs));
    }
    const [taken] = await walletRepository.takeOverStaleAttempts(db, clock.now(), leaseFromNow(), 1, gatewayKey);
    if (!taken) return false;
    await recover(taken).catch(async (error) => {
      // Settled as a refusal (stored under the key, or the key given back): the caller's loop reads it.
      // Still unsettled: the gateway could not say yet, and the customer hears so.
      const status = await walletRepository.attemptStatus(db, taken.id);
      if (status === "pending" || status === "voiding") throw error;
    });
    return true;
  }

  /** Settles an attempt the gateway has decided. Returns the credited result, or throws what the customer is told. */
  async function settle(attempt: AttemptRef, key: KeyId | null, decision: ChargeLookup): Promise<ChargeResult> {
    const at = clock.now();
    switch (decision.status) {
      case "approved":
        return creditApproved(attempt, key, decision.reference);
      case "declined":
        await walletRepository.closeAttempt(db, { id: attempt.id, userId: attempt.userId, to: "declined", at, key });
        throw walletErrors.PAYMENT_DECLINED.create({ reason: decision.reason, gatewayCode: decision.code });
      case "voided":
        // Only a lookup answers this: we voided it, and died before recording that.
        return finishVoid(attempt, key, decision.reference);
      case "not_found":
        // The lease has run out, so no request of ours is still on its way: nothing was charged.
        await walletRepository.closeAttempt(db, { id: attempt.id, userId: attempt.userId, to: "failed", at, key });
        throw walletErrors.PAYMENT_GATEWAY_UNAVAILABLE.create({ failure: "unknown", retryable: true });
    }
  }

  /**
   * The one statement that credits an approved charge and completes the customer's key (no
   * transaction is held open across round trips). Past the cap the same statement moves the
   * attempt to "voiding", and the approval is voided at the gateway.
   */
  async function creditApproved(attempt: AttemptRef, key: KeyId | null, reference: string): Promise<ChargeResult> {
    const credited = await settleApproved({
      id: attempt.id,
      userId: attempt.userId,
      amount: attempt.amount,
      reference,
      maxBalance: config.maxBalance,
      key: key && { scope: key.scope, key: key.key, response: storedResponse({ outcome: "credited", reference } satisfies StoredCharge) },
    });
    // A concurrent charge filled the wallet after the pre-check: the approval is given back.
    if (credited === "voiding") return voidApproved(attempt, key, reference);
    // Recovery (or the customer's retry) settled it first: answer with what it wrote.
    if (credited === "settled-elsewhere") {
      return creditedResult(attempt.userId, reference).catch(() => {
        throw walletErrors.PAYMENT_GATEWAY_UNAVAILABLE.create({ failure: "unknown", retryable: true });
      });
    }
    return {
      previousBalance: credited.balanceAfter - attempt.amount,
      chargedAmount: attempt.amount,
      currentBalance: credited.balanceAfter,
      ledgerEntryId: credited.ledgerEntryId,
      chargedAt: credited.at,
    };
  }

  /** An approval past the balance cap (attempt "voiding"): void it at the gateway, then record the refusal. */
  async function voidApproved(attempt: AttemptRef, key: KeyId | null, reference: string): Promise<never> {
    try {
      await gateway.voidCharge({ reference, idempotencyKey: `${attempt.gatewayKey}:void`, reason: "wallet balance limit reached" });
    } catch (error) {
      // Still "voiding": recovery voids it once the lease runs out; the key stays in progress until then.
      logger?.error(
        { userId: attempt.userId, amount: attempt.amount, reference, err: error },
        "wallet: voiding an approval past the cap failed; recovery will retry",
      );
      throw gatewayUnavailable(error);
    }
    return finishVoid(attempt, key, reference);
  }

  async function finishVoid(attempt: AttemptRef, key: KeyId | null, reference: string): Promise<never> {
    const currentBalance = (await walletRepository.findAccount(db, attempt.userId))?.balance ?? 0;
    const refusal = limitExceeded(attempt.amount, currentBalance);
    const stored: StoredCharge = {
      outcome: "refused",
      code: "BALANCE_LIMIT_EXCEEDED",
      details: { ...refusal.details, gatewayReference: reference, voided: true },
    };
    await inTransaction(db, async (trx) => {
      const moved = await walletRepository.moveAttempt(trx, attempt.id, ["pending", "voiding"], "voided", clock.now(), { reference });
      // Voided first by another settler (recovery and the request can race here): its stored refusal stays the key's answer.
      if (moved && key) await completeInTransaction(trx, key, stored, clock.now());
    });
    throw refusedAgain(stored);
  }

  /** Settles an attempt whose request is gone: asks the gateway what it decided. */
  async function recover(attempt: StaleAttempt): Promise<ChargeResult> {
    const ref: AttemptRef = { id: attempt.id, userId: attempt.user_id, amount: attempt.amount, gatewayKey: attempt.gateway_key };
    const key: KeyId | null = attempt.idempotency_key === null ? null : { userId: attempt.user_id, scope: CHARGE_SCOPE, key: attempt.idempotency_key };
    if (attempt.status === "voiding" && attempt.gateway_reference) return voidApproved(ref, key, attempt.gateway_reference);
    let decision: ChargeLookup;
    try {
      decision = await gateway.lookup(attempt.gateway_key);
    } catch (error) {
      throw gatewayUnavailable(error);
    }
    return settle(ref, key, decision);
  }

  /** The request path after the attempt is recorded: pre-check, call the gateway, settle. */
  async function chargeRecorded(
    userId: number,
    amount: number,
    gatewayKey: string,
    claim: IdempotentRequest | null,
    { attemptId, balance }: { attemptId: number; balance: number },
  ): Promise<ChargeResult> {
    const attempt: AttemptRef = { id: attemptId, userId, amount, gatewayKey };
    if (balance + amount > config.maxBalance) {
      // No card is charged for money that cannot fit.
      await walletRepository.closeAttempt(db, { id: attemptId, userId, to: "failed", at: clock.now(), key: claim });
      throw limitExceeded(amount, balance);
    }

    let decision: ChargeLookup;
    try {
      decision = await gateway.charge({ userId, amount, idempotencyKey: gatewayKey });
    } catch (error) {
      const failure = error instanceof PaymentGatewayUnavailableError ? error.failure : "unknown";
      logger?.warn({ userId, amount, gatewayKey, failure, err: error }, "wallet: payment gateway unavailable");
      // The outcome is unknown. If the gateway can already say, settle now; otherwise the attempt
      // stays pending (the key in progress) until its lease runs out and recovery asks again.
      const known = await gateway.lookup(gatewayKey).catch(() => null);
      if (!known || known.status === "not_found") throw gatewayUnavailable(error);
      decision = known;
    }
    return settle(attempt, claim, decision);
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

    /** How many charge statements were shared by several charges, and the most in one (`chargeBatchSize`). */
    chargeBatchStats: () => structuredClone(batchStats),

    /** Tops the wallet up by card. With a key, retries (also concurrent ones) get the first outcome. */
    async charge(userId: number, amount: number, idempotencyKey?: string): Promise<ChargeResult> {
      checkBounds(amount);
      if (idempotencyKey === undefined) {
        const gatewayKey = `wallet-charge:${userId}:${uuidv7()}`;
        const { attemptId, balance } = await walletRepository.recordAttempt(db, { userId, amount, gatewayKey, leaseUntil: leaseFromNow(), at: clock.now() });
        if (attemptId === undefined) throw new Error(`wallet: charge attempt ${gatewayKey} already exists`);
        return chargeRecorded(userId, amount, gatewayKey, null, { attemptId, balance });
      }
      // The gateway key is derived from (user, amount, key): a retry is answered by the gateway from its own memory.
      const gatewayKey = `wallet-charge:${userId}:${amount}:${idempotencyKey}`;
      const claim: IdempotentRequest = { userId, scope: CHARGE_SCOPE, key: idempotencyKey, requestHash: hashRequest({ amount }) };
      const recorded = await claimAndRecordOrWait(claim, amount, gatewayKey);
      if ("replay" in recorded) return replay(userId, recorded.replay);
      return chargeRecorded(userId, amount, gatewayKey, claim, recorded);
    },

    /**
     * Settles charges whose request died or gave up (lease run out): asks the gateway by key and
     * credits, closes or voids each. Safe on several instances at once. Returns what it settled.
     */
    async recoverCharges(limit = 50): Promise<{ taken: number; credited: number; closed: number; failed: number }> {
      const claimedBefore = new Date(clock.now().getTime() - config.chargeLeaseMs);
      // Keys whose request died with no attempt that may have taken money (none recorded, or only a
      // closed one): the key is given back (the customer's retry would do the same).
      for (const key of await staleClaims(db, CHARGE_SCOPE, claimedBefore, limit)) {
        if (!(await walletRepository.hasOpenOrPaidAttemptFor(db, key.userId, key.key))) await releaseAbandonedClaim(db, key, claimedBefore);
      }
      const stale = await walletRepository.takeOverStaleAttempts(db, clock.now(), leaseFromNow(), limit);
      const counts = { taken: stale.length, credited: 0, closed: 0, failed: 0 };
      for (const attempt of stale) {
        const outcome = await recover(attempt).then(
          () => null,
          (error: unknown) => error,
        );
        const status = await walletRepository.attemptStatus(db, attempt.id);
        if (status === "credited") {
          counts.credited++;
          logger?.warn({ attemptId: attempt.id, userId: attempt.user_id, amount: attempt.amount }, "wallet: recovered an approved charge and credited it");
        } else if (status === "pending" || status === "voiding") {
          counts.failed++;
          logger?.error({ attemptId: attempt.id, recoveryAttempts: attempt.recovery_attempts, err: outcome }, "wallet: could not settle a charge attempt yet");
        } else counts.closed++;
      }
      return counts;
    },

    /** Attempts not settled yet (pending or voiding): 0 once recovery has caught up. */
    unsettledCharges: () => walletRepository.unsettledAttempts(db),

    /** Runs recoverCharges every `recoveryIntervalMs` (one pass at a time). */
    start() {
      recovery ??= periodicTask(
        config.recoveryIntervalMs,
        () => this.recoverCharges(),
        (error) => logger?.error({ err: error }, "wallet: charge recovery pass failed"),
      );
      recovery.start();
    },

    stop: () => recovery?.stop(),

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
          throw walletErrors.INSUFFICIENT_BALANCE.create({ requiredAmount: amount, currentBalance, shortfall: amount - currentBalance });
        debited = await walletRepository.debitWithEntry(trx, userId, amount, meta.orderId, at);
        if (debited === undefined) throw new Error("wallet.debit: refused while holding the account lock");
      }
      return { previousBalance: debited.balanceAfter + amount, balanceAfter: debited.balanceAfter, ledgerEntryId: debited.ledgerEntryId };
    },

    /**
     * A batch of orders' debits, one per customer, each amount > 0 (modules/orders/batch.ts): the
     * balance after each covered debit, by customer. Customers left out were not debited; the
     * caller rolls the batch back and runs their orders one by one (`debit`: the exact refusal).
     */
    async debitMany(trx: Tx, debits: Array<{ userId: number; amount: number; orderId: number }>): Promise<Map<number, number>> {
      for (const d of debits) assertMovement(d.amount, "debit");
      // UPDATE … FROM would debit a repeated customer once for both.
      if (new Set(debits.map((d) => d.userId)).size !== debits.length) throw new Error("wallet.debitMany: one debit per customer");
      if (debits.some((d) => d.amount === 0)) throw new Error("wallet.debitMany: every amount must be > 0");
      return walletRepository.debitManyWithEntries(trx, debits, clock.now());
    },

    /** The balance an order's payment left, as its debit reported it; null when the wallet paid nothing of it. */
    async balanceAfterPayment(executor: Db | Tx, userId: number, orderId: number): Promise<number | null> {
      return (await walletRepository.balanceAfterPayment(executor, userId, orderId)) ?? null;
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
    /**
     * Before an account is erased, inside that transaction: the account row locked (rank Wallet, so
     * no payment or charge credits it meanwhile), and refused while it holds money or a charge is
     * still unsettled (ACCOUNT_HAS_BALANCE). Agora does not pay balances out: the customer spends
     * it, or an operator settles it outside Agora first. The ledger stays whole: the books verify.
     */
    async assertEmptyForErasure(trx: Tx, userId: number): Promise<void> {
      const balance = (await walletRepository.lockAccount(trx, userId)) ?? 0;
      const unsettledCharges = await walletRepository.unsettledAttemptsOf(trx, userId);
      if (balance > 0 || unsettledCharges > 0) throw walletErrors.ACCOUNT_HAS_BALANCE.create({ userId, balance, unsettledCharges });
    },

    async verifyBooks(): Promise<BooksReport> {
      const [checkedAccounts, mismatches] = await Promise.all([walletRepository.countAccounts(db), walletRepository.booksMismatches(db, 1000)]);
      return { checkedAccounts, mismatches };
    },
  };
}
