/** idempotency: customer-scoped keys that make retries safe. */
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
} from "./service.ts";
