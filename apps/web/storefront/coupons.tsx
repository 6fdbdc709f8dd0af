/** First-come coupons (remaining quantity refreshes every few seconds), claiming, and my coupons by status. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "wouter";
import { api } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { dateOnly, dateTime, num, useLang, useT, won } from "../shared/i18n.ts";
import { useMe } from "../shared/session.ts";
import { QueryView, StatusBadge, Success } from "../shared/ui.tsx";

type Status = "available" | "used" | "expired";

export function CouponsPage() {
  const t = useT();
  const lang = useLang();
  const me = useMe();
  const queries = useQueryClient();
  const list = useQuery({ queryKey: ["coupons"], queryFn: () => api.coupons.list.query(), refetchInterval: 5000 });
  const [claimed, setClaimed] = useState<{ couponId: number; error: unknown; ok: boolean } | null>(null);
  const claim = useMutation({
    mutationFn: (couponId: number) => api.coupons.issue.mutate({ couponId }),
    onSettled: (_data, error, couponId) => {
      setClaimed({ couponId, error, ok: !error });
      void queries.invalidateQueries({ queryKey: ["coupons"] });
    },
  });
  const [status, setStatus] = useState<Status>("available");
  const mine = useQuery({ queryKey: ["coupons", "mine", status], queryFn: () => api.coupons.mine.query({ status }), enabled: !!me.data });
  const stateName = (state: string) =>
    ({ open: t("발급 중", "Open"), upcoming: t("예정", "Upcoming"), sold_out: t("소진", "Sold out"), ended: t("종료", "Ended") })[state] ?? state;
  return (
    <div className="stack">
      <h1>{t("선착순 쿠폰", "First-come coupons")}</h1>
      <QueryView query={list} isEmpty={(d) => d.length === 0} empty={t("지금 발급 중인 쿠폰이 없습니다.", "No coupons right now.")}>
        {(coupons) => (
          <div className="grid">
            {coupons.map((coupon) => (
              <article key={coupon.couponId} className="card stack" data-testid="coupon-card">
                <div className="row spread">
                  <strong>{coupon.name}</strong>
                  <span className={`badge ${coupon.state === "open" ? "ok" : coupon.state === "upcoming" ? "warn" : "bad"}`}>{stateName(coupon.state)}</span>
                </div>
                <div className="price">
                  {coupon.discountType === "fixed"
                    ? t(`${won(coupon.discountValue)} 할인`, `${won(coupon.discountValue)} off`)
                    : t(`${coupon.discountValue}% 할인`, `${coupon.discountValue}% off`)}
                </div>
                <div className="muted small">
                  {coupon.minOrderAmount > 0 ? t(`${won(coupon.minOrderAmount)} 이상 주문 시 · `, `orders from ${won(coupon.minOrderAmount)} · `) : ""}
                  {coupon.maxDiscountAmount ? t(`최대 ${won(coupon.maxDiscountAmount)} · `, `up to ${won(coupon.maxDiscountAmount)} · `) : ""}
                  {t(`발급 후 ${coupon.validDays}일`, `valid ${coupon.validDays} days`)}
                </div>
                <div data-testid="coupon-remaining">
                  {t(
                    `남은 수량 ${num(coupon.remainingQuantity)} / ${num(coupon.totalQuantity)}`,
                    `${num(coupon.remainingQuantity)} of ${num(coupon.totalQuantity)} left`,
                  )}
                </div>
                <progress max={coupon.totalQuantity} value={coupon.issuedQuantity} aria-label={t("발급률", "Issued")} />
                {coupon.state === "upcoming" ? (
                  <span className="small">{t(`시작 ${dateTime(coupon.issueStartsAt, lang)}`, `Opens ${dateTime(coupon.issueStartsAt, lang)}`)}</span>
                ) : null}
                {me.data ? (
                  <button type="button" onClick={() => claim.mutate(coupon.couponId)} disabled={claim.isPending}>
                    {t("쿠폰 받기", "Claim")}
                  </button>
                ) : (
                  <Link href="/login">{t("로그인하고 받기", "Log in to claim")}</Link>
                )}
                {claimed?.couponId === coupon.couponId ? (
                  claimed.ok ? (
                    <Success>{t("쿠폰을 받았습니다!", "Coupon claimed!")}</Success>
                  ) : (
                    <ErrorNotice error={claimed.error} />
                  )
                ) : null}
              </article>
            ))}
          </div>
        )}
      </QueryView>
      {me.data ? (
        <section>
          <h2>{t("내 쿠폰", "My coupons")}</h2>
          <div className="row" role="tablist">
            {(["available", "used", "expired"] as const).map((s) => (
              <button key={s} type="button" role="tab" aria-selected={status === s} className={status === s ? "" : "secondary"} onClick={() => setStatus(s)}>
                {{ available: t("사용 가능", "Available"), used: t("사용함", "Used"), expired: t("만료", "Expired") }[s]}
              </button>
            ))}
          </div>
          <QueryView query={mine} isEmpty={(d) => d.length === 0} empty={t("쿠폰이 없습니다.", "No coupons.")}>
            {(coupons) => (
              <ul className="stack" style={{ listStyle: "none", padding: 0 }}>
                {coupons.map((c) => (
                  <li key={c.userCouponId} className="card row spread" data-testid="my-coupon">
                    <span>
                      <strong>{c.couponName}</strong> <StatusBadge status={c.status} />
                    </span>
                    <span className="muted small">
                      {t(`${dateOnly(c.expiresAt, lang)}까지`, `until ${dateOnly(c.expiresAt, lang)}`)}
                      {c.orderId ? (
                        <>
                          {" · "}
                          <Link href={`/orders/${c.orderId}`}>#{c.orderId}</Link>
                        </>
                      ) : null}
                    </span>
                  </li>
                ))}
              </ul>
            )}
          </QueryView>
        </section>
      ) : null}
    </div>
  );
}
