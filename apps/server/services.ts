/**
 * What the composition root builds and what it is given: the modules' services and the outside
 * world's ports. Its own file so that router.ts and http.ts can name them without importing
 * compose.ts, which imports them (apps/server imports run one way).
 */
import type { AddressesService } from "../../modules/addresses/index.ts";
import type { CartService } from "../../modules/cart/index.ts";
import type { CatalogService } from "../../modules/catalog/index.ts";
import type { CouponService } from "../../modules/coupons/index.ts";
import type { CustomersService } from "../../modules/customers/index.ts";
import type { IdentityService } from "../../modules/identity/index.ts";
import type { NotificationSender, NotificationService } from "../../modules/notifications/index.ts";
import type { OrdersService } from "../../modules/orders/index.ts";
import type { DataPlatform } from "../../modules/outbox/index.ts";
import type { CardGateway, CardPaymentsService } from "../../modules/payments/index.ts";
import type { ReportsService } from "../../modules/reports/index.ts";
import type { SalesService } from "../../modules/sales/index.ts";
import type { Carrier, ShippingService } from "../../modules/shipping/index.ts";
import type { PaymentGateway, WalletService } from "../../modules/wallet/index.ts";
import type { WebhookService } from "../../modules/webhooks/index.ts";

export interface Services {
  identity: IdentityService;
  catalog: CatalogService;
  cart: CartService;
  coupons: CouponService;
  wallet: WalletService;
  /** Card payments of orders (authorize, capture, refund) and their recovery. */
  cardPayments: CardPaymentsService;
  sales: SalesService;
  orders: OrdersService;
  shipping: ShippingService;
  notifications: NotificationService;
  reports: ReportsService;
  webhooks: WebhookService;
  addresses: AddressesService;
  customers: CustomersService;
}

/** The outside world, behind ports: real adapters in production, fakes over HTTP in tests and dev. */
export interface Ports {
  paymentGateway: PaymentGateway;
  /** The same gateway's card-payment API (authorize, capture, void, refund) for orders paid by card. */
  cardGateway: CardGateway;
  dataPlatform: DataPlatform;
  carrier: Carrier;
  /** Default: SMTP when SMTP_URL is set, otherwise recorded only. */
  notificationSender?: NotificationSender;
}
