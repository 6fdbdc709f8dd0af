/** One coupon: its numbers and its issue history (who got it, when, used or not), paged on the server by slot. */
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "wouter";
import { api } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { dateTime, num, useLang, useT, won } from "../shared/i18n.ts";
import { DataTable } from "../shared/table.tsx";
import { Empty, Loading, LoadMore, QueryView, StatusBadge } from "../shared/ui.tsx";

const PAGE = 50;

export function CouponPage() {
  const t = useT();
  const lang = useLang();
  const couponId = Number(useParams<{ id: string }>().id);
  const [used, setUsed] = useState<"all" | "used" | "unused">("all");
  const coupon = useQuery({ queryKey: ["admin-coupon", couponId], queryFn: () => api.coupons.admin.get.query({ couponId }) });
  const issued = useInfiniteQuery({
    queryKey: ["admin-coupon-issued", couponId, used],
    initialPageParam: undefined as number | undefined,
    queryFn: ({ pageParam }) =>
      api.coupons.admin.issued.query({
        couponId,
        limit: PAGE,
        ...(used === "all" ? {} : { used: used === "used" }),
        ...(pageParam ? { after: pageParam } : {}),
      }),
    // A short page is the last one; otherwise the next starts after its last slot.
    getNextPageParam: (last) => (last.length < PAGE ? undefined : last.at(-1)?.slot),
  });
  const items = issued.data?.pages.flat() ?? [];
  return (
    <div className="stack">
      <Link href="/coupons">← {t("쿠폰 목록", "All coupons")}</Link>
      <QueryView query={coupon}>
        {(c) => (
          <>
            <div className="row spread">
              <h1>{c.name}</h1>
              <StatusBadge status={c.state} />
            </div>
            <dl className="stats" aria-label={t("쿠폰 현황", "Coupon figures")}>
              <div className="card stat">
                <dt className="label">{t("할인", "Discount")}</dt>
                <dd className="value">{c.discountType === "fixed" ? won(c.discountValue) : `${c.discountValue}%`}</dd>
              </div>
              <div className="card stat">
                <dt className="label">{t("발급", "Issued")}</dt>
                <dd className="value" data-testid="coupon-issued">
                  {num(c.issuedQuantity)} / {num(c.totalQuantity)}
                </dd>
              </div>
              <div className="card stat">
                <dt className="label">{t("남음", "Left")}</dt>
                <dd className="value">{num(c.remainingQuantity)}</dd>
              </div>
              <div className="card stat">
                <dt className="label">{t("사용됨", "Used")}</dt>
                <dd className="value" data-testid="coupon-used">
                  {num(c.usedQuantity)}
                </dd>
              </div>
              <div className="card stat">
                <dt className="label">{t("발급 기간", "Issue window")}</dt>
                <dd className="value small">
                  {dateTime(c.issueStartsAt, lang)} – {dateTime(c.issueEndsAt, lang)}
                </dd>
              </div>
            </dl>
          </>
        )}
      </QueryView>
      <div className="row spread">
        <h2>{t("발급 내역", "Issue history")}</h2>
        <label className="inline">
          {t("사용 여부", "Used")}
          <select value={used} onChange={(event) => setUsed(event.target.value as typeof used)}>
            <option value="all">{t("전체", "All")}</option>
            <option value="used">{t("사용함", "Used")}</option>
            <option value="unused">{t("사용 안 함", "Not used")}</option>
          </select>
        </label>
      </div>
      {issued.isPending ? (
        <Loading />
      ) : issued.isError ? (
        <ErrorNotice error={issued.error} />
      ) : items.length === 0 ? (
        <Empty>{t("발급 내역이 없습니다.", "Nobody has this coupon yet.")}</Empty>
      ) : (
        <DataTable
          rows={items}
          rowKey={(e) => e.userCouponId}
          rowTestId="coupon-issued-row"
          columns={[
            { header: t("순번", "Slot"), num: true, cell: (e) => num(e.slot) },
            { header: t("고객", "Customer"), cell: (e) => <Link href={`/customers/${e.userId}`}>#{e.userId}</Link> },
            { header: t("발급 시각", "Issued at"), className: "small", cell: (e) => dateTime(e.issuedAt, lang) },
            { header: t("상태", "Status"), cell: (e) => <StatusBadge status={e.status} /> },
            { header: t("사용 시각", "Used at"), className: "small", cell: (e) => (e.usedAt ? dateTime(e.usedAt, lang) : "—") },
            { header: t("주문", "Order"), cell: (e) => (e.orderId ? <Link href={`/orders/${e.orderId}`}>#{e.orderId}</Link> : "—") },
            { header: t("만료", "Expires"), className: "small", cell: (e) => dateTime(e.expiresAt, lang) },
          ]}
        />
      )}
      <LoadMore pages={issued} />
    </div>
  );
}
