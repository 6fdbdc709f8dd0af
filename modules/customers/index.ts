/** customers: erasing a customer across the modules that hold their data, keeping the books. */
export { createCustomersRouter } from "./router.ts";
export type { CustomersDeps, CustomersService, ErasedCustomer } from "./service.ts";
export { createCustomersService } from "./service.ts";
