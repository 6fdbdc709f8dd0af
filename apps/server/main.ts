/**
 * Starts Agora: PostgreSQL when DATABASE_URL is set (PGlite in DATA_DIR otherwise), Redis when
 * REDIS_URL is set (in-process adapters otherwise), migrations, the first admin, the HTTP server.
 * Stops cleanly on SIGTERM/SIGINT: no new connections, in-flight requests drained, pollers stopped, pools closed.
 */
import { checkLockOrderAtRuntime } from "../../db/index.ts";
import { openAndMigrate, StartupError } from "../../db/startup.ts";
import {
  createLogger,
  createMemoryInfra,
  createMetrics,
  createOutageLog,
  createRedisClient,
  createRedisInfra,
  exposeErrorDetails,
  recordRefusalStacks,
  systemClock,
} from "../../modules/kernel/index.ts";
import { HttpDataPlatform } from "../../modules/outbox/index.ts";
import { HttpCardGateway } from "../../modules/payments/index.ts";
import { HttpCarrier } from "../../modules/shipping/index.ts";
import { HttpPaymentGateway } from "../../modules/wallet/index.ts";
import { startFakeCarrier } from "../fakes/carrier.ts";
import { startFakeDataPlatform } from "../fakes/data-platform.ts";
import { startFakePaymentGateway } from "../fakes/payment-gateway.ts";
import { mountWebPages } from "../web/serve.ts";
import { createAgora } from "./compose.ts";
import { type AgoraConfig, builtInFakes, ConfigError, loadConfig, startupRefusal } from "./config.ts";

let config: AgoraConfig;
try {
  config = loadConfig();
} catch (error) {
  // A setting that cannot work: one message naming the variables, no stack.
  if (!(error instanceof ConfigError)) throw error;
  console.error(`agora: ${error.message}`);
  process.exit(1);
}
const refusal = startupRefusal(config);
if (refusal) {
  console.error(`agora: ${refusal}`);
  process.exit(1);
}
// NODE_ENV is read in one place (config.ts); what depends on it is set from here.
exposeErrorDetails(config.nodeEnv === "development");
recordRefusalStacks(config.nodeEnv !== "production");
checkLockOrderAtRuntime(config.nodeEnv !== "production");
const logger = createLogger(config.logLevel, { pretty: config.nodeEnv === "development" && process.stdout.isTTY === true });

// A stray rejection is a bug to log, not a reason to take every customer's request down with it.
process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled promise rejection"));

const opened = await openAndMigrate(
  {
    url: config.databaseUrl,
    listenUrl: config.databaseListenUrl ?? undefined,
    preparedStatements: config.databasePreparedStatements,
    dataDir: config.dataDir,
    poolSize: config.dbPoolSize,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    warn: (message) => logger.warn(message),
    events: createOutageLog(logger, "database"),
    lockOwnerUrl: `http://${config.host}:${config.port}`,
  },
  { onCreated: (name) => logger.info({ database: name }, "database created") },
).catch((error: unknown) => {
  // A folder in use or a missing database: one line that says what to do, not a stack.
  if (error instanceof StartupError) {
    console.error(`agora: ${error.message}`);
    process.exit(1);
  }
  throw error;
});
const { database, applied } = opened;
if (applied.length) logger.info({ applied }, "migrations applied");

const infra = config.redisUrl
  ? createRedisInfra(createRedisClient(config.redisUrl, createOutageLog(logger, "redis")), config.redisPrefix)
  : createMemoryInfra(systemClock, config.redisPrefix);
// Without a configured gateway the dev server charges wallets through the fake one, over real HTTP.
const fakeGateway = config.paymentGatewayUrl ? null : startFakePaymentGateway({ latencyMs: 20 });
if (fakeGateway) logger.warn({ url: fakeGateway.url }, "PAYMENT_GATEWAY_URL is unset: wallet charges go to the built-in fake gateway");
const paymentGateway = new HttpPaymentGateway({
  baseUrl: config.paymentGatewayUrl ?? (fakeGateway?.url as string),
  timeoutMs: config.paymentGatewayTimeoutMs,
  apiKey: config.paymentGatewayApiKey,
});

// Orders paid by card use the same gateway's authorization API.
const cardGateway = new HttpCardGateway({
  baseUrl: config.paymentGatewayUrl ?? (fakeGateway?.url as string),
  timeoutMs: config.paymentGatewayTimeoutMs,
  apiKey: config.paymentGatewayApiKey,
});

const fakeDataPlatform = config.dataPlatformUrl ? null : startFakeDataPlatform();
if (fakeDataPlatform) logger.warn({ url: fakeDataPlatform.url }, "DATA_PLATFORM_URL is unset: paid orders are synced to the built-in fake data platform");
const dataPlatform = new HttpDataPlatform({
  baseUrl: config.dataPlatformUrl ?? (fakeDataPlatform?.url as string),
  timeoutMs: config.dataPlatformTimeoutMs,
  apiKey: config.dataPlatformApiKey,
});

const fakeCarrier = config.carrierUrl
  ? null
  : startFakeCarrier({
      latencyMs: 20,
      webhookUrl: `http://127.0.0.1:${config.port}/webhooks/carrier`,
      webhookSecret: config.carrierWebhookSecret ?? "dev-carrier-webhook-secret",
    });
if (fakeCarrier) logger.warn({ url: fakeCarrier.url }, "CARRIER_URL is unset: shipments are booked with the built-in fake carrier");
const carrier = new HttpCarrier({
  baseUrl: config.carrierUrl ?? (fakeCarrier?.url as string),
  timeoutMs: config.carrierTimeoutMs,
  apiKey: config.carrierApiKey,
});

const agora = createAgora({
  database,
  infra,
  clock: systemClock,
  logger,
  metrics: createMetrics(),
  config,
  ports: { paymentGateway, cardGateway, dataPlatform, carrier },
});

// Rows written before encryption, or under a retired key, are sealed before the first request.
const resealed = await agora.services.identity.resealPersonalData();
if (resealed) logger.info({ rows: resealed }, "personal data sealed under the current key");
// Messages logged before the log was sealed: sealed and indexed before the outbox poller starts, as
// until then they are outside the de-duplication key. Old-key rows wait for `bun run pii:reencrypt`.
const sealedMessages = await agora.services.notifications.resealPersonalData({ plaintextOnly: true });
if (sealedMessages) logger.info({ rows: sealedMessages }, "notification log: messages from before encryption sealed");

if (config.admin) {
  const admin = await agora.services.identity.ensureAdmin({ email: config.admin.email, password: config.admin.password, name: config.admin.name });
  logger.info({ adminId: admin.id, email: admin.email }, "admin account ready");
}

// The storefront at / and the operator console at /admin, built in memory at start (rebuilt on change under `bun run dev`).
const webPages = await mountWebPages(agora.app, {
  prefetch: agora.prefetch,
  dev: process.env.AGORA_WEB_DEV === "1",
  log: (message, err) => (err ? logger.error({ err }, message) : logger.info(message)),
});

const server = Bun.serve({ hostname: config.host, port: config.port, fetch: agora.app.fetch });
agora.start();
// The effective settings in one line: what a newcomer or an operator checks first.
const fakes = builtInFakes(config);
logger.info(
  {
    url: `http://${server.hostname}:${server.port}`,
    nodeEnv: config.nodeEnv,
    database: database.kind === "pglite" ? `pglite ${config.dataDir}` : `postgres (pool ${config.dbPoolSize})`,
    cache: infra.kind,
    builtInFakes: fakes.length ? fakes.map((name) => name.replace(/_URL$/, "").toLowerCase()) : "none",
    outboxPoller: config.outboxPollerEnabled,
    couponRedisAdmission: config.couponRedisAdmission && infra.kind === "redis",
    admin: config.admin?.email ?? null,
    // SERVER_ENGINE_ENV reached this process: `bun run start` sets it, a bare `bun apps/server/main.ts` does not.
    optimizingJit: process.env.BUN_JSC_useFTLJIT === "0" ? "off" : "on",
  },
  database.kind === "pglite" ? "Agora is up (embedded PGlite: for trying Agora; deploy on PostgreSQL)" : "Agora is up",
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "shutting down");
  const force = setTimeout(() => {
    logger.error("shutdown took too long; exiting");
    process.exit(1);
  }, config.shutdownGraceMs);
  await server.stop(); // stops accepting, resolves once in-flight requests are done
  webPages.stopWatching();
  await agora.stop();
  await fakeGateway?.stop();
  await fakeDataPlatform?.stop();
  await fakeCarrier?.stop();
  await infra.close();
  await database.close();
  clearTimeout(force);
  logger.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
