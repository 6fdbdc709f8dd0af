/** sales: the daily sales aggregate and popular products. */
export { createSalesRouter } from "./router.ts";
export type { PopularProducts, SalesDeps, SalesService } from "./service.ts";
export { createSalesService, popularInput } from "./service.ts";
