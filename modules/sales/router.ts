import { publicProcedure, router } from "../kernel/index.ts";
import { popularInput, type SalesService } from "./service.ts";

export function createSalesRouter(sales: SalesService) {
  return router({
    popular: publicProcedure.input(popularInput).query(({ input }) => sales.popular(input.days, input.limit)),
  });
}
