/** Orders: search by status, customer and dates (paged on the server); detail with lines, payment, sync, shipment; cancel, refund, tracking number. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "wouter";
import { api, domainCodeOf } from "../shared/api.ts";
import { SubmitRow } from "../shared/forms.tsx";
import { dateTime, statusName, useLang, useT, won } from "../shared/i18n.ts";
import { OrderLinesTable, TotalRow } from "../shared/orders.tsx";
import { DataTable } from "../shared/table.tsx";
import { formValues, QueryView, StatusBadge, Success } from "../shared/ui.tsx";

const STATUSES = ["pending_payment", "paid", "preparing", "shipped", "delivered", "cancelled", "refunded", "expired"] as const;
type OrderStatus = (typeof STATUSES)[number];
type Filters = { status?: OrderStatus; userId?: number; from?: string; to?: string };

export function OrdersPage() {
  const t = useT();
  const lang = useLang();
  const initialUser = Number(new URLSearchParams(location.search).get("userId")) || undefined;
  const [filters, setFilters] = useState<Filters>(initialUser ? { userId: initialUser } : {});
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const orders = useQuery({
    queryKey: ["admin-orders", filters, cursor],
    queryFn: () =>
      api.orders.admin.list.query({
        ...filters,
        ...(filters.from ? { from: new Date(filters.from) } : {}),
        ...(filters.to ? { to: new Date(new Date(filters.to).getTime() + 86_400_000) } : {}),
        ...(cursor ? { cursor } : {}),
        limit: 25,
      }),
    placeholderData: (previous) => previous,
  });
  return (
    <div className="stack">
      <h1>{t("주문", "Orders")}</h1>
      <form
        className="filters"
        aria-label={t("검색", "Search")}
        onSubmit={(event) => {
          event.preventDefault();
          const v = formValues(event.currentTarget);
          setFilters({
            ...(v.status ? { status: v.status as OrderStatus } : {}),
            ...(Number(v.userId) > 0 ? { userId: Number(v.userId) } : {}),
            ...(v.from ? { from: v.from } : {}),
            ...(v.to ? { to: v.to } : {}),
          });
          setCursors([null]);
        }}
      >
        <label>
          {t("상태", "Status")}
          <select name="status" defaultValue={filters.status ?? ""}>
            <option value="">{t("전체", "All")}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusName(s, lang)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("고객 ID", "Customer id")}
          <input name="userId" type="number" min={1} defaultValue={filters.userId ?? ""} style={{ width: "7rem" }} />
        </label>
        <label>
          {t("시작일", "From")}
          <input name="from" type="date" defaultValue={filters.from ?? ""} />
        </label>
        <label>
          {t("종료일", "To")}
          <input name="to" type="date" defaultValue={filters.to ?? ""} />
        </label>
        <button type="submit">{t("검색", "Search")}</button>
      </form>
      <QueryView query={orders} isEmpty={(d) => d.items.length === 0} empty={t("조건에 맞는 주문이 없습니다.", "No orders match.")}>
        {(d) => (
          <DataTable
            rows={d.items}
            rowKey={(o) => o.orderId}
            rowTestId="admin-order-row"
            columns={[
              { header: t("주문", "Order"), cell: (o) => <Link href={`/orders/${o.orderId}`}>#{o.orderId}</Link> },
              { header: t("고객", "Customer"), cell: (o) => <Link href={`/customers/${o.userId}`}>#{o.userId}</Link> },
              { header: t("주문일시", "Placed"), cell: (o) => dateTime(o.createdAt, lang) },
              { header: t("상태", "Status"), cell: (o) => <StatusBadge status={o.status} /> },
              { header: t("할인", "Discount"), num: true, cell: (o) => won(o.discountAmount) },
              { header: t("결제 금액", "Total"), num: true, cell: (o) => won(o.finalAmount) },
            ]}
          />
        )}
      </QueryView>
      <div className="row">
        <button type="button" className="secondary" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← {t("이전", "Previous")}
        </button>
        <span className="muted">{t(`${cursors.length} 페이지`, `Page ${cursors.length}`)}</span>
        <button
          type="button"
          className="secondary"
          disabled={!orders.data?.nextCursor}
          onClick={() => setCursors([...cursors, orders.data?.nextCursor ?? null])}
        >
          {t("다음", "Next")} →
        </button>
      </div>
    </div>
  );
}

export function OrderPage() {
  const t = useT();
  const lang = useLang();
  const orderId = Number(useParams<{ id: string }>().id);
  const queries = useQueryClient();
  const [done, setDone] = useState<string | null>(null);
  const order = useQuery({ queryKey: ["admin-order", orderId], queryFn: () => api.orders.admin.get.query({ orderId }) });
  const shipment = useQuery({
    queryKey: ["admin-order", orderId, "shipment"],
    queryFn: async () => {
      try {
        return await api.shipping.admin.get.query({ orderId });
      } catch (error) {
        if (domainCodeOf(error) === "SHIPMENT_NOT_FOUND") return null;
        throw error;
      }
    },
  });
  const refresh = (message: string) => {
    setDone(message);
    void queries.invalidateQueries({ queryKey: ["admin-order", orderId] });
    void queries.invalidateQueries({ queryKey: ["admin-orders"] });
  };
  const cancel = useMutation({
    mutationFn: (reason: string) => api.orders.admin.cancel.mutate({ orderId, reason }),
    onSuccess: (r) => refresh(t(`취소했습니다. ${won(r.refundedAmount)} 환불`, `Cancelled; ${won(r.refundedAmount)} refunded`)),
  });
  const refund = useMutation({
    mutationFn: (v: { reason: string; restock: boolean }) => api.orders.admin.refund.mutate({ orderId, ...v }),
    onSuccess: (r) => refresh(t(`환불했습니다. ${won(r.refundedAmount)}`, `Refunded ${won(r.refundedAmount)}`)),
  });
  const changeAddress = useMutation({
    mutationFn: (shippingAddress: string) => api.orders.admin.changeAddress.mutate({ orderId, shippingAddress }),
    onSuccess: () => refresh(t("배송지를 바꿨습니다.", "Shipping address changed.")),
  });
  const editLines = useMutation({
    mutationFn: (v: { items: Array<{ productId: number; quantity: number }>; reason: string }) => api.orders.admin.editLines.mutate({ orderId, ...v }),
    onSuccess: (r) => refresh(t(`주문 상품을 바꿨습니다. 결제 금액 ${won(r.finalAmount)}`, `Lines changed; total now ${won(r.finalAmount)}`)),
  });
  const tracking = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api.shipping.admin.setTrackingNumber.mutate({ orderId, carrier: v.carrier ?? "", trackingNumber: v.trackingNumber ?? "" }),
    onSuccess: () => refresh(t("송장번호를 저장했습니다.", "Tracking number saved.")),
  });
  return (
    <QueryView query={order}>
      {(o) => (
        <div className="stack">
          <p>
            <Link href="/orders">← {t("주문 목록", "Orders")}</Link>
          </p>
          <h1>
            {t("주문", "Order")} #{o.orderId} <StatusBadge status={o.status} />
          </h1>
          <p className="muted">
            <Link href={`/customers/${o.userId}`}>{t(`고객 #${o.userId}`, `Customer #${o.userId}`)}</Link> · {dateTime(o.createdAt, lang)}
            {o.shippingAddress ? ` · ${o.shippingAddress}` : ""}
          </p>
          {done ? <Success>{done}</Success> : null}
          <OrderLinesTable
            lines={o.lines}
            productHref={(productId) => `/products/${productId}`}
            totals={
              <>
                <TotalRow label={t("할인", "Discount")}>-{won(o.discountAmount)}</TotalRow>
                <TotalRow label={t("결제 금액", "Total")} price>
                  {won(o.finalAmount)}
                </TotalRow>
              </>
            }
          />
          <div className="row" style={{ alignItems: "flex-start" }}>
            <section className="card" style={{ flex: "1 1 300px" }}>
              <h2>{t("결제", "Payment")}</h2>
              {o.payments.length > 0 ? (
                <DataTable
                  bare
                  testId="order-payments"
                  rows={o.payments}
                  rowKey={(p) => p.method}
                  columns={[
                    { header: t("수단", "Method"), cell: (p) => (p.method === "card" ? t("카드", "Card") : t("지갑", "Wallet")) },
                    { header: t("금액", "Amount"), num: true, cell: (p) => won(p.amount) },
                    { header: t("상태", "Status"), cell: (p) => <StatusBadge status={p.status} /> },
                    { header: t("시각", "At"), className: "muted small", cell: (p) => dateTime(p.createdAt, lang) },
                  ]}
                />
              ) : (
                <p className="muted">{t("결제 전", "Not paid")}</p>
              )}
              {o.cancelReason ? <p>{t(`취소 사유: ${o.cancelReason}`, `Cancelled: ${o.cancelReason}`)}</p> : null}
            </section>
            <section className="card" style={{ flex: "1 1 300px" }}>
              <h2>{t("환불", "Refunds")}</h2>
              {o.refunds.length > 0 ? (
                <DataTable
                  bare
                  testId="order-refunds"
                  rows={o.refunds}
                  rowKey={(r) => String(r.createdAt)}
                  columns={[
                    { header: t("종류", "Kind"), cell: (r) => (r.kind === "return" ? t("반품", "Return") : t("취소", "Cancellation")) },
                    { header: t("지갑", "Wallet"), num: true, cell: (r) => won(r.walletAmount) },
                    { header: t("카드", "Card"), num: true, cell: (r) => won(r.cardAmount) },
                    { header: t("사유", "Reason"), cell: (r) => r.reason },
                    {
                      header: t("요청자", "By"),
                      cell: (r) => (r.actorId === null ? t("시스템", "System") : r.actorId === o.userId ? t("고객", "Customer") : `#${r.actorId}`),
                    },
                    { header: t("시각", "At"), className: "muted small", cell: (r) => dateTime(r.createdAt, lang) },
                  ]}
                />
              ) : (
                <p className="muted">{t("환불 없음", "No refunds")}</p>
              )}
            </section>
            <section className="card" style={{ flex: "1 1 300px" }}>
              <h2>{t("데이터 플랫폼 동기화", "Data platform sync")}</h2>
              {o.sync ? (
                <p>
                  <StatusBadge status={o.sync.status} /> {t(`시도 ${o.sync.attempts}회`, `${o.sync.attempts} attempts`)}
                  {o.sync.syncedAt ? <span className="muted small"> · {dateTime(o.sync.syncedAt, lang)}</span> : null}
                  {o.sync.lastError ? <span className="small"> · {o.sync.lastError}</span> : null}
                </p>
              ) : (
                <p className="muted">{t("결제 후 동기화됩니다", "Synced after payment")}</p>
              )}
            </section>
            <section className="card" style={{ flex: "1 1 300px" }}>
              <h2>{t("배송", "Shipment")}</h2>
              {shipment.data ? (
                <div className="stack">
                  <p>
                    <StatusBadge status={shipment.data.status} /> {shipment.data.carrier ?? ""} <strong>{shipment.data.trackingNumber ?? ""}</strong>
                  </p>
                  <ol className="timeline small">
                    {shipment.data.timeline.map((e) => (
                      <li key={`${e.status}-${String(e.occurredAt)}`}>
                        {statusName(e.status, lang)} · {dateTime(e.occurredAt, lang)}
                        <div className="muted">{e.description}</div>
                      </li>
                    ))}
                  </ol>
                </div>
              ) : (
                <p className="muted">{t("배송 정보 없음", "No shipment")}</p>
              )}
            </section>
          </div>
          {o.status === "pending_payment" || o.status === "paid" ? (
            <div className="row" style={{ alignItems: "flex-start" }}>
              <form
                className="card stack"
                style={{ flex: "1 1 300px" }}
                aria-label={t("배송지 변경", "Change shipping address")}
                onSubmit={(event) => {
                  event.preventDefault();
                  changeAddress.mutate((formValues(event.currentTarget).shippingAddress ?? "").trim());
                }}
              >
                <h2>{t("배송지 변경", "Change shipping address")}</h2>
                <p className="muted small">{t("택배 접수 전까지만 바꿀 수 있습니다.", "Possible until the parcel is booked with the carrier.")}</p>
                <label>
                  {t("배송지", "Address")}
                  <textarea name="shippingAddress" required minLength={5} maxLength={500} defaultValue={o.shippingAddress ?? ""} />
                </label>
                <SubmitRow error={changeAddress.error} disabled={changeAddress.isPending}>
                  {t("저장", "Save")}
                </SubmitRow>
              </form>
              {o.status === "pending_payment" ? (
                <form
                  className="card stack"
                  style={{ flex: "1 1 300px" }}
                  aria-label={t("주문 상품 수정", "Edit lines")}
                  onSubmit={(event) => {
                    event.preventDefault();
                    const v = formValues(event.currentTarget);
                    const items = o.lines.map((l) => ({ productId: l.productId, quantity: Number(v[`qty-${l.productId}`] ?? l.quantity) }));
                    if (v.newProductId && Number(v.newQuantity) > 0) items.push({ productId: Number(v.newProductId), quantity: Number(v.newQuantity) });
                    editLines.mutate({ items: items.filter((i) => i.quantity > 0), reason: (v.reason ?? "").trim() });
                  }}
                >
                  <h2>{t("주문 상품 수정 (결제 전)", "Edit lines (unpaid)")}</h2>
                  <p className="muted small">
                    {t(
                      "현재 가격으로 다시 계산하고 재고·쿠폰을 다시 확인합니다. 0개는 뺍니다.",
                      "Re-priced at today's prices; stock and coupon checked again. 0 removes a line.",
                    )}
                  </p>
                  {o.lines.map((l) => (
                    <label key={l.productId}>
                      {l.productName}
                      <input name={`qty-${l.productId}`} type="number" min={0} max={99} defaultValue={l.quantity} />
                    </label>
                  ))}
                  <label>
                    {t("추가할 상품 ID", "Add product id")}
                    <input name="newProductId" type="number" min={1} />
                  </label>
                  <label>
                    {t("수량", "Quantity")}
                    <input name="newQuantity" type="number" min={0} max={99} />
                  </label>
                  <label>
                    {t("사유", "Reason")}
                    <input name="reason" required maxLength={500} />
                  </label>
                  <SubmitRow error={editLines.error} disabled={editLines.isPending}>
                    {t("저장", "Save")}
                  </SubmitRow>
                </form>
              ) : null}
            </div>
          ) : null}
          <div className="row" style={{ alignItems: "flex-start" }}>
            <form
              className="card stack"
              style={{ flex: "1 1 300px" }}
              aria-label={t("송장번호", "Tracking number")}
              onSubmit={(event) => {
                event.preventDefault();
                tracking.mutate(formValues(event.currentTarget));
              }}
            >
              <h2>{t("송장번호 입력", "Set tracking number")}</h2>
              <label>
                {t("택배사", "Carrier")}
                <input name="carrier" required defaultValue={shipment.data?.carrier ?? "CJ대한통운"} />
              </label>
              <label>
                {t("송장번호", "Tracking number")}
                <input name="trackingNumber" required pattern="[A-Za-z0-9-]{4,64}" defaultValue={shipment.data?.trackingNumber ?? ""} />
              </label>
              <SubmitRow error={tracking.error} disabled={tracking.isPending}>
                {t("저장", "Save")}
              </SubmitRow>
            </form>
            <form
              className="card stack"
              style={{ flex: "1 1 300px" }}
              aria-label={t("취소·환불", "Cancel or refund")}
              onSubmit={(event) => {
                event.preventDefault();
                const v = formValues(event.currentTarget);
                const reason = (v.reason ?? "").trim();
                if (o.status === "delivered") refund.mutate({ reason, restock: v.restock === "on" });
                else cancel.mutate(reason);
              }}
            >
              <h2>{o.status === "delivered" ? t("환불", "Refund") : t("주문 취소 (삭제)", "Cancel order (delete)")}</h2>
              {o.status === "delivered" ? null : (
                <p className="muted small">
                  {t(
                    "주문은 지워지지 않습니다: 장부에 필요하므로 '삭제'는 사유와 함께 취소하는 것입니다.",
                    "Orders are never erased: the books need them, so 'delete' means cancel with a reason.",
                  )}
                </p>
              )}
              <label>
                {t("사유", "Reason")}
                <input name="reason" required maxLength={500} />
              </label>
              {o.status === "delivered" ? (
                <label className="inline">
                  <input type="checkbox" name="restock" /> {t("반품 재입고", "Put the goods back in stock")}
                </label>
              ) : null}
              <SubmitRow
                error={cancel.error ?? refund.error}
                disabled={!["pending_payment", "paid", "preparing", "delivered"].includes(o.status)}
                className="danger"
              >
                {o.status === "delivered" ? t("환불", "Refund") : t("취소", "Cancel")}
              </SubmitRow>
            </form>
          </div>
        </div>
      )}
    </QueryView>
  );
}
