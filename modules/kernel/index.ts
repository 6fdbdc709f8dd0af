/** kernel: what every module shares — tRPC and base procedures, the domain error, the clock, ports for Redis. */
export type { BatchQueue, BatchQueueOptions } from "./batch-queue.ts";
export { BatchQueueTimeout, createBatchQueue } from "./batch-queue.ts";
export type { Clock } from "./clock.ts";
export { DAY, HOUR, ManualClock, MINUTE, systemClock, utcDay } from "./clock.ts";
export type { ErrorKind, ErrorSet, ErrorSpec } from "./errors.ts";
export {
  DomainError,
  defineErrors,
  domainErrorOf,
  ErrorDefinition,
  errorKinds,
  isDomainError,
  isErrorSet,
  kernelErrors,
  recordRefusalStacks,
  refusal,
} from "./errors.ts";
export type { JsonAnswer, JsonClient, JsonEndpoint } from "./http-json.ts";
export { jsonClient, refusedForGood } from "./http-json.ts";
export { createMemoryInfra, ExpiringMap } from "./infra/memory.ts";
export type { RedisClient } from "./infra/redis.ts";
export { createRedisClient, createRedisInfra, luaScript, parseRedisClusterUrl } from "./infra/redis.ts";
export type { Cache, Counters, Infra, Lock, LockManager, RateLimitDecision, RateLimiter, RateLimitPolicy } from "./infra/types.ts";
export type { Logger, Metrics, OutageLog } from "./observability.ts";
export { createLogger, createMetrics, createOutageLog } from "./observability.ts";
export type { PeriodicTask } from "./periodic.ts";
export { periodicTask } from "./periodic.ts";
export type { PiiCipher, PiiKeys } from "./pii.ts";
export { createPiiCipher, developmentPiiKeys } from "./pii.ts";
export type { CallCost, CallLimits, CallToLimit, RateLimitSettings } from "./rate-limits.ts";
export { createCallLimits } from "./rate-limits.ts";
export type { Page } from "./schemas.ts";
export {
  cursorSchema,
  decodeCursor,
  encodeCursor,
  envelopeViolation,
  idempotencyKeySchema,
  idSchema,
  inputViolations,
  instantSchema,
  MAX_INPUT_DEPTH,
  multilineText,
  noInput,
  pageLimitSchema,
  singleLineText,
  wonSchema,
} from "./schemas.ts";
export { serializedFormOf, serializeOnce, serializePlain, sharedDecoder } from "./serialized.ts";
export type { ProcedureMeta, RequestContext, Role, Session } from "./trpc.ts";
export { adminProcedure, authedProcedure, createCallerFactory, exposeErrorDetails, publicProcedure, router } from "./trpc.ts";
export { httpStatusOfKind, TRPCDomainError, toTrpcError, trpcCodeOfKind } from "./trpc-errors.ts";
export { createTurnBatcher } from "./turn-batch.ts";
