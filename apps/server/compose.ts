/**
 * The composition root: builds every module's service from the database, the Redis-or-memory
 * infra, the clock and the external ports, then the router and the Hono app.
 * Tests call `createAgora` with their own database, clock and fakes.
 */
import type { DatabaseHandle } from "../../db/index.ts";
import { type AddressesService, createAddressesService } from "../../modules/addresses/index.ts";
import { type CartService, createCartService } from "../../modules/cart/index.ts";
import { type CatalogService, createCatalogService } from "../../modules/catalog/index.ts";
import { type CouponService, createCouponService } from "../../modules/coupons/index.ts";
import { type CustomersService, createCustomersService } from "../../modules/customers/index.ts";
import { purgeKeysOlderThan } from "../../modules/idempotency/index.ts";
import { createIdentityService, defaultIdentityConfig, type IdentityConfig, type IdentityService } from "../../modules/identity/index.ts";
import { type Clock, createCallLimits, createPiiCipher, developmentPiiKeys, type Infra, type Logger, type Metrics } from "../../modules/kernel/index.ts";
import {
  createNotificationSender,
  createNotificationService,
  deadEventAlert,
  type NotificationSender,
  type NotificationService,
} from "../../modules/notifications/index.ts";
import { createOrdersService, type OrdersService } from "../../modules/orders/index.ts";
import { createOutboxPoller, createOutboxRouter, type DataPlatform, dataPlatformHandler, type OutboxPoller } from "../../modules/outbox/index.ts";
import { createReportsService, type ReportsService } from "../../modules/reports/index.ts";
import { createSalesService, type SalesService } from "../../modules/sales/index.ts";
import { type Carrier, createShippingService, type ShippingService } from "../../modules/shipping/index.ts";
import { createWalletService, type PaymentGateway, type WalletService } from "../../modules/wallet/index.ts";
import type { AgoraConfig } from "./config.ts";
import { createHttpApp } from "./http.ts";
import { type AppRouter, createAppRouter } from "./router.ts";

export interface Services {
  identity: IdentityService;
  catalog: CatalogService;
  cart: CartService;
  coupons: CouponService;
  wallet: WalletService;
  sales: SalesService;
  orders: OrdersService;
  shipping: ShippingService;
  notifications: NotificationService;
  reports: ReportsService;
  addresses: AddressesService;
  customers: CustomersService;
}

/** The outside world, behind ports: real adapters in production, fakes over HTTP in tests and dev. */
export interface Ports {
  paymentGateway: PaymentGateway;
  dataPlatform: DataPlatform;
  carrier: Carrier;
  /** Default: SMTP when SMTP_URL is set, otherwise recorded only. */
  notificationSender?: NotificationSender;
}

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
  /** Sends outbox events; started with the server unless OUTBOX_POLLER_ENABLED=false (tests drive it with runOnce). */
  outboxPoller: OutboxPoller;
  router: AppRouter;
  app: ReturnType<typeof createHttpApp>;
  /** Starts background work (pollers, sweepers). */
  start(): void;
  /** Stops background work; connections are closed by whoever opened them. */
  stop(): Promise<void>;
}

export function identityConfigFrom(config: AgoraConfig): IdentityConfig {
  return {
    ...defaultIdentityConfig,
    sessionTtlMs: config.sessionTtlHours * 60 * 60 * 1000,
    sessionCacheMs: config.sessionCacheSeconds * 1000,
    passwordHashing: { memoryCost: config.passwordMemoryCost, timeCost: config.passwordTimeCost },
    loginLimitPerAccountAndAddress: { ...defaultIdentityConfig.loginLimitPerAccountAndAddress, points: config.loginAttemptsPerAccountAndAddress },
    loginLimitPerAddress: { ...defaultIdentityConfig.loginLimitPerAddress, points: config.loginAttemptsPerAddress },
  };
}

export function createAgora(deps: AgoraDeps): Agora {
  const { database, infra, clock, config, logger, ports } = deps;
  const db = database.db;
  const cipher = createPiiCipher(config.piiKeys ?? developmentPiiKeys);
  const identity = createIdentityService({ db, clock, infra, logger, cipher, config: identityConfigFrom(config) });
  const catalog = createCatalogService({ db, clock });
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
    },
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
    sales,
    addressBook: addresses,
    cipher,
    config: { paymentWindowMs: config.orderPaymentWindowMinutes * 60_000 },
  });
  const shipping = createShippingService({
    db,
    clock,
    logger,
    orders,
    carrier: ports.carrier,
    cipher,
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
  const notifications = createNotificationService({ db, clock, logger, identity, catalog, sender, operators: { emails: config.notifyOperatorEmails } });
  const reports = createReportsService({ clock, orders, catalog, wallet, sales });
  const customers = createCustomersService({ db, logger, identity, addresses, wallet, orders, shipping, notifications, catalog, cart });
  const services: Services = { identity, catalog, cart, coupons, wallet, sales, orders, shipping, notifications, reports, addresses, customers };
  const outboxPoller = createOutboxPoller({
    db,
    clock,
    logger,
    metrics: deps.metrics,
    handlers: {
      "data-platform": dataPlatformHandler(ports.dataPlatform),
      shipping: shipping.handleOutboxEvent,
      notifications: notifications.handleOutboxEvent,
    },
    onDead: (event, error) => notifications.alertOperators(deadEventAlert(event, error)),
    listen: database.listen,
    config: {
      pollIntervalMs: config.outboxPollIntervalMs,
      batchSize: config.outboxBatchSize,
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
  const app = createHttpApp({ ...deps, router, services, limits });
  let housekeeping: ReturnType<typeof setInterval> | null = null;
  const purgeIdempotencyKeys = () =>
    purgeKeysOlderThan(db, new Date(clock.now().getTime() - config.idempotencyKeyTtlHours * 3_600_000)).catch((error) =>
      logger.error({ err: error }, "idempotency key purge failed"),
    );

  return {
    services,
    outboxPoller,
    router,
    app,
    start() {
      orders.start();
      if (config.walletChargeRecoveryIntervalMs > 0) wallet.start();
      sales.start();
      if (config.outboxPollerEnabled) outboxPoller.start();
      housekeeping ??= setInterval(purgeIdempotencyKeys, 3_600_000);
    },
    async stop() {
      orders.stop();
      wallet.stop();
      await sales.stop();
      if (housekeeping) clearInterval(housekeeping);
      housekeeping = null;
      await outboxPoller.stop();
    },
  };
}
