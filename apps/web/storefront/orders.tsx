/** Order history and detail: status, payment, the shipment timeline, cancel before shipping, change the address before booking, re-order. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "wouter";
import { api, domainCodeOf } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { dateTime, statusName, useLang, useT, won } from "../shared/i18n.ts";
import { OrderLinesTable, TotalRow } from "../shared/orders.tsx";
import { DataTable, PagedList } from "../shared/table.tsx";
import { formValues, Loading, QueryView, StatusBadge, Success } from "../shared/ui.tsx";

export function OrdersPage() {
  const t = useT();
  const lang = useLang();
  const orders = useInfiniteQuery({
    queryKey: ["orders"],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => api.orders.mine.query(pageParam ? { cursor: pageParam } : {}),
    getNextPageParam: (last) => last.nextCursor,
  });
  return (
    <div className="stack">
      <h1>{t("주문내역", "Orders")}</h1>
      <PagedList query={orders} empty={t("아직 주문이 없습니다.", "No orders yet.")}>
        {(items) => (
          <DataTable
            rows={items}
            rowKey={(o) => o.orderId}
            rowTestId="order-row"
            columns={[
              { header: t("주문번호", "Order"), cell: (o) => <Link href={`/orders/${o.orderId}`}>#{o.orderId}</Link> },
              { header: t("주문일시", "Placed"), cell: (o) => dateTime(o.createdAt, lang) },
              { header: t("상태", "Status"), cell: (o) => <StatusBadge status={o.status} /> },
              { header: t("결제 금액", "Paid"), num: true, cell: (o) => won(o.finalAmount) },
            ]}
          />
        )}
      </PagedList>
    </div>
  );
}

export function OrderPage() {
  const t = useT();
  const lang = useLang();
  const orderId = Number(useParams<{ id: string }>().id);
  const queries = useQueryClient();
  const order = useQuery({ queryKey: ["order", orderId], queryFn: () => api.orders.get.query({ orderId }) });
  const tracking = useQuery({
    queryKey: ["tracking", orderId],
    queryFn: async () => {
      try {
        return await api.shipping.track.query({ orderId });
      } catch (error) {
        if (domainCodeOf(error) === "SHIPMENT_NOT_FOUND") return null;
        throw error;
      }
    },
    enabled: !!order.data && order.data.status !== "pending_payment",
  });
  const cancel = useMutation({
    mutationFn: () => api.orders.cancel.mutate({ orderId }),
    onSuccess: () => void queries.invalidateQueries(),
  });
  const book = useQuery({ queryKey: ["addresses", "order"], queryFn: () => api.addresses.list.query({ limit: 20 }) });
  const changeAddress = useMutation({
    mutationFn: (choice: string) =>
      choice.startsWith("#")
        ? api.orders.changeAddress.mutate({ orderId, addressId: Number(choice.slice(1)) })
        : api.orders.changeAddress.mutate({ orderId, shippingAddress: choice }),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ["order", orderId] }),
  });
  const reorder = useMutation({
    mutationFn: () => api.orders.reorder.mutate({ orderId }),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ["cart"] }),
  });
  return (
    <QueryView query={order}>
      {(o) => (
        <div className="stack">
          <p>
            <Link href="/orders">← {t("주문내역", "Orders")}</Link>
          </p>
          <h1>
            {t("주문", "Order")} #{o.orderId} <StatusBadge status={o.status} />
          </h1>
          <div className="muted">{dateTime(o.createdAt, lang)}</div>
          <OrderLinesTable
            lines={o.lines}
            totals={
              <>
                <TotalRow label={t("상품 금액", "Subtotal")}>{won(o.subtotalAmount)}</TotalRow>
                <TotalRow label={t("쿠폰 할인", "Discount")}>-{won(o.discountAmount)}</TotalRow>
                <TotalRow label={t("결제 금액", "Total")} price testId="order-final">
                  {won(o.finalAmount)}
                </TotalRow>
              </>
            }
          />
          <section className="card">
            <h2>{t("결제", "Payment")}</h2>
            {o.payments.length > 0 ? (
              <ul data-testid="order-payments">
                {o.payments.map((p) => (
                  <li key={p.method}>
                    {p.method === "card" ? t("카드 결제", "Card") : t("지갑 결제", "Wallet")} · {won(p.amount)} · <StatusBadge status={p.status} /> ·{" "}
                    {dateTime(p.createdAt, lang)}
                  </li>
                ))}
              </ul>
            ) : (
              <p className="muted">{t("결제 전입니다.", "Not paid.")}</p>
            )}
            {o.cancelReason ? <p>{t(`취소 사유: ${o.cancelReason}`, `Cancelled: ${o.cancelReason}`)}</p> : null}
            {o.refunds.length > 0 ? (
              <>
                <h3>{t("환불", "Refunds")}</h3>
                <ul data-testid="order-refunds">
                  {o.refunds.map((r) => (
                    <li key={String(r.createdAt)}>
                      {r.kind === "return" ? t("반품 환불", "Return") : t("취소 환불", "Cancellation")} · {t("지갑", "wallet")} {won(r.walletAmount)} ·{" "}
                      {t("카드", "card")} {won(r.cardAmount)} · {r.reason} · {dateTime(r.createdAt, lang)}
                    </li>
                  ))}
                </ul>
              </>
            ) : null}
          </section>
          <section className="card" aria-live="polite">
            <h2>{t("배송", "Shipment")}</h2>
            {o.shippingAddress ? <p className="muted">{o.shippingAddress}</p> : null}
            {tracking.isPending && tracking.fetchStatus !== "idle" ? (
              <Loading />
            ) : tracking.isError ? (
              <ErrorNotice error={tracking.error} />
            ) : !tracking.data ? (
              <p className="muted">{t("배송 정보가 아직 없습니다.", "No shipment yet.")}</p>
            ) : (
              <div className="stack" data-testid="shipment">
                <p>
                  <StatusBadge status={tracking.data.status} /> {tracking.data.carrier ?? ""}{" "}
                  {tracking.data.trackingNumber ? (
                    <span>
                      {t("송장번호", "Tracking no.")} <strong data-testid="tracking-number">{tracking.data.trackingNumber}</strong>
                    </span>
                  ) : null}
                </p>
                <ol className="timeline">
                  {tracking.data.timeline.map((entry) => (
                    <li key={`${entry.status}-${String(entry.occurredAt)}`}>
                      <strong>{statusName(entry.status, lang)}</strong> <span className="muted small">{dateTime(entry.occurredAt, lang)}</span>
                      <div className="small">{entry.description}</div>
                    </li>
                  ))}
                </ol>
              </div>
            )}
          </section>
          {o.status === "pending_payment" || o.status === "paid" ? (
            <form
              className="card stack"
              aria-label={t("배송지 변경", "Change the shipping address")}
              onSubmit={(event) => {
                event.preventDefault();
                const v = formValues(event.currentTarget);
                const choice = v.choice && v.choice !== "new" ? v.choice : (v.shippingAddress ?? "").trim();
                if (choice) changeAddress.mutate(choice);
              }}
            >
              <h2>{t("배송지 변경", "Change the shipping address")}</h2>
              <p className="muted small">{t("택배 접수 전까지만 바꿀 수 있습니다.", "Possible until the parcel is booked with the carrier.")}</p>
              {book.data && book.data.items.length > 0 ? (
                <label>
                  {t("저장된 배송지", "Saved address")}
                  <select name="choice" defaultValue="new">
                    {book.data.items.map((a) => (
                      <option key={a.addressId} value={`#${a.addressId}`}>
                        {a.label} — {a.address}
                      </option>
                    ))}
                    <option value="new">{t("아래에 입력", "Typed below")}</option>
                  </select>
                </label>
              ) : null}
              <label>
                {t("새 배송지", "New address")}
                <textarea name="shippingAddress" minLength={5} maxLength={500} />
              </label>
              <ErrorNotice error={changeAddress.error} />
              {changeAddress.isSuccess ? <Success>{t("배송지를 바꿨습니다.", "Address changed.")}</Success> : null}
              <div>
                <button type="submit" disabled={changeAddress.isPending}>
                  {t("변경", "Change")}
                </button>
              </div>
            </form>
          ) : null}
          <div className="row">
            <button type="button" className="secondary" disabled={reorder.isPending} onClick={() => reorder.mutate()}>
              {t("다시 담기", "Order again (to cart)")}
            </button>
            {reorder.data ? (
              <Success>
                {t(`장바구니에 ${reorder.data.added.length}개 상품을 담았습니다.`, `${reorder.data.added.length} products added to the cart.`)}{" "}
                {reorder.data.skipped.length > 0
                  ? t(
                      `제외·축소: ${reorder.data.skipped.map((s) => s.productName).join(", ")}`,
                      `Left out or cut: ${reorder.data.skipped.map((s) => `${s.productName} (${s.reason})`).join(", ")}`,
                    )
                  : null}{" "}
                <Link href="/cart">{t("장바구니로", "Go to cart")}</Link>
              </Success>
            ) : null}
          </div>
          <ErrorNotice error={reorder.error} />
          {["pending_payment", "paid", "preparing"].includes(o.status) ? (
            <div>
              <button
                type="button"
                className="danger"
                disabled={cancel.isPending}
                onClick={() => {
                  if (
                    confirm(
                      t(
                        "주문을 취소할까요? 결제 금액은 결제한 수단(지갑, 카드)으로 돌아갑니다.",
                        "Cancel this order? The amount goes back to how you paid (wallet, card).",
                      ),
                    )
                  )
                    cancel.mutate();
                }}
              >
                {t("주문 취소", "Cancel order")}
              </button>
            </div>
          ) : null}
          {cancel.isSuccess ? (
            <Success>{t(`취소했습니다. ${won(cancel.data.refundedAmount)} 환불`, `Cancelled. ${won(cancel.data.refundedAmount)} refunded`)}</Success>
          ) : null}
          <ErrorNotice error={cancel.error} />
        </div>
      )}
    </QueryView>
  );
}
