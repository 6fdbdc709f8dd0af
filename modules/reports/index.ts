/** reports: what operators read — sales per day, wallets, inventory, top sellers. */
export { reportsErrors } from "./errors.ts";
export { createReportsRouter } from "./router.ts";
export type { PeriodInput, ReportsDeps, ReportsService } from "./service.ts";
export { createReportsService, periodInput } from "./service.ts";
