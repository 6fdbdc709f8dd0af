/**
 * The composition root: builds every module's service from the database, the Redis-or-memory
 * infra, the clock and the external ports, then the router and the Hono app.
 * Tests call `createAgora` with their own database, clock and fakes.
 *
 * Imports in apps/server run one way: main → compose → http → rest/openapi → router → services
 * (checked by `no-circular-server` in .dependency-cruiser.cjs).
 */
import type { DatabaseHandle } from "../../db/index.ts";
import { createAddressesService } from "../../modules/addresses/index.ts";
import { createCartService } from "../../modules/cart/index.ts";
import { createCatalogService } from "../../modules/catalog/index.ts";
import { createCouponService } from "../../modules/coupons/index.ts";
import { createCustomersService } from "../../modules/customers/index.ts";
import { purgeKeysOlderThan } from "../../modules/idempotency/index.ts";
import { createIdentityService, defaultIdentityConfig, type IdentityConfig } from "../../modules/identity/index.ts";
import { type Clock, createCallLimits, createPiiCipher, developmentPiiKeys, type Infra, type Logger, type Metrics } from "../../modules/kernel/index.ts";
import { createNotificationSender, createNotificationService, deadEventAlert, notificationsSubscription } from "../../modules/notifications/index.ts";
import { createOrdersService, orderCancelled, orderPaid, orderRefunded } from "../../modules/orders/index.ts";
import {
  createEventPublisher,
  createOutboxPoller,
  createOutboxRouter,
  dataPlatformHandler,
  type EventPublisher,
  type OutboxPoller,
  subscribe,
} from "../../modules/outbox/index.ts";
import { createCardPaymentsService } from "../../modules/payments/index.ts";
import { createReportsService } from "../../modules/reports/index.ts";
import { createSalesService } from "../../modules/sales/index.ts";
import { createShippingService, shipmentDelivered, shipmentShipped, shippingSubscription } from "../../modules/shipping/index.ts";
import { createWalletService } from "../../modules/wallet/index.ts";
import { createWebhookService, webhookDeliverySubscription, webhooksSubscription } from "../../modules/webhooks/index.ts";
import type { AgoraConfig } from "./config.ts";
import { createHttpApp, createRequestLoad, type PagePrefetch, type RequestLoad } from "./http.ts";
import { type AppRouter, createAppRouter } from "./router.ts";
import type { Ports, Services } from "./services.ts";

export interface AgoraDeps {
  database: DatabaseHandle;
  infra: Infra;
  clock: Clock;
  logger: Logger;
  metrics: Metrics | null;
  config: AgoraConfig;
  ports: Ports;
}

export interface Agora {
  services: Services;
  /** Publishes the modules' events to the subscribers wired below. */
  events: EventPublisher;
  /** Sends outbox events; started with the server unless OUTBOX_POLLER_ENABLED=false (tests drive it with runOnce). */
  outboxPoller: OutboxPoller;
  router: AppRouter;
  app: ReturnType<typeof createHttpApp>["app"];
  /** The API calls being answered now; the outbox poller yields while OUTBOX_YIELD_AT_REQUESTS or more are. */
  requestLoad: RequestLoad;
  /** A page's first-view queries, answered as the request's caller (apps/web/serve.ts embeds them in the page). */
  prefetch: PagePrefetch;
  /** Starts background work (pollers, sweepers). */
  start(): void;
  /** Stops background work; connections are closed by whoever opened them. */
  stop(): Promise<void>;
}

function identityConfigFrom(config: AgoraConfig): IdentityConfig {
  return {
    ...defaultIdentityConfig,
    sessionTtlMs: config.sessionTtlHours * 60 * 60 * 1000,
    sessionCacheMs: config.sessionCacheSeconds * 1000,
    sessionLocalCacheMs: config.sessionLocalCacheMs,
    passwordHashing: { memoryCost: config.passwordMemoryCost, timeCost: config.passwordTimeCost },
    loginLimitPerAccountAndAddress: { ...defaultIdentityConfig.loginLimitPerAccountAndAddress, points: config.loginAttemptsPerAccountAndAddress },
    loginLimitPerAddress: { ...defaultIdentityConfig.loginLimitPerAddress, points: config.loginAttemptsPerAddress },
  };
}

/** The external data platform (seed 004): paid, cancelled and refunded orders and shipment steps. */
export const dataPlatformSubscription = subscribe("data-platform", [orderPaid, orderCancelled, orderRefunded, shipmentShipped, shipmentDelivered]);

/**
 * Who receives which event: each consumer declares its subscription in its own module; this is
 * the one place they meet. The publisher writes one outbox row per (event, subscribed destination).
 */
export const subscriptions = [
  dataPlatformSubscription,
  shippingSubscription,
  notificationsSubscription,
  webhooksSubscription,
  webhookDeliverySubscription,
] as const;

export function createAgora(deps: AgoraDeps): Agora {
  const { database, infra, clock, config, logger, ports } = deps;
  const db = database.db;
  const cipher = createPiiCipher(config.piiKeys ?? developmentPiiKeys);
  const identity = createIdentityService({ db, clock, infra, logger, cipher, config: identityConfigFrom(config) });
  const events = createEventPublisher(subscriptions, { fanOut: config.outboxFanOut });
  const catalog = createCatalogService({ db, clock, events, soldOutMemoryMs: config.soldOutMemoryMs });
  const cart = createCartService({ db, clock, catalog });
  const coupons = createCouponService({ db, clock, infra, logger, redisAdmission: config.couponRedisAdmission });
  const wallet = createWalletService({
    db,
    clock,
    logger,
    gateway: ports.paymentGateway,
    config: {
      minCharge: config.chargeMin,
      maxCharge: config.chargeMax,
      maxBalance: config.maxBalance,
      chargeLeaseMs: config.walletChargeLeaseMs,
      recoveryIntervalMs: config.walletChargeRecoveryIntervalMs,
      chargeBatchSize: config.walletChargeBatchSize,
      chargeBatchConcurrency: config.walletChargeBatchConcurrency,
      chargeBatchMaxWaitMs: config.dbConnectTimeoutMs,
    },
  });
  // Card payments share the wallet charges' lease and recovery cadence: the same gateway, the same timeout.
  const cardPayments = createCardPaymentsService({
    db,
    clock,
    logger,
    gateway: ports.cardGateway,
    config: { leaseMs: config.walletChargeLeaseMs, recoveryIntervalMs: config.walletChargeRecoveryIntervalMs },
  });
  const addresses = createAddressesService({ db, clock, cipher });
  const sales = createSalesService({ db, clock, cache: infra.cache, catalog, popularTtlMs: config.popularCacheSeconds * 1000, logger });
  const orders = createOrdersService({
    db,
    clock,
    logger,
    catalog,
    cart,
    coupons,
    wallet,
    card: cardPayments,
    sales,
    events,
    addressBook: addresses,
    cipher,
    config: {
      paymentWindowMs: config.orderPaymentWindowMinutes * 60_000,
      batchSize: config.orderBatchSize,
      batchConcurrency: config.orderBatchConcurrency,
      batchMaxWaitMs: config.dbConnectTimeoutMs,
    },
  });
  const shipping = createShippingService({
    db,
    clock,
    logger,
    orders,
    carrier: ports.carrier,
    cipher,
    events,
    // main.ts refuses to start in production without a secret; elsewhere a fixed dev secret is fine.
    webhook: { secret: config.carrierWebhookSecret ?? "dev-carrier-webhook-secret", toleranceSeconds: config.carrierWebhookToleranceSeconds },
  });
  const sender =
    ports.notificationSender ??
    createNotificationSender(
      {
        smtpUrl: config.smtpUrl,
        smtpFrom: config.smtpFrom,
        smtpTimeoutMs: config.smtpTimeoutMs,
        smsUrl: config.smsUrl,
        smsApiKey: config.smsApiKey,
        smsFrom: config.smsFrom,
        smsTimeoutMs: config.smsTimeoutMs,
      },
      logger,
    );
  const notifications = createNotificationService({
    db,
    clock,
    logger,
    identity,
    catalog,
    sender,
    cipher,
    operators: { emails: config.notifyOperatorEmails },
  });
  const reports = createReportsService({ clock, orders, catalog, wallet, sales });
  const webhooks = createWebhookService({
    db,
    clock,
    logger,
    cipher,
    events,
    config: { allowPrivateTargets: config.webhookAllowPrivateTargets, timeoutMs: config.webhookTimeoutMs },
  });

  const customers = createCustomersService({ db, logger, identity, addresses, wallet, orders, shipping, notifications, catalog, cart });
  const services: Services = {
    identity,
    catalog,
    cart,
    coupons,
    wallet,
    cardPayments,
    sales,
    orders,
    shipping,
    notifications,
    reports,
    webhooks,
    addresses,
    customers,
  };
  const requestLoad = createRequestLoad();
  const outboxPoller = createOutboxPoller({
    db,
    clock,
    logger,
    metrics: deps.metrics,
    handlers: {
      [dataPlatformSubscription.destination]: dataPlatformHandler(ports.dataPlatform),
      [shippingSubscription.destination]: shipping.handleOutboxEvent,
      [notificationsSubscription.destination]: notifications.handleOutboxEvent,
      [webhooksSubscription.destination]: webhooks.handleEvent,
      [webhookDeliverySubscription.destination]: webhooks.handleDelivery,
    },
    onDead: async (event, error) => {
      // Both, whichever fails: the operators hear of it even if the webhook log cannot be updated.
      const [logged, alerted] = await Promise.allSettled([webhooks.onDead(event, error), notifications.alertOperators(deadEventAlert(event, error))]);
      if (alerted.status === "rejected") throw alerted.reason;
      if (logged.status === "rejected") throw logged.reason;
    },
    // DATABASE_LISTEN_URL=off: no LISTEN, the poller looks every interval.
    listen: config.databaseListenUrl === null ? undefined : database.listen,
    // A rush (this many API calls being answered): deliveries give the CPU to the customers and catch up after.
    busy: config.outboxYieldAtRequests === 0 ? undefined : () => requestLoad.inFlight >= config.outboxYieldAtRequests,
    fanOut: events.fanOut,
    config: {
      pollIntervalMs: config.outboxPollIntervalMs,
      batchSize: config.outboxBatchSize,
      concurrency: config.outboxConcurrency,
      concurrencyUnderLoad: config.outboxConcurrencyUnderLoad,
      holdUnderLoadMs: config.outboxHoldUnderLoadMs,
      leaseMs: config.outboxLeaseMs,
      backoffMs: config.outboxBackoffSeconds.map((s) => s * 1000),
      maxAttempts: config.outboxMaxAttempts,
    },
  });
  const router = createAppRouter(services, createOutboxRouter(db, clock));
  const limits = createCallLimits(infra, {
    writesPerMinutePerCaller: config.writesPerMinutePerCaller,
    writesPerMinutePerAddress: config.writesPerMinutePerAddress,
    searchesPerMinutePerCaller: config.searchesPerMinutePerCaller,
    searchesPerMinutePerAddress: config.searchesPerMinutePerAddress,
    signUpsPerHourPerAddress: config.signUpsPerHourPerAddress,
  });
  const { app, prefetch } = createHttpApp({ ...deps, router, services, limits, requestLoad });
  let housekeeping: ReturnType<typeof setInterval> | null = null;
  const purgeIdempotencyKeys = () =>
    purgeKeysOlderThan(db, new Date(clock.now().getTime() - config.idempotencyKeyTtlHours * 3_600_000)).catch((error) =>
      logger.error({ err: error }, "idempotency key purge failed"),
    );

  return {
    services,
    events,
    outboxPoller,
    router,
    app,
    requestLoad,
    prefetch,
    start() {
      orders.start();
      if (config.walletChargeRecoveryIntervalMs > 0) wallet.start();
      cardPayments.start();
      sales.start();
      if (config.outboxPollerEnabled) outboxPoller.start();
      housekeeping ??= setInterval(purgeIdempotencyKeys, 3_600_000);
    },
    async stop() {
      // Each waits for its pass under way, so nothing writes after the pool closes.
      await Promise.all([orders.stop(), wallet.stop(), cardPayments.stop(), sales.stop()]);
      if (housekeeping) clearInterval(housekeeping);
      housekeeping = null;
      await outboxPoller.stop();
    },
  };
}
