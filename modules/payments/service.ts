/**
 * Card payments of orders: the card adapter of the orders' payment-method port. Durable the same
 * way as the wallet's charges (modules/wallet/service.ts): every call to the gateway is recorded
 * first (payment_card_payments), and a row whose request died is settled by recovery, which asks
 * the gateway by key.
 *
 *   authorize  BEFORE the order's transaction (no lock is held for the gateway's latency): the row
 *              is recorded "authorizing" (own statement, with a lease), the gateway asked, the row
 *              moved to "authorized" — or "declined" (PAYMENT_DECLINED; nothing else changed).
 *   attach     INSIDE the order's transaction: "authorized" → "capturing" with the order's id. The
 *              row lock serializes it with recovery, so an authorization is either taken by an order
 *              or voided, never both.
 *   capture    AFTER the commit: the gateway captures; "capturing" → "captured".
 *   release    when the order's transaction did not take the authorization (stock ran out, a coupon
 *              was used meanwhile, the wallet part fell short, a replayed key): "voiding", the void,
 *              "voided".
 *   reverse    INSIDE the cancelling (or refunding) transaction: "capturing"/"captured" → "reversing";
 *              `settleReversal` after the commit voids the authorization if it was never captured, or
 *              refunds it, and ends "reversed".
 *   recover    rows still authorizing, authorized, voiding, capturing or reversing when their lease
 *              (longer than the gateway timeout and the order's transaction) runs out: authorizing →
 *              lookup (authorized → voided: no order took it; declined; never seen → failed);
 *              authorized/voiding → voided; capturing → captured; reversing → reversed.
 */
import { uuidv7 } from "uuidv7";
import type { Db, Tx } from "../../db/index.ts";
import type { Clock, Logger, PeriodicTask } from "../kernel/index.ts";
import { periodicTask } from "../kernel/index.ts";
import { walletErrors } from "../wallet/index.ts";
import { type AuthorizationLookup, type CardGateway, CardGatewayRefusedError, CardGatewayUnavailableError } from "./gateway.ts";
import { cardPaymentRepository } from "./repository.ts";

export interface CardPaymentsConfig {
  /** How long the request that recorded a card payment has to settle it before recovery may. */
  leaseMs: number;
  /** How often the recovery worker looks for card payments left unsettled (0: never on its own). */
  recoveryIntervalMs: number;
}

export const defaultCardPaymentsConfig: CardPaymentsConfig = { leaseMs: 15_000, recoveryIntervalMs: 5_000 };

export interface CardPaymentsDeps {
  db: Db;
  clock: Clock;
  gateway: CardGateway;
  logger?: Logger;
  config?: Partial<CardPaymentsConfig>;
}

/** An authorization held on the customer's card, not yet taken by an order. */
export interface CardAuthorization {
  cardPaymentId: number;
  amount: number;
}

type Row = NonNullable<Awaited<ReturnType<typeof cardPaymentRepository.find>>>;

export interface RecoveryCounts {
  taken: number;
  voided: number;
  captured: number;
  reversed: number;
  closed: number;
  failed: number;
}

export type CardPaymentsService = ReturnType<typeof createCardPaymentsService>;

export function createCardPaymentsService({ db, clock, gateway, logger, config: overrides }: CardPaymentsDeps) {
  const config = { ...defaultCardPaymentsConfig, ...overrides };
  let recovery: PeriodicTask | null = null;
  const leaseFromNow = () => new Date(clock.now().getTime() + config.leaseMs);
  const unavailable = (error?: unknown) =>
    walletErrors.PAYMENT_GATEWAY_UNAVAILABLE.create({ failure: error instanceof CardGatewayUnavailableError ? error.failure : "unknown", retryable: true });

  /** Voids the authorization of a row in "voiding". */
  async function finishVoid(row: Pick<Row, "id" | "gateway_key" | "gateway_reference">): Promise<void> {
    if (!row.gateway_reference) throw new Error(`card payment ${row.id}: voiding without a reference`);
    await gateway.voidAuthorization({ reference: row.gateway_reference, idempotencyKey: `${row.gateway_key}:void` });
    await cardPaymentRepository.move(db, row.id, ["voiding"], "voided", clock.now());
  }

  async function captureRow(row: Pick<Row, "id" | "gateway_key" | "gateway_reference">): Promise<void> {
    if (!row.gateway_reference) throw new Error(`card payment ${row.id}: capturing without a reference`);
    await gateway.capture({ reference: row.gateway_reference, idempotencyKey: `${row.gateway_key}:capture` });
    await cardPaymentRepository.move(db, row.id, ["capturing"], "captured", clock.now());
  }

  /** Gives the money of a "reversing" row back: a refund once captured, a void before. */
  async function reverseRow(row: Pick<Row, "id" | "gateway_key" | "gateway_reference">): Promise<void> {
    const reference = row.gateway_reference;
    if (!reference) throw new Error(`card payment ${row.id}: reversing without a reference`);
    try {
      await gateway.refund({ reference, idempotencyKey: `${row.gateway_key}:refund` });
    } catch (error) {
      // Never captured (the order was cancelled before its capture landed): letting the hold go is the refund.
      if (!(error instanceof CardGatewayRefusedError && error.code === "NOT_CAPTURED")) throw error;
      await gateway.voidAuthorization({ reference, idempotencyKey: `${row.gateway_key}:void` });
    }
    await cardPaymentRepository.move(db, row.id, ["reversing"], "reversed", clock.now());
  }

  /** Settles a row whose request is gone. */
  async function recoverRow(row: Row): Promise<keyof Omit<RecoveryCounts, "taken" | "failed">> {
    const at = clock.now();
    switch (row.status) {
      case "authorizing": {
        const decision: AuthorizationLookup = await gateway.lookup(row.gateway_key);
        if (decision.status === "declined") {
          await cardPaymentRepository.move(db, row.id, ["authorizing"], "declined", at);
          return "closed";
        }
        if (decision.status === "not_found") {
          // The lease has run out, so no request of ours is still on its way: nothing was authorized.
          await cardPaymentRepository.move(db, row.id, ["authorizing"], "failed", at);
          return "closed";
        }
        // Authorized, and no order can take it any more (attach needs "authorized"): let it go.
        if (!(await cardPaymentRepository.move(db, row.id, ["authorizing"], "voiding", at, { reference: decision.reference }))) return "closed";
        await finishVoid({ ...row, gateway_reference: decision.reference });
        return "voided";
      }
      case "authorized":
        if (!(await cardPaymentRepository.move(db, row.id, ["authorized"], "voiding", at))) return "closed";
        await finishVoid(row);
        return "voided";
      case "voiding":
        await finishVoid(row);
        return "voided";
      case "capturing":
        await captureRow(row);
        return "captured";
      case "reversing":
        await reverseRow(row);
        return "reversed";
      default:
        return "closed";
    }
  }

  /** Runs `work` after a commit: the outcome is logged, never thrown (recovery finishes what fails). */
  async function bestEffort(what: string, id: number, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      logger?.warn({ cardPaymentId: id, err: error }, `card payment: ${what} failed; recovery will retry`);
    }
  }

  return {
    config: Object.freeze({ ...config }),

    /**
     * Holds `amount` on the customer's card, before the order's transaction. Throws PAYMENT_DECLINED
     * (nothing held) or PAYMENT_GATEWAY_UNAVAILABLE (recorded; recovery lets any hold go).
     */
    async authorize(userId: number, amount: number): Promise<CardAuthorization> {
      if (!Number.isSafeInteger(amount) || amount <= 0) throw new Error(`card payment: amount must be a positive integer (won), got ${amount}`);
      const gatewayKey = `order-card:${userId}:${uuidv7()}`;
      const cardPaymentId = await cardPaymentRepository.record(db, { userId, amount, gatewayKey, leaseUntil: leaseFromNow(), at: clock.now() });
      let decision: AuthorizationLookup;
      try {
        decision = await gateway.authorize({ userId, amount, idempotencyKey: gatewayKey });
      } catch (error) {
        logger?.warn({ userId, amount, gatewayKey, err: error }, "card payment: gateway unavailable on authorize");
        // Unknown: if the gateway can already say, go on; otherwise recovery settles the row later.
        const known = await gateway.lookup(gatewayKey).catch(() => null);
        if (!known || known.status === "not_found") throw unavailable(error);
        decision = known;
      }
      const at = clock.now();
      if (decision.status === "declined") {
        await cardPaymentRepository.move(db, cardPaymentId, ["authorizing"], "declined", at);
        throw walletErrors.PAYMENT_DECLINED.create({ reason: decision.reason, gatewayCode: decision.code });
      }
      // Anything else only a lookup could answer for a fresh key: recovery settles the row.
      if (decision.status !== "authorized") throw unavailable();
      if (!(await cardPaymentRepository.move(db, cardPaymentId, ["authorizing"], "authorized", at, { reference: decision.reference }))) {
        // Recovery took the row over meanwhile (we were slower than the lease) and lets the hold go.
        throw unavailable();
      }
      return { cardPaymentId, amount };
    },

    /**
     * Inside the order's transaction: the order takes the authorization. Throws
     * PAYMENT_GATEWAY_UNAVAILABLE if recovery let it go meanwhile (the transaction then rolls back).
     */
    async attach(trx: Tx, cardPaymentId: number, orderId: number): Promise<void> {
      const taken = await cardPaymentRepository.move(trx, cardPaymentId, ["authorized"], "capturing", clock.now(), { orderId, leaseUntil: leaseFromNow() });
      if (!taken) throw unavailable();
    },

    /** After the order committed: takes the money. Never throws; recovery captures what fails here. */
    async capture(cardPaymentId: number): Promise<void> {
      await bestEffort("capture", cardPaymentId, async () => {
        const row = await cardPaymentRepository.find(db, cardPaymentId);
        if (row?.status === "capturing") await captureRow(row);
      });
    },

    /** The order's transaction did not take the authorization: lets the hold go. Never throws. */
    async release(cardPaymentId: number): Promise<void> {
      await bestEffort("void", cardPaymentId, async () => {
        if (!(await cardPaymentRepository.move(db, cardPaymentId, ["authorized"], "voiding", clock.now()))) return;
        const row = await cardPaymentRepository.find(db, cardPaymentId);
        if (row) await finishVoid(row);
      });
    },

    /** Inside the cancelling transaction: marks the card payment to be given back after the commit. */
    async reverse(trx: Tx, cardPaymentId: number): Promise<void> {
      const marked = await cardPaymentRepository.move(trx, cardPaymentId, ["capturing", "captured"], "reversing", clock.now(), { leaseUntil: leaseFromNow() });
      if (!marked) throw new Error(`card payment ${cardPaymentId}: cannot be reversed in its state`);
    },

    /** After the cancelling transaction committed: gives the money back. Never throws. */
    async settleReversal(cardPaymentId: number): Promise<void> {
      await bestEffort("refund", cardPaymentId, async () => {
        const row = await cardPaymentRepository.find(db, cardPaymentId);
        if (row?.status === "reversing") await reverseRow(row);
      });
    },

    /** Settles card payments whose request died or gave up (lease run out). Safe on several instances. */
    async recover(limit = 50): Promise<RecoveryCounts> {
      const stale = await cardPaymentRepository.takeOverStale(db, clock.now(), leaseFromNow(), limit);
      const counts: RecoveryCounts = { taken: stale.length, voided: 0, captured: 0, reversed: 0, closed: 0, failed: 0 };
      for (const row of stale) {
        try {
          counts[await recoverRow(row)]++;
        } catch (error) {
          counts.failed++;
          logger?.error(
            { cardPaymentId: row.id, status: row.status, recoveryAttempts: row.recovery_attempts, err: error },
            "card payment: could not settle yet",
          );
        }
      }
      return counts;
    },

    /** Card payments that still owe the gateway a call: all 0 once recovery has caught up. */
    unsettled: () => cardPaymentRepository.unsettled(db),

    /** Runs recover every `recoveryIntervalMs` (one pass at a time). */
    start() {
      recovery ??= periodicTask(
        config.recoveryIntervalMs,
        () => this.recover(),
        (error) => logger?.error({ err: error }, "card payment: recovery pass failed"),
      );
      recovery.start();
    },

    stop: () => recovery?.stop(),
  };
}
