export type { BackupTarget } from "./backup.ts";
export { BackupError, backupDatabase, restoreDatabase } from "./backup.ts";
export type { ConnectionEvents, DatabaseHandle, DatabaseOptions, PoolStats } from "./client.ts";
export { createDatabase } from "./client.ts";
export { compiledQuery } from "./compiled.ts";
export { type DataFolderOwner, dataFolderOwner } from "./data-folder-lock.ts";
export { migrateToLatest } from "./migrate.ts";
export { deferring } from "./pipeline.ts";
export * from "./schema.ts";
export type { Db, Tx } from "./unit-of-work.ts";
export {
  afterCommit,
  checkLockOrderAtRuntime,
  inTransaction,
  isConnectionError,
  isStatementTimeout,
  LockOrderViolation,
  LockRank,
  noteLock,
  pgConstraint,
  pgErrorCode,
  refusedByServer,
} from "./unit-of-work.ts";
