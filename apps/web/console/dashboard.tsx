/** Today at a glance: sales and orders, low stock, dead outbox events, recent notifications. */
import { useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { api } from "../shared/api.ts";
import { dashboardQueries } from "../shared/first-view.ts";
import { dateTime, num, useLang, useT, won } from "../shared/i18n.ts";
import { QueryView, StatusBadge } from "../shared/ui.tsx";

export function Stat({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div className="card stat">
      <div className="label">{label}</div>
      <div className="value" data-testid={testId}>
        {value}
      </div>
    </div>
  );
}

export function DashboardPage() {
  const t = useT();
  const lang = useLang();
  const q = dashboardQueries;
  const today = useQuery({ queryKey: q.today.key, queryFn: () => api.reports.admin.sales.query(q.today.input) });
  const inventory = useQuery({ queryKey: q.inventory.key, queryFn: () => api.reports.admin.inventory.query() });
  const dead = useQuery({ queryKey: q.dead.key, queryFn: () => api.outbox.admin.list.query(q.dead.input) });
  const pending = useQuery({ queryKey: q.pending.key, queryFn: () => api.outbox.admin.stats.query() });
  const notifications = useQuery({ queryKey: q.notifications.key, queryFn: () => api.notifications.admin.list.query(q.notifications.input) });
  return (
    <div className="stack">
      <h1>{t("대시보드", "Dashboard")}</h1>
      <div className="stats">
        {/* The figures carry their test ids once they are there: "shown" means the figure, not its placeholder. */}
        <Stat
          label={t("오늘 매출 (순)", "Today's net sales")}
          value={today.data ? won(today.data.totals.netAmount) : "…"}
          testId={today.data ? "today-sales" : undefined}
        />
        <Stat
          label={t("오늘 결제 주문", "Orders paid today")}
          value={today.data ? num(today.data.totals.paidOrders) : "…"}
          testId={today.data ? "today-orders" : undefined}
        />
        <Stat label={t("재고 부족 상품", "Low-stock products")} value={inventory.data ? num(inventory.data.lowStock) : "…"} />
        <Stat label={t("품절 상품", "Out of stock")} value={inventory.data ? num(inventory.data.outOfStock) : "…"} />
        <Stat label={t("실패(dead) 이벤트", "Dead outbox events")} value={dead.data ? num(dead.data.items.length) + (dead.data.nextCursor ? "+" : "") : "…"} />
        <Stat label={t("대기 이벤트", "Pending events")} value={pending.data ? num(pending.data.pending) : "…"} />
      </div>
      <div className="row" style={{ alignItems: "flex-start" }}>
        <section className="card" style={{ flex: "1 1 360px" }}>
          <h2>{t("재고 부족", "Low stock")}</h2>
          <QueryView query={inventory} isEmpty={(d) => d.lowStockProducts.length === 0} empty={t("재고 부족 상품이 없습니다.", "Nothing is low.")}>
            {(d) => (
              <table>
                <tbody>
                  {d.lowStockProducts.slice(0, 8).map((p) => (
                    <tr key={p.productId}>
                      <td>
                        <Link href={`/products/${p.productId}`}>{p.name}</Link>
                      </td>
                      <td className="num">
                        {num(p.stock)} / {num(p.lowStockThreshold)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </QueryView>
        </section>
        <section className="card" style={{ flex: "1 1 420px" }}>
          <h2>{t("최근 알림", "Recent notifications")}</h2>
          <QueryView query={notifications} isEmpty={(d) => d.items.length === 0} empty={t("보낸 알림이 없습니다.", "No notifications yet.")}>
            {(d) => (
              <table>
                <tbody>
                  {d.items.map((n) => (
                    <tr key={n.id}>
                      <td className="small">{dateTime(n.createdAt, lang)}</td>
                      <td>
                        <div>{n.subject}</div>
                        <div className="muted small">
                          {n.template} → {n.recipient}
                        </div>
                      </td>
                      <td>
                        <StatusBadge status={n.status} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </QueryView>
        </section>
      </div>
    </div>
  );
}
