import type { PiiKeys } from "../../modules/kernel/index.ts";

/** Every setting Agora reads, with its default. README lists the same table. */
export interface AgoraConfig {
  nodeEnv: string;
  host: string;
  port: number;
  databaseUrl: string | undefined;
  dataDir: string;
  dbPoolSize: number;
  /** How long a request waits for a database connection (pool queue included) before SERVICE_UNAVAILABLE. */
  dbConnectTimeoutMs: number;
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
  chargeMin: number;
  chargeMax: number;
  maxBalance: number;
  orderPaymentWindowMinutes: number;
  popularCacheSeconds: number;
  /** Off: every coupon issue goes to PostgreSQL even with Redis present. */
  couponRedisAdmission: boolean;
  /** Unset: the dev server starts the fake data platform in-process. */
  dataPlatformUrl: string | undefined;
  dataPlatformTimeoutMs: number;
  dataPlatformApiKey: string | undefined;
  outboxPollerEnabled: boolean;
  outboxPollIntervalMs: number;
  outboxBatchSize: number;
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

/** A limit: a positive integer (0 or less would refuse everything, which no one means). */
function limit(env: Env, name: string, fallback: number): number {
  const value = int(env, name, fallback);
  if (value < 1) throw new Error(`${name} must be at least 1, got ${value}`);
  return value;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got "${raw}"`);
  return value;
}

export function loadConfig(env: Env = process.env): AgoraConfig {
  const adminEmail = env.ADMIN_EMAIL?.trim();
  const adminPassword = env.ADMIN_PASSWORD;
  if (adminEmail && (!adminPassword || adminPassword.length < 8)) throw new Error("ADMIN_PASSWORD must be set (8+ characters) when ADMIN_EMAIL is");
  return {
    nodeEnv: env.NODE_ENV ?? "development",
    host: env.HOST ?? "127.0.0.1",
    port: int(env, "PORT", 3000),
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.DATA_DIR ?? "./data",
    dbPoolSize: int(env, "DB_POOL_SIZE", 20),
    dbConnectTimeoutMs: int(env, "DB_CONNECT_TIMEOUT_MS", 15_000),
    redisUrl: env.REDIS_URL || undefined,
    redisPrefix: env.REDIS_PREFIX ?? "agora:",
    logLevel: env.LOG_LEVEL ?? "info",
    corsOrigins: (env.CORS_ORIGINS ?? "")
      .split(",")
      .map((o) => o.trim())
      .filter(Boolean),
    bodyLimitBytes: int(env, "BODY_LIMIT_BYTES", 256 * 1024),
    trustProxy: env.TRUST_PROXY === "true",
    admin: adminEmail && adminPassword ? { email: adminEmail.toLowerCase(), password: adminPassword, name: env.ADMIN_NAME ?? "Administrator" } : null,
    sessionTtlHours: int(env, "SESSION_TTL_HOURS", 24 * 7),
    sessionCacheSeconds: int(env, "SESSION_CACHE_SECONDS", 30),
    passwordMemoryCost: int(env, "PASSWORD_MEMORY_COST", 19_456),
    passwordTimeCost: int(env, "PASSWORD_TIME_COST", 2),
    shutdownGraceMs: int(env, "SHUTDOWN_GRACE_MS", 10_000),
    paymentGatewayUrl: env.PAYMENT_GATEWAY_URL || undefined,
    paymentGatewayTimeoutMs: int(env, "PAYMENT_GATEWAY_TIMEOUT_MS", 5_000),
    paymentGatewayApiKey: env.PAYMENT_GATEWAY_API_KEY || undefined,
    walletChargeLeaseMs: int(env, "WALLET_CHARGE_LEASE_MS", int(env, "PAYMENT_GATEWAY_TIMEOUT_MS", 5_000) + 10_000),
    walletChargeRecoveryIntervalMs: int(env, "WALLET_CHARGE_RECOVERY_INTERVAL_MS", 5_000),
    chargeMin: int(env, "WALLET_CHARGE_MIN", 1_000),
    chargeMax: int(env, "WALLET_CHARGE_MAX", 1_000_000),
    maxBalance: int(env, "WALLET_MAX_BALANCE", 10_000_000),
    orderPaymentWindowMinutes: int(env, "ORDER_PAYMENT_WINDOW_MINUTES", 15),
    popularCacheSeconds: int(env, "POPULAR_CACHE_SECONDS", 300),
    couponRedisAdmission: env.COUPON_REDIS_ADMISSION !== "false",
    dataPlatformUrl: env.DATA_PLATFORM_URL || undefined,
    dataPlatformTimeoutMs: int(env, "DATA_PLATFORM_TIMEOUT_MS", 5_000),
    dataPlatformApiKey: env.DATA_PLATFORM_API_KEY || undefined,
    outboxPollerEnabled: env.OUTBOX_POLLER_ENABLED !== "false",
    outboxPollIntervalMs: int(env, "OUTBOX_POLL_INTERVAL_MS", 1_000),
    outboxBatchSize: int(env, "OUTBOX_BATCH_SIZE", 50),
    outboxLeaseMs: int(env, "OUTBOX_LEASE_MS", 60_000),
    outboxBackoffSeconds: (env.OUTBOX_BACKOFF_SECONDS ?? "300,900").split(",").map((v) => {
      const seconds = Number(v.trim());
      if (!Number.isFinite(seconds) || seconds < 0)
        throw new Error(`OUTBOX_BACKOFF_SECONDS must be a comma-separated list of seconds, got "${env.OUTBOX_BACKOFF_SECONDS}"`);
      return seconds;
    }),
    outboxMaxAttempts: int(env, "OUTBOX_MAX_ATTEMPTS", 3),
    carrierUrl: env.CARRIER_URL || undefined,
    carrierTimeoutMs: int(env, "CARRIER_TIMEOUT_MS", 5_000),
    carrierApiKey: env.CARRIER_API_KEY || undefined,
    carrierWebhookSecret: env.CARRIER_WEBHOOK_SECRET || undefined,
    carrierWebhookToleranceSeconds: int(env, "CARRIER_WEBHOOK_TOLERANCE_SECONDS", 300),
    carrierWebhookMaxBytes: int(env, "CARRIER_WEBHOOK_MAX_BYTES", 65_536),
    smtpUrl: env.SMTP_URL || undefined,
    smtpFrom: env.SMTP_FROM ?? "Agora <no-reply@agora.local>",
    smtpTimeoutMs: int(env, "SMTP_TIMEOUT_MS", 10_000),
    smsUrl: env.SMS_URL || undefined,
    smsApiKey: env.SMS_API_KEY || undefined,
    smsFrom: env.SMS_FROM || undefined,
    smsTimeoutMs: int(env, "SMS_TIMEOUT_MS", 5_000),
    notifyOperatorEmails: (env.NOTIFY_OPERATOR_EMAILS ?? "")
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean),
    idempotencyKeyTtlHours: int(env, "IDEMPOTENCY_KEY_TTL_HOURS", 24),
    demo: env.AGORA_DEMO === "true",
    piiKeys: piiKeysFrom(env),
    // ── limits on what costs (input-policy work; issue 8, finding 5) ──
    loginAttemptsPerAccountAndAddress: limit(env, "LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS", 10),
    loginAttemptsPerAddress: limit(env, "LOGIN_ATTEMPTS_PER_ADDRESS", 100),
    writesPerMinutePerCaller: limit(env, "WRITES_PER_MINUTE_PER_CALLER", 120),
    writesPerMinutePerAddress: limit(env, "WRITES_PER_MINUTE_PER_ADDRESS", 1_200),
    searchesPerMinutePerCaller: limit(env, "SEARCHES_PER_MINUTE_PER_CALLER", 120),
    searchesPerMinutePerAddress: limit(env, "SEARCHES_PER_MINUTE_PER_ADDRESS", 1_200),
    signUpsPerHourPerAddress: limit(env, "SIGNUPS_PER_HOUR_PER_ADDRESS", 20),
    maxBatchCalls: limit(env, "MAX_BATCH_CALLS", 50),
  };
}

/** PII_KEYS="id:base64,id2:base64" (32-byte keys), PII_KEY_ID (default: the last listed), PII_INDEX_KEY (32 bytes, base64). */
function piiKeysFrom(env: Env): PiiKeys | null {
  const listed = (env.PII_KEYS ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (listed.length === 0) {
    if (env.PII_INDEX_KEY || env.PII_KEY_ID) throw new Error("PII_KEY_ID and PII_INDEX_KEY need PII_KEYS");
    return null;
  }
  const keys: Record<string, string> = {};
  for (const entry of listed) {
    const colon = entry.indexOf(":");
    if (colon <= 0) throw new Error(`PII_KEYS must be a comma-separated list of id:base64key, got "${entry.slice(0, 20)}…"`);
    keys[entry.slice(0, colon)] = entry.slice(colon + 1);
  }
  if (!env.PII_INDEX_KEY) throw new Error("PII_INDEX_KEY must be set with PII_KEYS (32 random bytes, base64: openssl rand -base64 32)");
  return { keys, currentKeyId: env.PII_KEY_ID || (Object.keys(keys).at(-1) as string), indexKey: env.PII_INDEX_KEY };
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
