import { adminProcedure, noInput, router } from "../kernel/index.ts";
import { periodInput, type ReportsService } from "./service.ts";

export function createReportsRouter(reports: ReportsService) {
  return router({
    admin: router({
      /** Sales per UTC day of payment, and totals. */
      sales: adminProcedure.input(periodInput).query(({ input }) => reports.sales(input)),
      /** Products, units and stock value; the products under their low-stock threshold. */
      inventory: adminProcedure.input(noInput).query(() => reports.inventory()),
      /** Customer behaviour: new versus repeat buyers, average order value, purchase frequency. */
      customers: adminProcedure.input(periodInput).query(({ input }) => reports.customers(input)),
      /** Sales totals, wallet money, inventory and the top ten sellers of a period. */
      overview: adminProcedure.input(periodInput).query(({ input }) => reports.overview(input)),
    }),
  });
}
