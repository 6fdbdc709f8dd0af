import { publicProcedure, router } from "../kernel/index.ts";
import { popularInput, type SalesService } from "./service.ts";

export function createSalesRouter(sales: SalesService) {
  return router({
    // The same ranking for everyone: the HTTP layer may serve it whole for a moment.
    popular: publicProcedure
      .meta({ shared: true })
      .input(popularInput)
      .query(({ input }) => sales.popular(input.days, input.limit)),
  });
}
