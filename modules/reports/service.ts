/**
 * Reports for operators: sales per day, money held in wallets, stock on the shelves and the top
 * sellers, composed from what each module reports of itself (no SQL here).
 */
import { z } from "zod";
import type { CatalogService } from "../catalog/index.ts";
import type { Clock } from "../kernel/index.ts";
import { DAY, instantSchema, utcDay } from "../kernel/index.ts";
import type { OrdersService } from "../orders/index.ts";
import type { SalesService } from "../sales/index.ts";
import type { WalletService } from "../wallet/index.ts";
import { reportsErrors } from "./errors.ts";

export const periodInput = z
  .strictObject({
    /** The last `days` UTC days, today included; or an explicit [from, to) range. */
    days: z.number().int().min(1).max(366).default(7),
    from: instantSchema.optional(),
    to: instantSchema.optional(),
  })
  .default({ days: 7 });
export type PeriodInput = z.infer<typeof periodInput>;

export interface ReportsDeps {
  clock: Clock;
  orders: Pick<OrdersService, "dailyTotals" | "buyerTotals">;
  catalog: Pick<CatalogService, "inventorySummary" | "lowStock">;
  wallet: Pick<WalletService, "totals">;
  sales: Pick<SalesService, "popularUncached">;
}

export type ReportsService = ReturnType<typeof createReportsService>;

export function createReportsService({ clock, orders, catalog, wallet, sales }: ReportsDeps) {
  function period(input: PeriodInput): { from: Date; to: Date; days: number } {
    const startOfTomorrow = new Date(`${utcDay(new Date(clock.now().getTime() + DAY))}T00:00:00Z`);
    const to = input.to ?? startOfTomorrow;
    const from = input.from ?? new Date(to.getTime() - input.days * DAY);
    if (from >= to) throw reportsErrors.INVALID_PERIOD.create({ from, to });
    if (to.getTime() - from.getTime() > 366 * DAY) throw reportsErrors.INVALID_PERIOD.create({ from, to, maxDays: 366 });
    return { from, to, days: Math.ceil((to.getTime() - from.getTime()) / DAY) };
  }

  async function salesReport(input: PeriodInput) {
    const { from, to } = period(input);
    const days = await orders.dailyTotals(from, to);
    const sum = (pick: (d: (typeof days)[number]) => number) => days.reduce((total, d) => total + pick(d), 0);
    return {
      period: { from, to },
      days,
      totals: {
        paidOrders: sum((d) => d.paidOrders),
        grossAmount: sum((d) => d.grossAmount),
        discountAmount: sum((d) => d.discountAmount),
        reversedOrders: sum((d) => d.reversedOrders),
        reversedAmount: sum((d) => d.reversedAmount),
        netAmount: sum((d) => d.netAmount),
      },
    };
  }

  return {
    sales: salesReport,
    /** Customer behaviour: new versus repeat buyers, average order value, purchase frequency. */
    async customers(input: PeriodInput) {
      const { from, to } = period(input);
      const totals = await orders.buyerTotals(from, to);
      const labels = ["1", "2", "3", "4", "5+"] as const;
      return {
        period: { from, to },
        buyers: totals.buyers,
        newBuyers: totals.newBuyers,
        repeatBuyers: totals.buyers - totals.newBuyers,
        orders: totals.orders,
        amount: totals.amount,
        // Whole won: money is never a fraction.
        averageOrderValue: totals.orders > 0 ? Math.round(totals.amount / totals.orders) : 0,
        ordersPerBuyer: totals.buyers > 0 ? Math.round((totals.orders / totals.buyers) * 100) / 100 : 0,
        frequency: labels.map((orders, index) => ({ orders, buyers: totals.frequency[index] ?? 0 })),
      };
    },
    inventory: async () => ({ ...(await catalog.inventorySummary()), lowStockProducts: await catalog.lowStock(20) }),
    async overview(input: PeriodInput) {
      const { from, to, days } = period(input);
      const [salesPart, inventory, money, top] = await Promise.all([
        salesReport({ ...input, from, to }),
        catalog.inventorySummary(),
        wallet.totals(from, to),
        sales.popularUncached(Math.min(30, days), 10),
      ]);
      return { period: { from, to }, sales: salesPart.totals, wallets: money, inventory, topProducts: top.products };
    },
  };
}
