/** The address book's refusals (copy modules/orders/errors.ts for the shape). */
import { defineErrors, refusal } from "../kernel/index.ts";

export const addressesErrors = defineErrors({
  ADDRESS_NOT_FOUND: refusal<{ addressId: number }>({ kind: "not_found", message: "No such address in your address book" }),
  ADDRESS_BOOK_FULL: refusal<{ maxAddresses: number }>({ kind: "invalid", message: "Your address book is full" }),
});
