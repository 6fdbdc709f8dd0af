/** payments: card payments of orders (authorize, capture, void, refund) through the payment gateway, durable and recovered. */
export type { AuthorizationLookup, AuthorizationOutcome, CardGateway } from "./gateway.ts";
export { CardGatewayRefusedError, CardGatewayUnavailableError, HttpCardGateway } from "./gateway.ts";
export type { CardAuthorization, CardPaymentsConfig, CardPaymentsDeps, CardPaymentsService, RecoveryCounts } from "./service.ts";
export { createCardPaymentsService, defaultCardPaymentsConfig } from "./service.ts";
