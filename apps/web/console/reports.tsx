/** Reports with charts (uPlot): sales per day with a 7-day trend, inventory and low stock, top sellers, customer behaviour. */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import { Link } from "wouter";
import { api } from "../shared/api.ts";
import { num, useT, won } from "../shared/i18n.ts";
import { QueryView } from "../shared/ui.tsx";
import { Stat } from "./dashboard.tsx";

const DAY = 86_400_000;

/** A uPlot chart that follows its container's width. */
function Chart({ options, data, label }: { options: Omit<uPlot.Options, "width" | "height">; data: uPlot.AlignedData; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const plot = new uPlot({ ...options, width: Math.max(280, element.clientWidth), height: 260 }, data, element);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(280, element.clientWidth), height: 260 }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [options, data]);
  return <div ref={ref} role="img" aria-label={label} />;
}

const bars = uPlot.paths.bars?.({ size: [0.6, 40] });
const wonAxis = (_u: uPlot, values: number[]) => values.map((v) => (v >= 10_000 ? `${num(Math.round(v / 10_000))}만` : num(v)));

function SalesChart({ days, from, to }: { days: Array<{ day: string; netAmount: number; paidOrders: number }>; from: Date; to: Date }) {
  const t = useT();
  const [state] = useState(() => new Map<string, unknown>());
  const byDay = new Map(days.map((d) => [d.day, d]));
  // Every UTC day of the period, so a quiet day shows as zero and the axis spans the period.
  const first = Math.floor(new Date(from).getTime() / DAY) * DAY;
  const last = new Date(to).getTime() - 1;
  const xs: number[] = [];
  const net: number[] = [];
  for (let at = first; at <= last; at += DAY) {
    xs.push(at / 1000);
    net.push(byDay.get(new Date(at).toISOString().slice(0, 10))?.netAmount ?? 0);
  }
  const trend = net.map((_, i) => {
    const window = net.slice(Math.max(0, i - 6), i + 1);
    return Math.round(window.reduce((a, b) => a + b, 0) / window.length);
  });
  const key = JSON.stringify(net);
  if (!state.has(key)) {
    state.clear();
    state.set(key, {
      data: [xs, net, trend] as uPlot.AlignedData,
      options: {
        scales: { x: { time: true } },
        axes: [{}, { values: wonAxis, size: 60 }],
        series: [
          {},
          { label: t("순매출", "Net sales"), stroke: "#1f5eff", fill: "rgba(31,94,255,0.35)", paths: bars, points: { show: false } },
          { label: t("7일 평균", "7-day average"), stroke: "#dc6803", width: 2 },
        ],
      } satisfies Omit<uPlot.Options, "width" | "height">,
    });
  }
  const chart = state.get(key) as { data: uPlot.AlignedData; options: Omit<uPlot.Options, "width" | "height"> };
  return <Chart options={chart.options} data={chart.data} label={t("일별 매출 차트", "Sales per day chart")} />;
}

/** Horizontal bars in plain HTML: readable labels without a chart library. */
function BarList({ rows }: { rows: Array<{ label: string; value: number; text: string; href?: string }> }) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return (
    <ul style={{ listStyle: "none", padding: 0, margin: 0 }} className="stack">
      {rows.map((r) => (
        <li key={r.label}>
          <div className="row spread small">
            <span>{r.href ? <Link href={r.href}>{r.label}</Link> : r.label}</span>
            <span>{r.text}</span>
          </div>
          <div style={{ background: "#eef2ff", borderRadius: 6 }}>
            <div style={{ width: `${(r.value / max) * 100}%`, background: "#1f5eff", height: 10, borderRadius: 6 }} />
          </div>
        </li>
      ))}
    </ul>
  );
}

export function ReportsPage() {
  const t = useT();
  const [days, setDays] = useState(30);
  const sales = useQuery({ queryKey: ["reports", "sales", days], queryFn: () => api.reports.admin.sales.query({ days }) });
  const overview = useQuery({ queryKey: ["reports", "overview", days], queryFn: () => api.reports.admin.overview.query({ days }) });
  const inventory = useQuery({ queryKey: ["reports", "inventory"], queryFn: () => api.reports.admin.inventory.query() });
  const customers = useQuery({ queryKey: ["reports", "customers", days], queryFn: () => api.reports.admin.customers.query({ days }) });
  return (
    <div className="stack">
      <div className="row spread">
        <h1>{t("리포트", "Reports")}</h1>
        <label className="inline">
          {t("기간", "Period")}&nbsp;
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={7}>{t("최근 7일", "Last 7 days")}</option>
            <option value={30}>{t("최근 30일", "Last 30 days")}</option>
            <option value={90}>{t("최근 90일", "Last 90 days")}</option>
          </select>
        </label>
      </div>
      <section className="card">
        <h2>{t("일별 매출", "Sales per day")}</h2>
        <QueryView query={sales}>
          {(d) => (
            <>
              <div className="stats">
                <Stat label={t("결제 주문", "Paid orders")} value={num(d.totals.paidOrders)} testId="report-paid-orders" />
                <Stat label={t("총매출", "Gross")} value={won(d.totals.grossAmount)} />
                <Stat label={t("취소·환불", "Reversed")} value={won(d.totals.reversedAmount)} />
                <Stat label={t("순매출", "Net")} value={won(d.totals.netAmount)} testId="report-net" />
              </div>
              {d.days.length > 0 ? (
                <SalesChart days={d.days} from={d.period.from} to={d.period.to} />
              ) : (
                <p className="muted">{t("기간 내 매출이 없습니다.", "No sales in the period.")}</p>
              )}
            </>
          )}
        </QueryView>
      </section>
      <div className="row" style={{ alignItems: "flex-start" }}>
        <section className="card" style={{ flex: "1 1 380px" }}>
          <h2>{t("인기 상품 TOP 10", "Top sellers")}</h2>
          <QueryView query={overview} isEmpty={(d) => d.topProducts.length === 0} empty={t("판매 기록이 없습니다.", "No sales yet.")}>
            {(d) => (
              <BarList
                rows={d.topProducts.map((p) => ({
                  label: `${p.rank}. ${p.name}`,
                  value: p.soldQuantity,
                  text: t(`${num(p.soldQuantity)}개 · ${num(p.orderCount)}건`, `${num(p.soldQuantity)} units · ${num(p.orderCount)} orders`),
                  href: `/products/${p.productId}`,
                }))}
              />
            )}
          </QueryView>
        </section>
        <section className="card" style={{ flex: "1 1 380px" }}>
          <h2>{t("재고", "Inventory")}</h2>
          <QueryView query={inventory}>
            {(d) => (
              <div className="stack">
                <div className="stats">
                  <Stat label={t("재고 자산", "Stock value")} value={won(d.stockValue)} />
                  <Stat label={t("총 수량", "Units")} value={num(d.units)} />
                  <Stat label={t("재고 부족", "Low stock")} value={num(d.lowStock)} />
                  <Stat label={t("품절", "Out of stock")} value={num(d.outOfStock)} />
                </div>
                <BarList
                  rows={d.lowStockProducts.slice(0, 8).map((p) => ({
                    label: p.name,
                    value: p.lowStockThreshold - p.stock,
                    text: `${num(p.stock)} / ${num(p.lowStockThreshold)}`,
                    href: `/products/${p.productId}`,
                  }))}
                />
              </div>
            )}
          </QueryView>
        </section>
      </div>
      <section className="card">
        <h2>{t("고객 구매 행동", "Customer behaviour")}</h2>
        <QueryView query={customers}>
          {(d) => (
            <div className="row" style={{ alignItems: "flex-start" }}>
              <div className="stats" style={{ flex: "1 1 420px" }}>
                <Stat label={t("구매 고객", "Buyers")} value={num(d.buyers)} />
                <Stat label={t("신규 구매", "New buyers")} value={num(d.newBuyers)} />
                <Stat label={t("재구매", "Repeat buyers")} value={num(d.repeatBuyers)} />
                <Stat label={t("객단가", "Average order value")} value={won(d.averageOrderValue)} />
                <Stat label={t("1인당 주문", "Orders per buyer")} value={String(d.ordersPerBuyer)} />
              </div>
              <div style={{ flex: "1 1 320px" }}>
                <h3 className="small muted">{t("구매 횟수별 고객 수", "Buyers by number of orders")}</h3>
                <BarList rows={d.frequency.map((f) => ({ label: t(`${f.orders}회`, `${f.orders}×`), value: f.buyers, text: num(f.buyers) }))} />
              </div>
            </div>
          )}
        </QueryView>
      </section>
    </div>
  );
}
