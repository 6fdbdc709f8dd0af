/** idempotency: customer-scoped keys that make retries safe. */
export { idempotencyErrors } from "./errors.ts";
export type { KeyRow } from "./repository.ts";
export { keyStatementParts } from "./repository.ts";
export type { AnswerReference, IdempotentRequest, KeyId, Rebuild } from "./service.ts";
export {
  claimBeforeCallingOut,
  claimInTransaction,
  completeInTransaction,
  hashRequest,
  keyWasUsed,
  outcomeOfTakenKey,
  purgeKeysOlderThan,
  releaseAbandonedClaim,
  releaseClaim,
  staleClaims,
  storedResponse,
} from "./service.ts";
