/**
 * Idempotency keys, scoped to a customer and an operation. A retry with the same key returns
 * the first result; the same key with a different request is IDEMPOTENCY_KEY_REUSED; a retry
 * while the first still runs waits for it (same transaction flow) or gets IDEMPOTENCY_IN_PROGRESS
 * (flows that call out before their transaction). Failed attempts keep no key: a retry runs again.
 */
import { createHash } from "node:crypto";
import superjson from "superjson";
import type { Db, Tx } from "../../db/index.ts";

import { idempotencyErrors } from "./errors.ts";
import { idempotencyRepository, type KeyId, type KeyRow } from "./repository.ts";

export type { KeyId, KeyRow };

export interface IdempotentRequest extends KeyId {
  /** Hash of the request body: `hashRequest(input)`. */
  requestHash: string;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

/** Stable hash of a request: key order and undefined fields do not change it. */
export function hashRequest(input: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(canonical(input)))
    .digest("hex");
}

/**
 * An answer stored as where it can be read again rather than as itself: a key completed in the same
 * statement that wrote what it answers for (`keyStatementParts.reference`), before that
 * answer was known. The flow that stored it rebuilds the answer from it (`Rebuild`).
 */
export interface AnswerReference {
  /** What `id` names (an order, for orders placed in a batch). */
  kind: string;
  id: number;
}

/** Rebuilds a referenced answer, exactly as it was first given. */
export type Rebuild<T> = (reference: AnswerReference) => Promise<T>;

function referenceIn(response: unknown): AnswerReference | null {
  if (!response || typeof response !== "object" || !("reference" in response)) return null;
  const { reference } = response as { reference: AnswerReference };
  return { kind: String(reference.kind), id: Number(reference.id) };
}

async function replayOrRefuse<T>(request: IdempotentRequest, existing: KeyRow, rebuild?: Rebuild<T>): Promise<{ replay: T }> {
  if (existing.request_hash !== request.requestHash) throw idempotencyErrors.IDEMPOTENCY_KEY_REUSED.create({ key: request.key });
  if (existing.status !== "completed") throw idempotencyErrors.IDEMPOTENCY_IN_PROGRESS.create({ key: request.key });
  const reference = referenceIn(existing.response);
  if (!reference) return { replay: superjson.parse<T>(JSON.stringify(existing.response)) };
  if (!rebuild) throw new Error(`idempotency: the key ${request.scope}/${request.key} holds a reference (${reference.kind}) and its flow cannot rebuild one`);
  return { replay: await rebuild(reference) };
}

/**
 * For a flow that claims its key inside its own statement (`keyStatementParts.claim`) and did not get
 * it: the key that was there (`keyStatementParts.existing`) is replayed, or refused as reused or in
 * progress, exactly as `claimBeforeCallingOut` would. Null: the key was gone (given back in between),
 * claim again.
 */
export function outcomeOfTakenKey<T>(request: IdempotentRequest, existing: KeyRow | undefined, rebuild?: Rebuild<T>): Promise<{ replay: T } | null> {
  return existing ? replayOrRefuse<T>(request, existing, rebuild) : Promise.resolve(null);
}

/** A response as `completeInTransaction` stores it, for `keyStatementParts.complete`. */
export function storedResponse(response: unknown): string {
  return superjson.stringify(response);
}

/**
 * First step of an idempotent transaction (lock rank 1). Null: this call owns the key and must
 * `completeInTransaction` before commit. Otherwise the stored result of the first call.
 */
export async function claimInTransaction<T>(trx: Tx, request: IdempotentRequest, at: Date, rebuild?: Rebuild<T>): Promise<{ replay: T } | null> {
  if (await idempotencyRepository.tryInsert(trx, request, request.requestHash, "in_progress", at)) return null;
  const existing = await idempotencyRepository.find(trx, request);
  if (!existing) throw idempotencyErrors.IDEMPOTENCY_IN_PROGRESS.create({ key: request.key });
  return replayOrRefuse<T>(request, existing, rebuild);
}

/** Whether the key was claimed before (finished or not): a refusal for this request is then not the answer to give. */
export async function keyWasUsed(executor: Db | Tx, id: KeyId): Promise<boolean> {
  return (await idempotencyRepository.find(executor, id)) !== undefined;
}

export async function completeInTransaction(trx: Tx, request: KeyId, response: unknown, at: Date): Promise<void> {
  await idempotencyRepository.complete(trx, request, storedResponse(response), at);
}

/**
 * For flows that call an outside system before their transaction (a wallet charge): claims the
 * key in its own committed statement so a concurrent retry sees it and is told IN_PROGRESS.
 */
export async function claimBeforeCallingOut<T>(db: Db, request: IdempotentRequest, at: Date): Promise<{ replay: T } | null> {
  if (await idempotencyRepository.tryInsert(db, request, request.requestHash, "in_progress", at)) return null;
  const existing = await idempotencyRepository.find(db, request);
  if (!existing) return claimBeforeCallingOut(db, request, at); // released in between: try again
  return replayOrRefuse<T>(request, existing);
}

/** Gives a claimed key back after a failure, so the customer's retry runs again. */
export async function releaseClaim(db: Db | Tx, request: KeyId): Promise<void> {
  await idempotencyRepository.deleteInProgress(db, request);
}

/**
 * Gives back a key still in progress that was claimed before `claimedBefore`: its request died
 * between the claim and recording what it was about to do, so nothing else will ever complete it.
 */
/** Keys of `scope` claimed before `claimedBefore` and still in progress: candidates for releaseAbandonedClaim. */
export async function staleClaims(db: Db, scope: string, claimedBefore: Date, limit = 50): Promise<KeyId[]> {
  const rows = await idempotencyRepository.staleInProgress(db, scope, claimedBefore, limit);
  return rows.map((row) => ({ userId: row.user_id, scope, key: row.key }));
}

export function releaseAbandonedClaim(db: Db, request: KeyId, claimedBefore: Date): Promise<boolean> {
  return idempotencyRepository.deleteInProgress(db, request, claimedBefore);
}

/**
 * Forgets keys older than `before`. A retry is a matter of seconds or minutes; a day later the
 * same key is a new request. A key stuck "in progress" (its process died mid-charge) goes too.
 */
export function purgeKeysOlderThan(db: Db, before: Date): Promise<number> {
  return idempotencyRepository.deleteOlderThan(db, before);
}
