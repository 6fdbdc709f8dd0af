/** idempotency: customer-scoped keys that make retries safe. */
export { idempotencyErrors } from "./errors.ts";
export type { IdempotentRequest, KeyId } from "./service.ts";
export {
  claimBeforeCallingOut,
  claimInTransaction,
  completeInTransaction,
  hashRequest,
  keyWasUsed,
  purgeKeysOlderThan,
  releaseAbandonedClaim,
  releaseClaim,
  staleClaims,
} from "./service.ts";
