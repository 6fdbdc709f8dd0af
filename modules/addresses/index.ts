/** addresses: a customer's address book (sealed at rest); orders ship to a copy of an entry. */

export { addressesErrors } from "./errors.ts";
export { MAX_ADDRESSES } from "./repository.ts";
export { createAddressesRouter } from "./router.ts";
export type { Address } from "./schema.ts";
export type { AddressesDeps, AddressesService } from "./service.ts";
export { createAddressesService, shippingTextOf } from "./service.ts";
