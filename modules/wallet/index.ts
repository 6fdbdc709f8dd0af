/** wallet: prepaid balance charged by card through the payment gateway port, spent and refunded by orders. */
export { walletErrors } from "./errors.ts";
export type { ChargeLookup, ChargeOutcome, ChargeRequest, GatewayFailure, HttpPaymentGatewayOptions, PaymentGateway, VoidRequest } from "./gateway.ts";
export { HttpPaymentGateway, PaymentGatewayUnavailableError } from "./gateway.ts";
export { createWalletRouter } from "./router.ts";
export type { BooksMismatch, BooksReport, ChargeResult, DebitResult, LedgerEntry, RefundResult, WalletBalance } from "./schema.ts";
export type { WalletConfig, WalletDeps, WalletService } from "./service.ts";
export { CHARGE_SCOPE, createWalletService } from "./service.ts";
