/**
 * Domain errors: one type, a stable code, details for the client, and the one table that maps
 * each code to a tRPC code. `ref` is the code the design documents (seeds) use, where they name one.
 */
import { TRPCError } from "@trpc/server";

type TrpcCode =
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "TOO_MANY_REQUESTS"
  | "PRECONDITION_FAILED"
  | "UNPROCESSABLE_CONTENT"
  | "SERVICE_UNAVAILABLE"
  | "BAD_GATEWAY";

export const domainErrorCatalog = {
  // any procedure
  SERVICE_UNAVAILABLE: { trpc: "SERVICE_UNAVAILABLE", message: "A service Agora depends on is unavailable; retry shortly" },
  // identity
  UNAUTHENTICATED: { trpc: "UNAUTHORIZED", message: "Log in first" },
  INVALID_CREDENTIALS: { trpc: "UNAUTHORIZED", message: "Email or password is wrong" },
  ACCOUNT_DEACTIVATED: { trpc: "FORBIDDEN", message: "This account is deactivated" },
  FORBIDDEN: { trpc: "FORBIDDEN", message: "You may not do this" },
  EMAIL_TAKEN: { trpc: "CONFLICT", message: "This email is already registered" },
  USER_NOT_FOUND: { trpc: "NOT_FOUND", message: "No such customer" },
  RATE_LIMITED: { trpc: "TOO_MANY_REQUESTS", message: "Too many attempts; try again later" },
  PASSWORD_CHANGE_REQUIRED: { trpc: "FORBIDDEN", message: "Set a password of your own first (identity.changePassword)" },
  // customers: address book and leaving
  ADDRESS_NOT_FOUND: { trpc: "NOT_FOUND", message: "No such address in your address book" },
  ADDRESS_BOOK_FULL: { trpc: "BAD_REQUEST", message: "Your address book is full" },
  ACCOUNT_HAS_BALANCE: { trpc: "CONFLICT", message: "The wallet still holds money: spend it or have it paid out first" },
  ACCOUNT_HAS_OPEN_ORDERS: { trpc: "CONFLICT", message: "The account has orders that are not finished yet" },
  // catalog and inventory
  PRODUCT_NOT_FOUND: { trpc: "NOT_FOUND", message: "No such product", ref: "P001" },
  INSUFFICIENT_STOCK: { trpc: "BAD_REQUEST", message: "Not enough stock", ref: "P002" },
  INVALID_STOCK_CHANGE: { trpc: "BAD_REQUEST", message: "Stock cannot go below zero" },
  PRODUCT_IN_STOCK: { trpc: "CONFLICT", message: "The product is in stock; no restock sign-up needed" },
  ALREADY_SUBSCRIBED: { trpc: "CONFLICT", message: "You already signed up for this product" },
  // wallet
  PAYMENT_DECLINED: { trpc: "BAD_REQUEST", message: "The payment was declined" },
  PAYMENT_GATEWAY_UNAVAILABLE: { trpc: "SERVICE_UNAVAILABLE", message: "The payment gateway did not answer" },
  CHARGE_AMOUNT_OUT_OF_RANGE: { trpc: "BAD_REQUEST", message: "The charge amount is out of range" },
  BALANCE_LIMIT_EXCEEDED: { trpc: "BAD_REQUEST", message: "The balance would exceed its limit" },
  INSUFFICIENT_BALANCE: { trpc: "BAD_REQUEST", message: "Not enough balance", ref: "PAY001" },
  // cart
  CART_ITEM_NOT_FOUND: { trpc: "NOT_FOUND", message: "The product is not in your cart" },
  CART_FULL: { trpc: "BAD_REQUEST", message: "Your cart has too many lines" },
  CART_EMPTY: { trpc: "BAD_REQUEST", message: "Your cart is empty" },
  CART_LINE_LIMIT: { trpc: "BAD_REQUEST", message: "A cart line cannot hold that many units" },
  // coupons
  COUPON_NOT_FOUND: { trpc: "NOT_FOUND", message: "No such coupon" },
  COUPON_SOLD_OUT: { trpc: "CONFLICT", message: "The coupon is sold out", ref: "C001" },
  COUPON_NOT_OPEN: { trpc: "BAD_REQUEST", message: "The coupon cannot be issued yet", ref: "C002" },
  COUPON_CLOSED: { trpc: "BAD_REQUEST", message: "The coupon can no longer be issued", ref: "C003" },
  ALREADY_ISSUED: { trpc: "CONFLICT", message: "You already have this coupon", ref: "C004" },
  COUPON_NOT_OWNED: { trpc: "NOT_FOUND", message: "You do not have this coupon" },
  COUPON_ALREADY_USED: { trpc: "CONFLICT", message: "The coupon was already used" },
  COUPON_EXPIRED: { trpc: "BAD_REQUEST", message: "The coupon has expired" },
  COUPON_MIN_ORDER_NOT_MET: { trpc: "BAD_REQUEST", message: "The order does not reach the coupon's minimum amount" },
  // orders
  ORDER_NOT_FOUND: { trpc: "NOT_FOUND", message: "No such order" },
  INVALID_ORDER_STATE: { trpc: "CONFLICT", message: "The order cannot do this in its current state" },
  ORDER_PAYMENT_EXPIRED: { trpc: "CONFLICT", message: "The order was not paid in time" },
  IDEMPOTENCY_KEY_REUSED: { trpc: "UNPROCESSABLE_CONTENT", message: "This idempotency key was used for a different request" },
  IDEMPOTENCY_IN_PROGRESS: { trpc: "CONFLICT", message: "A request with this idempotency key is still running" },
  // after the sale
  SHIPMENT_NOT_FOUND: { trpc: "NOT_FOUND", message: "No such shipment" },
  SHIPMENT_INVALID_STATE: { trpc: "CONFLICT", message: "The shipment cannot do this in its current state" },
  TRACKING_NUMBER_TAKEN: { trpc: "CONFLICT", message: "This tracking number belongs to another shipment" },
  OUTBOX_EVENT_NOT_FOUND: { trpc: "NOT_FOUND", message: "No such outbox event" },
  OUTBOX_EVENT_NOT_RETRYABLE: { trpc: "CONFLICT", message: "The event was sent already, or is being sent right now" },
  INVALID_SIGNATURE: { trpc: "UNAUTHORIZED", message: "The signature is not valid" },
  // reports
  INVALID_PERIOD: { trpc: "BAD_REQUEST", message: "The period must start before it ends and span at most 366 days" },
} as const satisfies Record<string, { trpc: TrpcCode; message: string; ref?: string }>;

export type DomainCode = keyof typeof domainErrorCatalog;

/**
 * A rule said no. Extends TRPCError so tRPC answers with the mapped code and HTTP status,
 * and the error formatter exposes `domainCode`, `ref` and `details`.
 */
export class DomainError<Details extends Record<string, unknown> = Record<string, unknown>> extends TRPCError {
  readonly domainCode: DomainCode;
  readonly details: Details;
  readonly ref: string | undefined;

  constructor(domainCode: DomainCode, details?: Details, message?: string) {
    const entry = domainErrorCatalog[domainCode];
    super({ code: entry.trpc, message: message ?? entry.message });
    this.name = "DomainError";
    this.domainCode = domainCode;
    this.details = (details ?? {}) as Details;
    this.ref = "ref" in entry ? entry.ref : undefined;
  }
}

export function isDomainError(error: unknown, code?: DomainCode): error is DomainError {
  return error instanceof DomainError && (code === undefined || error.domainCode === code);
}
