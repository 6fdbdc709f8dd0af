import { z } from "zod";
import type { PiiKeys } from "../../modules/kernel/index.ts";

/** Every setting Agora reads, with its default. README lists the same table. */
export interface AgoraConfig {
  nodeEnv: string;
  host: string;
  port: number;
  databaseUrl: string | undefined;
  /**
   * Where the outbox poller LISTENs for new events: undefined → DATABASE_URL; a URL → that one (a
   * direct connection when DATABASE_URL goes through PgBouncer in transaction mode, which cannot
   * carry LISTEN); null ("off") → no LISTEN, the poller looks every OUTBOX_POLL_INTERVAL_MS.
   */
  databaseListenUrl: string | null | undefined;
  /**
   * The order path's fixed statements (db/compiled.ts) go as named prepared statements; off for a
   * pooler that cannot keep them (PgBouncer in transaction mode before 1.21, or without max_prepared_statements).
   */
  databasePreparedStatements: boolean;
  dataDir: string;
  dbPoolSize: number;
  /** How long a request waits for a database connection (pool queue included) before SERVICE_UNAVAILABLE. */
  dbConnectTimeoutMs: number;
  /** PostgreSQL statement_timeout on the instance's connections (0: none). */
  dbStatementTimeoutMs: number;
  redisUrl: string | undefined;
  redisPrefix: string;
  logLevel: string;
  corsOrigins: string[];
  bodyLimitBytes: number;
  trustProxy: boolean;
  admin: { email: string; password: string; name: string } | null;
  sessionTtlHours: number;
  /** How long a resolved session stays cached; revocations delete it at once. 0 disables. */
  sessionCacheSeconds: number;
  sessionLocalCacheMs: number;
  /** argon2id memory cost in KiB; lower only for tests and benchmarks. */
  passwordMemoryCost: number;
  passwordTimeCost: number;
  shutdownGraceMs: number;
  /** Unset: the dev server starts the fake gateway in-process. */
  paymentGatewayUrl: string | undefined;
  paymentGatewayTimeoutMs: number;
  paymentGatewayApiKey: string | undefined;
  /** How long a charge's own request has to settle it before recovery may; longer than the gateway timeout. */
  walletChargeLeaseMs: number;
  /** How often unsettled charges are looked for; 0 turns the recovery worker off (tests drive it by hand). */
  walletChargeRecoveryIntervalMs: number;
  /** Most keyed charges sharing one statement (the record, then the credit) while others run; 1: off. */
  walletChargeBatchSize: number;
  /** Shared charge statements of each kind running at once. */
  walletChargeBatchConcurrency: number;
  chargeMin: number;
  chargeMax: number;
  maxBalance: number;
  orderPaymentWindowMinutes: number;
  /** Most orders placed at once in one transaction (modules/orders/batch.ts); 1: each on its own. */
  orderBatchSize: number;
  /** Order batches running at once, each on one pooled connection. */
  orderBatchConcurrency: number;
  popularCacheSeconds: number;
  /** How long an answer that is the same for every caller (`.meta({ shared: true })`) is served whole; 0: off. */
  sharedAnswerCacheMs: number;
  /** How long a product read sold out is refused from memory before an order reads it again; 0: off. */
  soldOutMemoryMs: number;
  /** Off: every coupon issue goes to PostgreSQL even with Redis present. */
  couponRedisAdmission: boolean;
  /** Unset: the dev server starts the fake data platform in-process. */
  dataPlatformUrl: string | undefined;
  dataPlatformTimeoutMs: number;
  dataPlatformApiKey: string | undefined;
  outboxPollerEnabled: boolean;
  outboxPollIntervalMs: number;
  outboxBatchSize: number;
  outboxConcurrency: number;
  outboxConcurrencyUnderLoad: number;
  /** From a rush's start, how long the poller sends nothing while customers wait (0: never). */
  outboxHoldUnderLoadMs: number;
  outboxYieldAtRequests: number;
  /** Events with several destinations written as one row, fanned out by the poller (modules/outbox/contract.ts). */
  outboxFanOut: boolean;
  outboxLeaseMs: number;
  /** Waits after the 1st, 2nd, … failed attempt, in seconds; the last repeats. */
  outboxBackoffSeconds: number[];
  outboxMaxAttempts: number;
  /** Unset: the dev server starts the fake carrier in-process. */
  carrierUrl: string | undefined;
  carrierTimeoutMs: number;
  carrierApiKey: string | undefined;
  /** HMAC secret of carrier webhooks; required in production. */
  carrierWebhookSecret: string | undefined;
  carrierWebhookToleranceSeconds: number;
  carrierWebhookMaxBytes: number;
  /** Webhook endpoints may point at loopback and private addresses (tests, internal integrations). */
  webhookAllowPrivateTargets: boolean;
  webhookTimeoutMs: number;
  /** Unset: emails are only recorded (notifications.admin.list shows them). */
  smtpUrl: string | undefined;
  smtpFrom: string;
  smtpTimeoutMs: number;
  /** Unset: SMS are only recorded (notifications.admin.list shows them). */
  smsUrl: string | undefined;
  smsApiKey: string | undefined;
  /** The sending number registered with the SMS provider. */
  smsFrom: string | undefined;
  smsTimeoutMs: number;
  /** Who hears of low stock and dead outbox events; empty → every active admin. */
  notifyOperatorEmails: string[];
  /** How long an idempotency key answers retries before it is forgotten. */
  idempotencyKeyTtlHours: number;
  /** AGORA_DEMO=true: a production server may run on the built-in fakes (a demo, never a shop). */
  demo: boolean;
  /** Keys that seal personal data at rest; null: the public development keys (refused in production). */
  piiKeys: PiiKeys | null;
  // ── limits on what costs (input-policy work; issue 8, finding 5) ──
  /** Failed logins per 15 minutes per (account, address) pair, and per address. */
  loginAttemptsPerAccountAndAddress: number;
  loginAttemptsPerAddress: number;
  /** Calls per minute per logged-in caller and per client address (mutations; catalog searches). */
  writesPerMinutePerCaller: number;
  writesPerMinutePerAddress: number;
  searchesPerMinutePerCaller: number;
  searchesPerMinutePerAddress: number;
  signUpsPerHourPerAddress: number;
  /** Most calls one HTTP batch may carry (tRPC `maxBatchSize`). */
  maxBatchCalls: number;
}

type Env = Record<string, string | undefined>;

// ── the environment, as one zod schema ──────────────────────────────────────
// Every variable Agora reads, its type, its bounds and its default. An empty value counts as unset.
// Bounds refuse what cannot work (a pool of 0 connections, 0 outbox attempts), naming the variable.

const wholeNumber = (min: number, max: number) =>
  z.coerce.number({ error: "must be a whole number" }).int("must be a whole number").min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
const whole = (fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER) => wholeNumber(min, max).default(fallback);
const flag = (fallback: boolean) =>
  z
    .enum(["true", "false"], { error: "must be true or false" })
    .default(fallback ? "true" : "false")
    .transform((v) => v === "true");
const text = z.string().min(1);
const list = z
  .string()
  .default("")
  .transform((v) =>
    v
      .split(",")
      .map((item) => item.trim())
      .filter(Boolean),
  );

/**
 * The JavaScript engine's settings every launch of the server uses (`bun run start`, the benchmark,
 * the chaos runs and the process tests): Bun reads BUN_JSC_* from the environment when it starts, so
 * they cannot be set from inside. useFTLJIT=0: JavaScriptCore's fourth, most optimizing compiler tier
 * stays off. Its compilations kept a compiler thread at 18-25 % of the main thread's CPU through a
 * whole `bench all` (still so after two minutes under load) on two cores. Six alternating pairs of
 * `bench all` (docs/benchmarks.md, stop 31): server CPU per request 218 → 172 µs in coupon-storm and
 * 418 → 359 µs in order-rush-spread (lower in five of six each); order-rush-hot and charge-storm no
 * direction. The price: one narrow path under a steady load for a minute (the tRPC no-op) ran ~5 %
 * slower once the tier had compiled it. An explicit BUN_JSC_useFTLJIT=1 in the environment wins.
 */
export const SERVER_ENGINE_ENV: Readonly<Record<string, string>> = Object.freeze({ BUN_JSC_useFTLJIT: "0" });

/** `env` for a server child process with SERVER_ENGINE_ENV's settings where `env` does not set them. */
export function withServerEngineEnv<Env extends Record<string, string | undefined>>(env: Env): Env & Record<string, string | undefined> {
  return { ...SERVER_ENGINE_ENV, ...env };
}

/**
 * PostgreSQL connections per instance. 10, not more: on the 2-core bench machine 10 against 20 gave
 * 10-30 % more of every write scenario at 20-40 % less PostgreSQL CPU per request (docs/benchmarks.md,
 * stop 22), as the usual sizing (about twice the database's cores) predicts; raise it for a bigger
 * database server, and count it per instance behind a pooler.
 */
export const DB_POOL_SIZE_DEFAULT = 10;

/**
 * Order batches running at once per instance. 2, as for charges: on the 2-core bench machine 2 against
 * 4 gave order-rush-spread ~8 % more orders a second (bigger batches, fewer statements per order) and
 * order-rush-hot the same (docs/benchmarks.md, stop 27); 1 was slower again. Raise it with the
 * database's cores.
 */
export const ORDER_BATCH_CONCURRENCY_DEFAULT = 2;

export const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  HOST: text.default("127.0.0.1"),
  PORT: whole(3000, 0, 65_535),
  DATABASE_URL: text.optional(),
  DATABASE_LISTEN_URL: z
    .string()
    .trim()
    .refine((value) => value === "off" || /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// URL or "off"')
    .optional(),
  DATABASE_PREPARED_STATEMENTS: flag(true),
  DATA_DIR: text.default("./data"),
  DB_POOL_SIZE: whole(DB_POOL_SIZE_DEFAULT, 1, 1_000),
  DB_CONNECT_TIMEOUT_MS: whole(15_000),
  DB_STATEMENT_TIMEOUT_MS: whole(30_000, 0),
  REDIS_URL: text.optional(),
  REDIS_PREFIX: z.string().default("agora:"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  CORS_ORIGINS: list,
  BODY_LIMIT_BYTES: whole(256 * 1024, 1_024),
  TRUST_PROXY: flag(false),
  ADMIN_EMAIL: z.string().trim().toLowerCase().optional(),
  ADMIN_PASSWORD: z.string().min(8, "must be 8+ characters").optional(),
  ADMIN_NAME: text.default("Administrator"),
  SESSION_TTL_HOURS: whole(24 * 7),
  SESSION_CACHE_SECONDS: whole(120, 0),
  SESSION_LOCAL_CACHE_MS: whole(1_000, 0),
  PASSWORD_MEMORY_COST: whole(19_456, 8),
  PASSWORD_TIME_COST: whole(2),
  SHUTDOWN_GRACE_MS: whole(10_000),
  PAYMENT_GATEWAY_URL: text.optional(),
  PAYMENT_GATEWAY_TIMEOUT_MS: whole(5_000),
  PAYMENT_GATEWAY_API_KEY: text.optional(),
  WALLET_CHARGE_LEASE_MS: wholeNumber(1, Number.MAX_SAFE_INTEGER).optional(),
  WALLET_CHARGE_RECOVERY_INTERVAL_MS: whole(5_000, 0),
  WALLET_CHARGE_BATCH_SIZE: whole(32),
  WALLET_CHARGE_BATCH_CONCURRENCY: whole(2),
  WALLET_CHARGE_MIN: whole(1_000),
  WALLET_CHARGE_MAX: whole(1_000_000),
  WALLET_MAX_BALANCE: whole(10_000_000),
  ORDER_PAYMENT_WINDOW_MINUTES: whole(15),
  ORDER_BATCH_SIZE: whole(32),
  ORDER_BATCH_CONCURRENCY: whole(ORDER_BATCH_CONCURRENCY_DEFAULT),
  POPULAR_CACHE_SECONDS: whole(300, 0),
  SHARED_ANSWER_CACHE_MS: whole(1_000, 0),
  SOLD_OUT_MEMORY_MS: whole(1_000, 0),
  COUPON_REDIS_ADMISSION: flag(true),
  DATA_PLATFORM_URL: text.optional(),
  DATA_PLATFORM_TIMEOUT_MS: whole(5_000),
  DATA_PLATFORM_API_KEY: text.optional(),
  OUTBOX_POLLER_ENABLED: flag(true),
  OUTBOX_POLL_INTERVAL_MS: whole(1_000),
  OUTBOX_BATCH_SIZE: whole(50),
  OUTBOX_CONCURRENCY: whole(32),
  OUTBOX_CONCURRENCY_UNDER_LOAD: whole(1),
  OUTBOX_HOLD_UNDER_LOAD_MS: whole(2_000, 0),
  OUTBOX_YIELD_AT_REQUESTS: whole(32, 0),
  OUTBOX_FAN_OUT: flag(true),
  OUTBOX_LEASE_MS: whole(60_000),
  OUTBOX_BACKOFF_SECONDS: z
    .string()
    .default("300,900")
    .transform((v, ctx) => {
      const seconds = v.split(",").map((item) => Number(item.trim()));
      if (seconds.some((n) => !Number.isFinite(n) || n < 0)) ctx.addIssue({ code: "custom", message: "must be a comma-separated list of seconds" });
      return seconds;
    }),
  OUTBOX_MAX_ATTEMPTS: whole(3),
  CARRIER_URL: text.optional(),
  CARRIER_TIMEOUT_MS: whole(5_000),
  CARRIER_API_KEY: text.optional(),
  CARRIER_WEBHOOK_SECRET: text.optional(),
  CARRIER_WEBHOOK_TOLERANCE_SECONDS: whole(300),
  CARRIER_WEBHOOK_MAX_BYTES: whole(65_536, 1_024),
  // Integrators' webhook endpoints on loopback or private addresses (and names resolving to them) are
  // refused unless this is true: an integrator must not make Agora call its own internals. For tests
  // and integrations inside the operator's own network.
  WEBHOOK_ALLOW_PRIVATE_TARGETS: flag(false),
  WEBHOOK_TIMEOUT_MS: whole(10_000),
  SMTP_URL: text.optional(),
  SMTP_FROM: text.default("Agora <no-reply@agora.local>"),
  SMTP_TIMEOUT_MS: whole(10_000),
  SMS_URL: text.optional(),
  SMS_API_KEY: text.optional(),
  SMS_FROM: text.optional(),
  SMS_TIMEOUT_MS: whole(5_000),
  NOTIFY_OPERATOR_EMAILS: list,
  IDEMPOTENCY_KEY_TTL_HOURS: whole(24),
  AGORA_DEMO: flag(false),
  PII_KEYS: list,
  PII_KEY_ID: text.optional(),
  PII_INDEX_KEY: text.optional(),
  LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS: whole(10),
  LOGIN_ATTEMPTS_PER_ADDRESS: whole(100),
  WRITES_PER_MINUTE_PER_CALLER: whole(120),
  WRITES_PER_MINUTE_PER_ADDRESS: whole(1_200),
  SEARCHES_PER_MINUTE_PER_CALLER: whole(120),
  SEARCHES_PER_MINUTE_PER_ADDRESS: whole(1_200),
  // Default: 20 in production, 1,000 elsewhere (a developer's machine signs many customers up from loopback: the seed, the examples).
  SIGNUPS_PER_HOUR_PER_ADDRESS: wholeNumber(1, Number.MAX_SAFE_INTEGER).optional(),
  MAX_BATCH_CALLS: whole(50),
});

/** A setting that cannot work: the message names every such variable and what it must be. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export function loadConfig(env: Env = process.env): AgoraConfig {
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const parsed = envSchema.safeParse(given);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name} ${issue.message.replace(/^Invalid input: /, "")} (got "${given[name] ?? ""}")`;
    });
    throw new ConfigError(`invalid settings:\n  ${lines.join("\n  ")}`);
  }
  const e = parsed.data;
  if (e.ADMIN_EMAIL && !e.ADMIN_PASSWORD) throw new ConfigError("ADMIN_PASSWORD must be set (8+ characters) when ADMIN_EMAIL is");
  return {
    nodeEnv: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    databaseListenUrl: e.DATABASE_LISTEN_URL === "off" ? null : e.DATABASE_LISTEN_URL,
    databasePreparedStatements: e.DATABASE_PREPARED_STATEMENTS,
    dataDir: e.DATA_DIR,
    dbPoolSize: e.DB_POOL_SIZE,
    dbConnectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS,
    dbStatementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    logLevel: e.LOG_LEVEL,
    corsOrigins: e.CORS_ORIGINS,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    trustProxy: e.TRUST_PROXY,
    admin: e.ADMIN_EMAIL && e.ADMIN_PASSWORD ? { email: e.ADMIN_EMAIL, password: e.ADMIN_PASSWORD, name: e.ADMIN_NAME } : null,
    sessionTtlHours: e.SESSION_TTL_HOURS,
    sessionCacheSeconds: e.SESSION_CACHE_SECONDS,
    sessionLocalCacheMs: e.SESSION_LOCAL_CACHE_MS,
    passwordMemoryCost: e.PASSWORD_MEMORY_COST,
    passwordTimeCost: e.PASSWORD_TIME_COST,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    paymentGatewayUrl: e.PAYMENT_GATEWAY_URL,
    paymentGatewayTimeoutMs: e.PAYMENT_GATEWAY_TIMEOUT_MS,
    paymentGatewayApiKey: e.PAYMENT_GATEWAY_API_KEY,
    walletChargeLeaseMs: e.WALLET_CHARGE_LEASE_MS ?? e.PAYMENT_GATEWAY_TIMEOUT_MS + 10_000,
    walletChargeRecoveryIntervalMs: e.WALLET_CHARGE_RECOVERY_INTERVAL_MS,
    walletChargeBatchSize: e.WALLET_CHARGE_BATCH_SIZE,
    walletChargeBatchConcurrency: e.WALLET_CHARGE_BATCH_CONCURRENCY,
    chargeMin: e.WALLET_CHARGE_MIN,
    chargeMax: e.WALLET_CHARGE_MAX,
    maxBalance: e.WALLET_MAX_BALANCE,
    orderPaymentWindowMinutes: e.ORDER_PAYMENT_WINDOW_MINUTES,
    orderBatchSize: e.ORDER_BATCH_SIZE,
    orderBatchConcurrency: e.ORDER_BATCH_CONCURRENCY,
    popularCacheSeconds: e.POPULAR_CACHE_SECONDS,
    sharedAnswerCacheMs: e.SHARED_ANSWER_CACHE_MS,
    soldOutMemoryMs: e.SOLD_OUT_MEMORY_MS,
    couponRedisAdmission: e.COUPON_REDIS_ADMISSION,
    dataPlatformUrl: e.DATA_PLATFORM_URL,
    dataPlatformTimeoutMs: e.DATA_PLATFORM_TIMEOUT_MS,
    dataPlatformApiKey: e.DATA_PLATFORM_API_KEY,
    outboxPollerEnabled: e.OUTBOX_POLLER_ENABLED,
    outboxPollIntervalMs: e.OUTBOX_POLL_INTERVAL_MS,
    outboxBatchSize: e.OUTBOX_BATCH_SIZE,
    outboxConcurrency: e.OUTBOX_CONCURRENCY,
    outboxConcurrencyUnderLoad: e.OUTBOX_CONCURRENCY_UNDER_LOAD,
    outboxHoldUnderLoadMs: e.OUTBOX_HOLD_UNDER_LOAD_MS,
    outboxYieldAtRequests: e.OUTBOX_YIELD_AT_REQUESTS,
    outboxFanOut: e.OUTBOX_FAN_OUT,
    outboxLeaseMs: e.OUTBOX_LEASE_MS,
    outboxBackoffSeconds: e.OUTBOX_BACKOFF_SECONDS,
    outboxMaxAttempts: e.OUTBOX_MAX_ATTEMPTS,
    carrierUrl: e.CARRIER_URL,
    carrierTimeoutMs: e.CARRIER_TIMEOUT_MS,
    carrierApiKey: e.CARRIER_API_KEY,
    carrierWebhookSecret: e.CARRIER_WEBHOOK_SECRET,
    carrierWebhookToleranceSeconds: e.CARRIER_WEBHOOK_TOLERANCE_SECONDS,
    carrierWebhookMaxBytes: e.CARRIER_WEBHOOK_MAX_BYTES,
    webhookAllowPrivateTargets: e.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    webhookTimeoutMs: e.WEBHOOK_TIMEOUT_MS,
    smtpUrl: e.SMTP_URL,
    smtpFrom: e.SMTP_FROM,
    smtpTimeoutMs: e.SMTP_TIMEOUT_MS,
    smsUrl: e.SMS_URL,
    smsApiKey: e.SMS_API_KEY,
    smsFrom: e.SMS_FROM,
    smsTimeoutMs: e.SMS_TIMEOUT_MS,
    notifyOperatorEmails: e.NOTIFY_OPERATOR_EMAILS,
    idempotencyKeyTtlHours: e.IDEMPOTENCY_KEY_TTL_HOURS,
    demo: e.AGORA_DEMO,
    piiKeys: piiKeysFrom(e.PII_KEYS, e.PII_KEY_ID, e.PII_INDEX_KEY),
    loginAttemptsPerAccountAndAddress: e.LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS,
    loginAttemptsPerAddress: e.LOGIN_ATTEMPTS_PER_ADDRESS,
    writesPerMinutePerCaller: e.WRITES_PER_MINUTE_PER_CALLER,
    writesPerMinutePerAddress: e.WRITES_PER_MINUTE_PER_ADDRESS,
    searchesPerMinutePerCaller: e.SEARCHES_PER_MINUTE_PER_CALLER,
    searchesPerMinutePerAddress: e.SEARCHES_PER_MINUTE_PER_ADDRESS,
    signUpsPerHourPerAddress: e.SIGNUPS_PER_HOUR_PER_ADDRESS ?? (e.NODE_ENV === "production" ? 20 : 1_000),
    maxBatchCalls: e.MAX_BATCH_CALLS,
  };
}

/** PII_KEYS="id:base64,id2:base64" (32-byte keys), PII_KEY_ID (default: the last listed), PII_INDEX_KEY (32 bytes, base64). */
function piiKeysFrom(listed: string[], keyId: string | undefined, indexKey: string | undefined): PiiKeys | null {
  if (listed.length === 0) {
    if (indexKey || keyId) throw new ConfigError("PII_KEY_ID and PII_INDEX_KEY need PII_KEYS");
    return null;
  }
  const keys: Record<string, string> = {};
  for (const entry of listed) {
    const colon = entry.indexOf(":");
    if (colon <= 0) throw new ConfigError(`PII_KEYS must be a comma-separated list of id:base64key, got "${entry.slice(0, 20)}…"`);
    keys[entry.slice(0, colon)] = entry.slice(colon + 1);
  }
  if (!indexKey) throw new ConfigError("PII_INDEX_KEY must be set with PII_KEYS (32 random bytes, base64: openssl rand -base64 32)");
  return { keys, currentKeyId: keyId || (Object.keys(keys).at(-1) as string), indexKey };
}

/** The outside systems this configuration would serve from a built-in fake, by the variable that names the real one. */
export function builtInFakes(config: AgoraConfig): string[] {
  const fakes: string[] = [];
  if (!config.paymentGatewayUrl) fakes.push("PAYMENT_GATEWAY_URL");
  if (!config.dataPlatformUrl) fakes.push("DATA_PLATFORM_URL");
  if (!config.carrierUrl) fakes.push("CARRIER_URL");
  if (!config.smtpUrl) fakes.push("SMTP_URL");
  if (!config.smsUrl) fakes.push("SMS_URL");
  return fakes;
}

/**
 * Why this configuration must not start, or null. A production server on the fake gateway would
 * approve every charge: free money. So production names every real integration, or says it is a demo.
 */
export function startupRefusal(config: AgoraConfig): string | null {
  if (config.walletChargeLeaseMs <= config.paymentGatewayTimeoutMs) {
    return "WALLET_CHARGE_LEASE_MS must be longer than PAYMENT_GATEWAY_TIMEOUT_MS: recovery must never ask about a charge whose request may still be on its way";
  }
  if (config.nodeEnv !== "production") return null;
  if (!config.carrierWebhookSecret) return "CARRIER_WEBHOOK_SECRET must be set in production";
  const fakes = builtInFakes(config);
  if (fakes.length > 0 && !config.demo) {
    return `NODE_ENV=production refuses the built-in fakes: set ${fakes.join(", ")} to the real services (or AGORA_DEMO=true for a demo that charges no real card and sends nothing)`;
  }
  if (!config.piiKeys && !config.demo) {
    return "PII_KEYS and PII_INDEX_KEY must be set in production: personal data is sealed with them (openssl rand -base64 32 makes a key), or AGORA_DEMO=true for a demo on the public development keys";
  }
  return null;
}
