/** The composed tRPC router. Clients import `type AppRouter` from here and nothing else. */
import { createAddressesRouter } from "../../modules/addresses/index.ts";
import { createCartRouter } from "../../modules/cart/index.ts";
import { createCatalogRouter } from "../../modules/catalog/index.ts";
import { createCouponRouter } from "../../modules/coupons/index.ts";
import { createCustomersRouter } from "../../modules/customers/index.ts";
import { createIdentityRouter } from "../../modules/identity/index.ts";
import { noInput, publicProcedure, router } from "../../modules/kernel/index.ts";
import { createNotificationsRouter } from "../../modules/notifications/index.ts";
import { createOrdersRouter } from "../../modules/orders/index.ts";
import type { createOutboxRouter } from "../../modules/outbox/index.ts";
import { createReportsRouter } from "../../modules/reports/index.ts";
import { createSalesRouter } from "../../modules/sales/index.ts";
import { createShippingRouter } from "../../modules/shipping/index.ts";
import { createWalletRouter } from "../../modules/wallet/index.ts";
import { createWebhooksRouter } from "../../modules/webhooks/index.ts";
import type { Services } from "./services.ts";

export function createAppRouter(services: Services, outbox: ReturnType<typeof createOutboxRouter>) {
  return router({
    /** No-op procedure: the tRPC baseline the benchmarks compare against. */
    ping: publicProcedure.input(noInput).query(() => ({ pong: true as const })),
    identity: createIdentityRouter(services.identity),
    catalog: createCatalogRouter(services.catalog),
    cart: createCartRouter(services.cart),
    coupons: createCouponRouter(services.coupons),
    wallet: createWalletRouter(services.wallet),
    sales: createSalesRouter(services.sales),
    orders: createOrdersRouter(services.orders),
    shipping: createShippingRouter(services.shipping),
    notifications: createNotificationsRouter(services.notifications),
    reports: createReportsRouter(services.reports),
    webhooks: createWebhooksRouter(services.webhooks),
    addresses: createAddressesRouter(services.addresses),
    customers: createCustomersRouter(services.customers),
    outbox,
  });
}

export type AppRouter = ReturnType<typeof createAppRouter>;
