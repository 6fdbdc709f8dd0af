import { adminProcedure, authedProcedure, router } from "../kernel/index.ts";
import { adminDeleteCustomerInput, deleteMyAccountInput } from "./schema.ts";
import type { CustomersService } from "./service.ts";

export function createCustomersRouter(customers: CustomersService) {
  return router({
    deleteMyAccount: authedProcedure.input(deleteMyAccountInput).mutation(({ input, ctx }) => customers.deleteMyAccount(ctx.session.userId, input.password)),
    admin: router({
      delete: adminProcedure
        .input(adminDeleteCustomerInput)
        .mutation(({ input, ctx }) => customers.deleteCustomer(input.userId, ctx.session.userId, input.reason)),
    }),
  });
}
