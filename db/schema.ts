/**
 * The Kysely `Database` type: every table Agora owns, grouped by the module that owns it.
 * Table names carry the owning module as a prefix (identity_, catalog_, inventory_, ...).
 * Only the owning module's repository file may query its tables.
 */
import type { ColumnType, Generated, GeneratedAlways } from "kysely";

/** Timestamps are written from the injected clock (never `now()` in SQL) and read back as Date. */
type Timestamp = ColumnType<Date, Date, Date>;
type NullableTimestamp = ColumnType<Date | null, Date | null | undefined, Date | null>;
/** JSON columns: written as a serialized string, read back parsed. */
type Json<T = unknown> = ColumnType<T, string, string>;

// ── identity ──────────────────────────────────────────────────────────────
export interface IdentityUsersTable {
  id: Generated<number>;
  /** Sealed (AES-256-GCM, modules/kernel/pii.ts); rows from before encryption hold plaintext until sealed at start. */
  email: string;
  /** Keyed blind index of the lower-cased email: login and uniqueness. */
  email_index: string | null;
  password_hash: string;
  name: string;
  /** Sealed, like email. */
  phone: string | null;
  /** Keyed blind index of the phone's digits: an operator's exact search. */
  phone_index: string | null;
  role: "customer" | "admin";
  status: "active" | "deactivated" | "deleted";
  /** Registered by an operator with a temporary password: the customer must set their own first. */
  must_change_password: Generated<boolean>;
  /** Set when the account was erased (status 'deleted'); the row stays for the books. */
  deleted_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A customer's address book entry; recipient, phone and address sealed (kernel/pii.ts). */
export interface CustomerAddressesTable {
  id: Generated<number>;
  user_id: number;
  /** 1..20, unique per customer: the database's limit on the book's size. */
  slot: number;
  label: string;
  recipient: string;
  phone: string | null;
  address: string;
  is_default: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface IdentitySessionsTable {
  token_hash: string;
  user_id: number;
  created_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: NullableTimestamp;
  ip: string | null;
}

// ── catalog ───────────────────────────────────────────────────────────────
export interface CatalogProductsTable {
  id: Generated<number>;
  name: string;
  category: string;
  price: number;
  description: string;
  status: "active" | "hidden" | "deleted";
  created_at: Timestamp;
  updated_at: Timestamp;
  /** lower(name), kept by PostgreSQL: what product search matches (LIKE), with its trigram index. */
  search_name: GeneratedAlways<string>;
}

// ── inventory ─────────────────────────────────────────────────────────────
export interface InventoryStockTable {
  product_id: number;
  quantity: number;
  low_stock_threshold: number;
  updated_at: Timestamp;
}

export type StockMovementKind = "inbound" | "outbound" | "adjustment" | "sale" | "release";

export interface InventoryMovementsTable {
  id: Generated<number>;
  product_id: number;
  kind: StockMovementKind;
  quantity_change: number;
  quantity_after: number;
  reason: string | null;
  actor_id: number | null;
  order_id: number | null;
  created_at: Timestamp;
}

export interface InventoryRestockSubscriptionsTable {
  id: Generated<number>;
  product_id: number;
  user_id: number;
  channel: "email" | "sms";
  created_at: Timestamp;
  notified_at: NullableTimestamp;
}

// ── wallet ────────────────────────────────────────────────────────────────
export interface WalletAccountsTable {
  user_id: number;
  balance: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type LedgerEntryKind = "charge" | "payment" | "refund";

export interface WalletLedgerTable {
  id: Generated<number>;
  user_id: number;
  kind: LedgerEntryKind;
  /** Signed: charges and refunds are positive, payments negative. */
  amount: number;
  balance_after: number;
  order_id: number | null;
  gateway_reference: string | null;
  created_at: Timestamp;
}

export type ChargeAttemptStatus = "pending" | "credited" | "declined" | "voiding" | "voided" | "failed";

/** A card charge recorded before the gateway is called; settled by the request or by recovery. */
export interface WalletChargeAttemptsTable {
  id: Generated<number>;
  user_id: number;
  amount: number;
  /** The Idempotency-Key the gateway sees: derived from (user, amount, customer key) when there is one. */
  gateway_key: string;
  /** The customer's idempotency key (scope wallet.charge), to complete it when recovery settles. */
  idempotency_key: string | null;
  status: ChargeAttemptStatus;
  gateway_reference: string | null;
  /** Until then the request that made the attempt settles it; after, the recovery worker may. */
  lease_until: Timestamp;
  recovery_attempts: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

// ── cart ──────────────────────────────────────────────────────────────────
export interface CartItemsTable {
  user_id: number;
  product_id: number;
  quantity: number;
  added_at: Timestamp;
  updated_at: Timestamp;
}

// ── coupons ───────────────────────────────────────────────────────────────
export interface CouponCouponsTable {
  id: Generated<number>;
  name: string;
  discount_type: "fixed" | "percent";
  /** Won for fixed, 1..100 for percent. */
  discount_value: number;
  /** Cap on a percent discount, in won. */
  max_discount_amount: number | null;
  min_order_amount: number;
  total_quantity: number;
  issued_quantity: Generated<number>;
  issue_starts_at: Timestamp;
  issue_ends_at: Timestamp;
  /** How long an issued coupon stays usable. */
  valid_days: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface CouponIssuedTable {
  id: Generated<number>;
  coupon_id: number;
  user_id: number;
  status: "available" | "used";
  issued_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
  order_id: number | null;
  /** 1..coupon_quantity, unique per coupon: the unit of the coupon this customer holds. */
  slot: number;
  /** The coupon's total_quantity (foreign key on the pair), so a CHECK can keep the slot within it. */
  coupon_quantity: number;
}

/** One row: a random value per database, part of the Redis admission keys. */
export interface CouponAdmissionEpochTable {
  singleton: Generated<boolean>;
  epoch: Generated<string>;
}

export interface CouponHistoryTable {
  id: Generated<number>;
  issued_coupon_id: number;
  action: "issued" | "used" | "restored";
  order_id: number | null;
  created_at: Timestamp;
}

// ── orders ────────────────────────────────────────────────────────────────
export type OrderStatus = "pending_payment" | "paid" | "preparing" | "shipped" | "delivered" | "cancelled" | "refunded" | "expired";

export interface OrderOrdersTable {
  id: Generated<number>;
  user_id: number;
  status: OrderStatus;
  subtotal_amount: number;
  discount_amount: number;
  final_amount: number;
  issued_coupon_id: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  paid_at: NullableTimestamp;
  /** For pending-payment orders: when the reservation lapses. */
  payment_due_at: NullableTimestamp;
  cancelled_at: NullableTimestamp;
  cancel_reason: string | null;
  /** A return after delivery: when the money went back, and why (not a cancellation). */
  refunded_at: NullableTimestamp;
  refund_reason: string | null;
  shipping_address: string | null;
}

export interface OrderLinesTable {
  id: Generated<number>;
  order_id: number;
  product_id: number;
  product_name: string;
  unit_price: number;
  quantity: number;
  line_amount: number;
}

export type PaymentMethod = "wallet" | "card";

/** One row per method an order was paid with (a split payment has two). */
export interface OrderPaymentsTable {
  id: Generated<number>;
  order_id: number;
  method: PaymentMethod;
  amount: number;
  status: "paid" | "refunded";
  /** The card payment (payment_card_payments) behind a card row; null for the wallet. */
  card_payment_id: number | null;
  created_at: Timestamp;
}

/** Money an order gave back, per source: once per order (a cancellation after payment, or a return). */
export interface OrderRefundsTable {
  id: Generated<number>;
  order_id: number;
  kind: "cancellation" | "return";
  wallet_amount: number;
  card_amount: number;
  reason: string;
  /** Who asked (customer or operator); null for the system. */
  actor_id: number | null;
  created_at: Timestamp;
}

// ── payments (card) ───────────────────────────────────────────────────────
/**
 * authorizing → authorized → capturing → captured → reversing → reversed (an order's card payment)
 * authorizing → declined | failed;  authorized → voiding → voided (no order took it)
 */
export type CardPaymentStatus =
  | "authorizing"
  | "authorized"
  | "declined"
  | "failed"
  | "voiding"
  | "voided"
  | "capturing"
  | "captured"
  | "reversing"
  | "reversed";

/** A card authorization recorded before the gateway is called; settled by the request or by recovery. */
export interface PaymentCardPaymentsTable {
  id: Generated<number>;
  user_id: number;
  amount: number;
  /** The Idempotency-Key the gateway sees for the authorization (and, suffixed, its capture, void, refund). */
  gateway_key: string;
  status: CardPaymentStatus;
  /** The order that took the authorization (set in the order's transaction). */
  order_id: number | null;
  gateway_reference: string | null;
  /** Until then the request that made it settles it; after, the recovery worker may. */
  lease_until: Timestamp;
  recovery_attempts: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

// ── sales (popular products) ──────────────────────────────────────────────
export interface SalesDailyTable {
  /** ISO date (YYYY-MM-DD, UTC). */
  day: string;
  product_id: number;
  sold_quantity: number;
  order_count: number;
}

/** Sales not yet rolled up into sales_daily (signed: a cancellation is the negative of its sale). */
export interface SalesPendingTable {
  id: Generated<number>;
  /** ISO date (YYYY-MM-DD, UTC) the sale counts on. */
  day: string;
  product_id: number;
  sold_quantity: number;
  order_count: number;
}

// ── idempotency ───────────────────────────────────────────────────────────
export interface IdempotencyKeysTable {
  user_id: number;
  scope: string;
  key: string;
  request_hash: string;
  status: "in_progress" | "completed";
  response: Json | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

// ── outbox ────────────────────────────────────────────────────────────────
export interface OutboxEventsTable {
  /** UUIDv7: time-ordered. */
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  type: string;
  payload: Json;
  status: "pending" | "sent" | "dead";
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  /** Lease: a claim by a poller lasts until then; afterwards another poller may take the event. */
  locked_until: NullableTimestamp;
  locked_by: string | null;
  last_error: string | null;
  created_at: Timestamp;
  sent_at: NullableTimestamp;
  /** Which downstream system this row is for: one row per (event, destination). */
  destination: string;
}

// ── webhooks ──────────────────────────────────────────────────────────────
export interface WebhookEndpointsTable {
  id: Generated<number>;
  url: string;
  /** Sealed (kernel/pii.ts), column "webhook_endpoints.secret". */
  secret: string;
  event_types: string[];
  description: Generated<string>;
  status: Generated<"active" | "paused">;
  created_by: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  endpoint_id: number;
  /** The id integrators de-duplicate by: the same for every endpoint and every attempt. */
  event_id: string;
  event_type: string;
  status: Generated<"pending" | "delivered" | "failed" | "dead" | "skipped">;
  attempts: Generated<number>;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Timestamp;
  last_attempt_at: NullableTimestamp;
  delivered_at: NullableTimestamp;
}

/** A poller with nothing to do that listens for NOTIFY: inserts into outbox_events notify while one waits. */
export interface OutboxWaitingPollersTable {
  owner: string;
  until: Timestamp;
}

// ── notifications ─────────────────────────────────────────────────────────
export interface NotificationMessagesTable {
  id: Generated<number>;
  channel: "email" | "sms";
  /** Sealed (kernel/pii.ts), like subject and body; rows logged before encryption hold plaintext until sealed at start. */
  recipient: string;
  /** Keyed blind index of the recipient: part of the de-duplication key. Null only on rows not yet sealed. */
  recipient_index: string | null;
  template: string;
  subject: string;
  body: string;
  created_at: Timestamp;
  user_id: number | null;
  /** The outbox row that caused it: a retried event never sends the same message twice. */
  source_event_id: string | null;
  status: Generated<"sent" | "failed">;
}

// ── shipping ──────────────────────────────────────────────────────────────
export type ShipmentStatus = "requested" | "ready" | "in_transit" | "delivered" | "cancelled";

export interface ShippingShipmentsTable {
  id: Generated<number>;
  order_id: number;
  user_id: number;
  status: ShipmentStatus;
  carrier: string | null;
  tracking_number: string | null;
  address: string | null;
  requested_at: Timestamp;
  updated_at: Timestamp;
  delivered_at: NullableTimestamp;
  /** Sealed: the address a booking is being asked of the carrier for, until its outcome is recorded. */
  booking_address: string | null;
}

export interface ShippingTrackingEventsTable {
  id: Generated<number>;
  shipment_id: number;
  carrier_event_id: string | null;
  status: string;
  description: Generated<string>;
  occurred_at: Timestamp;
  received_at: Timestamp;
}

export interface Database {
  identity_users: IdentityUsersTable;
  identity_sessions: IdentitySessionsTable;
  customer_addresses: CustomerAddressesTable;
  catalog_products: CatalogProductsTable;
  inventory_stock: InventoryStockTable;
  inventory_movements: InventoryMovementsTable;
  inventory_restock_subscriptions: InventoryRestockSubscriptionsTable;
  wallet_accounts: WalletAccountsTable;
  wallet_ledger: WalletLedgerTable;
  wallet_charge_attempts: WalletChargeAttemptsTable;
  cart_items: CartItemsTable;
  coupon_coupons: CouponCouponsTable;
  coupon_issued: CouponIssuedTable;
  coupon_history: CouponHistoryTable;
  coupon_admission_epoch: CouponAdmissionEpochTable;
  order_orders: OrderOrdersTable;
  order_lines: OrderLinesTable;
  order_payments: OrderPaymentsTable;
  order_refunds: OrderRefundsTable;
  payment_card_payments: PaymentCardPaymentsTable;
  sales_daily: SalesDailyTable;
  sales_pending: SalesPendingTable;
  idempotency_keys: IdempotencyKeysTable;
  outbox_events: OutboxEventsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  outbox_waiting_pollers: OutboxWaitingPollersTable;
  notification_messages: NotificationMessagesTable;
  shipping_shipments: ShippingShipmentsTable;
  shipping_tracking_events: ShippingTrackingEventsTable;
}
