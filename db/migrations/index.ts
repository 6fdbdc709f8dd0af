/**
 * Every migration, in order. A static list (not a folder scan) so the server bundles and
 * the test template hash covers exactly what runs.
 */
import type { Migration } from "kysely/migration";
import * as identity from "./2026-11-21T00-00-identity.ts";
import * as catalogInventory from "./2026-11-21T00-01-catalog-inventory.ts";
import * as buying from "./2026-11-21T00-02-buying.ts";
import * as afterSale from "./2026-11-21T00-03-after-sale.ts";
import * as catalogCategoryPrice from "./2026-11-21T00-04-catalog-category-price-index.ts";
import * as salesRanking from "./2026-11-21T00-05-sales-daily-ranking-index.ts";
import * as walletChargeAttempts from "./2026-12-02T00-00-wallet-charge-attempts.ts";
import * as identityPersonalData from "./2026-12-02T00-01-identity-personal-data.ts";
import * as salesPending from "./2026-12-02T00-10-sales-pending.ts";
import * as outboxDelivery from "./2026-12-02T00-20-outbox-delivery.ts";
import * as couponSlots from "./2026-12-02T05-00-coupon-slots-admission-epoch.ts";
import * as notificationLogPersonalData from "./2026-12-02T06-00-notification-log-personal-data.ts";
import * as customersAddresses from "./2026-12-02T08-00-customers-addresses.ts";
import * as webhooks from "./2026-12-02T08-00-webhooks.ts";
import * as cardPaymentsRefunds from "./2026-12-02T09-00-card-payments-refunds.ts";
import * as shippingBookingAddress from "./2026-12-02T10-00-shipping-booking-address.ts";
import * as catalogSearchName from "./2026-12-02T11-00-catalog-search-name.ts";
import * as outboxFanOut from "./2026-12-04T00-00-outbox-fan-out.ts";

export const migrations: Record<string, Migration> = {
  "2026-11-21T00-00-identity": identity,
  "2026-11-21T00-01-catalog-inventory": catalogInventory,
  "2026-11-21T00-02-buying": buying,
  "2026-11-21T00-03-after-sale": afterSale,
  "2026-11-21T00-04-catalog-category-price-index": catalogCategoryPrice,
  "2026-11-21T00-05-sales-daily-ranking-index": salesRanking,
  "2026-12-02T00-00-wallet-charge-attempts": walletChargeAttempts,
  "2026-12-02T00-01-identity-personal-data": identityPersonalData,
  "2026-12-02T00-10-sales-pending": salesPending,
  "2026-12-02T00-20-outbox-delivery": outboxDelivery,
  "2026-12-02T05-00-coupon-slots-admission-epoch": couponSlots,
  "2026-12-02T06-00-notification-log-personal-data": notificationLogPersonalData,
  "2026-12-02T09-00-card-payments-refunds": cardPaymentsRefunds,
  "2026-12-02T08-00-webhooks": webhooks,
  "2026-12-02T08-00-customers-addresses": customersAddresses,
  "2026-12-02T10-00-shipping-booking-address": shippingBookingAddress,
  "2026-12-02T11-00-catalog-search-name": catalogSearchName,
  "2026-12-04T00-00-outbox-fan-out": outboxFanOut,
};
