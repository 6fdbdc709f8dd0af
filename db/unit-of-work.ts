/**
 * The unit of work. A transaction is opened at the edge (a procedure or a flow) with
 * `inTransaction` and passed down to services and repositories as `Tx`.
 *
 * ## Global lock order
 * Every transaction takes row locks in this order, and within one rank in ascending key order.
 * Following one order everywhere is what keeps concurrent orders, cancellations, charges and
 * coupon issues free of deadlocks.
 *
 *   1. IdempotencyKey    idempotency_keys row of (customer, scope, key)
 *   2. Order             order_orders row (pay, cancel, ship), and its order_payments row (written only under it)
 *   3. ChargeAttempt     wallet_charge_attempts row (settling a card charge: before the account it credits)
 *   4. Wallet            wallet_accounts row of the customer (a new wallet_ledger row share-locks it through its key)
 *   5. Coupon            coupon_coupons row (issue on the database path; Redis winners insert at their slot)
 *   6. IssuedCoupon      coupon_issued row (use, restore)
 *   7. Stock             inventory_stock rows, by ascending product id
 *   8. RestockSignup     inventory_restock_subscriptions rows of a product (stock back from zero)
 *   9. SalesDaily        sales_daily rows: only the sales roll-up (its own one-statement transaction);
 *                        orders append to sales_pending, which locks nothing anybody waits for
 *  10. Cart              cart_items rows of the customer (after stock: adding to a cart share-locks stock first)
 *  11. Shipment          shipping_shipments row (after its order: a carrier update moves both)
 *
 * A batch of orders (modules/orders/batch.ts) follows the same order with several rows per rank:
 * its keys, then every customer's wallet, then every product's stock, each rank in one statement
 * whose rows are locked in ascending id order (FOR NO KEY UPDATE over a sort, before the UPDATE).
 *
 * Hot rows (a flash-sale product's stock) come late so they are held for the shortest time: an
 * order takes its product's stock row as its last statement before COMMIT (cart rows of an order
 * placed from the cart come after it), and sends those statements with the COMMIT in one round trip
 * (db/pipeline.ts), see modules/orders/workflow.ts. Statements sent ahead without waiting keep the
 * order they were issued in, so pipelining changes no lock order.
 * Repositories call `noteLock` before each locking statement, writes to a row the transaction
 * locked already included (noting a held lock again is free); outside production it throws when a
 * transaction goes against the order, so a test catches a violation before a deadlock does.
 * A repository function that takes `Db | Tx` notes its lock when `executor.isTransaction` (the
 * union narrows on it; no cast). A lone statement on `Db` holds its locks for itself only.
 *
 * Not ranked, because nobody waits on them: appends of new rows whose foreign keys point at rows
 * the transaction holds already or at rows nobody locks (outbox_events, sales_pending, order_lines,
 * coupon_history, shipping_tracking_events); the
 * NOTIFY an outbox insert may send takes PostgreSQL's notify lock at COMMIT, after every row lock.
 *
 * `Db` and `Tx` are disjoint types (`isTransaction: false` / `true`): a lock helper that takes a
 * `Tx` cannot be handed the database outside a transaction, and `db as Tx` does not compile.
 */
import type { Kysely, Transaction } from "kysely";
import { openingTransaction } from "./direct.ts";
import type { Database } from "./schema.ts";

/**
 * The database outside any transaction. `isTransaction: false` makes it and `Tx` disjoint: a `Db`
 * cannot be passed (nor cast, `db as Tx` does not compile) where a transaction is needed, and a
 * `Db | Tx` narrows on `executor.isTransaction`.
 */
export type Db = Kysely<Database> & { readonly isTransaction: false };
/** A Kysely transaction. Lock helpers take only this, so no lock is ever taken outside one. */
export type Tx = Transaction<Database>;

/** The one place a `Kysely` becomes a `Db`: the client factory, for the instance it creates. */
export function outsideTransaction(db: Kysely<Database>): Db {
  if (db.isTransaction) throw new Error("outsideTransaction: this Kysely instance is a transaction");
  return db as Db;
}

export const LockRank = {
  IdempotencyKey: 1,
  Order: 2,
  ChargeAttempt: 3,
  /** An order's card payment (payment_card_payments): the rank of charge attempts, no transaction takes both. */
  CardPayment: 3,
  Wallet: 4,
  Coupon: 5,
  IssuedCoupon: 6,
  Stock: 7,
  RestockSignup: 8,
  SalesDaily: 9,
  Cart: 10,
  Shipment: 11,
} as const;
export type LockRank = (typeof LockRank)[keyof typeof LockRank];

let checkLockOrder = true;

/** The lock-order checker runs everywhere but production (the composition root decides, from NODE_ENV). */
export function checkLockOrderAtRuntime(on: boolean): void {
  checkLockOrder = on;
}
interface LockTrail {
  rank: number;
  key: number;
  held: Set<string>;
}
const lockTrails = new WeakMap<Tx, LockTrail>();

export class LockOrderViolation extends Error {
  override name = "LockOrderViolation";
}

/**
 * Records that `trx` is about to lock rows of `rank` (with `key`, the smallest id it locks, where
 * several rows of one rank are locked). Throws outside production if this goes against the order.
 * Touching a row the transaction already holds again is always fine: it takes no new lock.
 */
export function noteLock(trx: Tx, rank: LockRank, key = 0): void {
  if (!checkLockOrder) return;
  const id = `${rank}:${key}`;
  const trail = lockTrails.get(trx);
  if (!trail) {
    lockTrails.set(trx, { rank, key, held: new Set([id]) });
    return;
  }
  if (trail.held.has(id)) return;
  if (rank < trail.rank || (rank === trail.rank && key < trail.key)) {
    throw new LockOrderViolation(`lock order violated: rank ${rank} key ${key} after rank ${trail.rank} key ${trail.key}`);
  }
  trail.rank = rank;
  trail.key = key;
  trail.held.add(id);
}

/**
 * Runs `fn` in one transaction (READ COMMITTED; row locks give the exclusivity we need). Its
 * compiled statements go straight to the transaction's client (db/direct.ts).
 */
export function inTransaction<T>(db: Db, fn: (trx: Tx) => Promise<T>): Promise<T> {
  let committed: Array<() => void> = [];
  const result = openingTransaction((bind, unbind) =>
    db.transaction().execute(async (trx) => {
      bind(trx);
      try {
        return await fn(trx);
      } finally {
        committed = afterCommitWork.get(trx) ?? [];
        afterCommitWork.delete(trx);
        unbind(trx);
      }
    }),
  );
  return result.then((value) => {
    for (const work of committed) work();
    return value;
  });
}

const afterCommitWork = new WeakMap<Tx, Array<() => void>>();

/**
 * Runs `work` once `trx` has committed (never if it rolls back), synchronously, before its caller
 * continues: for in-process state that must follow the database (a cache forgetting what the
 * transaction changed). Only transactions opened by `inTransaction` run it.
 */
export function afterCommit(trx: Tx, work: () => void): void {
  const list = afterCommitWork.get(trx);
  if (list) list.push(work);
  else afterCommitWork.set(trx, [work]);
}

/** The PostgreSQL error code of a driver error, if any (23505 unique violation, 23514 check violation, ...). */
export function pgErrorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/**
 * True when PostgreSQL itself answered `error` on a live connection (it carries a severity and a
 * SQLSTATE), and not with a connection or shutdown error (classes 08 and 57P): the statement, or the
 * COMMIT it answered, took no effect. False for a connection lost on the way (ECONNRESET, EPIPE,
 * "Connection terminated", which carry no severity) and for a pooler's or a stopping server's
 * error: after a COMMIT was sent, those leave its outcome unknown.
 */
export function refusedByServer(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { severity, code } = error as { severity?: unknown; code?: unknown };
  if (typeof severity !== "string" || typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return false;
  return !code.startsWith("08") && !code.startsWith("57P");
}

export function pgConstraint(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "constraint" in error) {
    const constraint = (error as { constraint: unknown }).constraint;
    return typeof constraint === "string" ? constraint : undefined;
  }
  return undefined;
}

/** SQLSTATE classes and codes that mean "the connection or the server went away", not "the statement was wrong". */
// 57014: the statement ran past statement_timeout (a lock held too long, an overloaded server): worth a retry.
const unavailableSqlStates = new Set(["57P01", "57P02", "57P03", "57014", "53300", "58030"]);
const unavailableNodeCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
const unavailableMessages = [
  "Connection terminated",
  "timeout exceeded when trying to connect",
  "is not queryable",
  "Connection terminated due to connection timeout",
  "Client was closed and is not queryable",
];

/**
 * True when `error` (or its cause) says PostgreSQL could not be reached or dropped the connection:
 * a retry may well succeed, so callers answer SERVICE_UNAVAILABLE rather than 500.
 */
export function isConnectionError(error: unknown): boolean {
  for (const current of causeChain(error)) {
    const code = pgErrorCode(current);
    if (code && (code.startsWith("08") || unavailableSqlStates.has(code) || unavailableNodeCodes.has(code))) return true;
    const message = current instanceof Error ? current.message : "";
    if (unavailableMessages.some((m) => message.includes(m))) return true;
  }
  return false;
}

/** True when `error` (or its cause) is PostgreSQL's 57014: a statement ran past statement_timeout. */
export function isStatementTimeout(error: unknown): boolean {
  for (const current of causeChain(error)) if (pgErrorCode(current) === "57014") return true;
  return false;
}

/** An error and its causes, five deep at most. */
function* causeChain(error: unknown): Generator<unknown> {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    yield current;
    current = current instanceof Error ? current.cause : undefined;
  }
}
