/** Coupons (create, list with issued and remaining; each one's issue history in coupon.tsx), the outbox (pending and dead, retry), the notifications log. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "wouter";
import type { z } from "zod";
import { createCouponInput } from "../../../modules/coupons/schema.ts";
import { api } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { Field, numberField, useSchemaCheck } from "../shared/forms.tsx";
import { dateTime, num, useLang, useT, won } from "../shared/i18n.ts";
import { DataTable, PagedList } from "../shared/table.tsx";
import { formValues, QueryView, StatusBadge, Success } from "../shared/ui.tsx";

function localInput(date: Date): string {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

export function CouponsPage() {
  const t = useT();
  const lang = useLang();
  const queries = useQueryClient();
  const [includeEnded, setIncludeEnded] = useState(false);
  const list = useQuery({ queryKey: ["admin-coupons", includeEnded], queryFn: () => api.coupons.admin.list.query({ includeEnded }), refetchInterval: 5000 });
  const createForm = useSchemaCheck();
  const create = useMutation({
    mutationFn: (input: z.input<typeof createCouponInput>) => api.coupons.admin.create.mutate(input),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ["admin-coupons"] }),
  });
  const now = new Date();
  return (
    <div className="stack">
      <h1>{t("쿠폰", "Coupons")}</h1>
      <form
        className="card stack"
        aria-label={t("쿠폰 만들기", "New coupon")}
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          const v = formValues(event.currentTarget);
          const input = {
            name: v.name ?? "",
            discountType: v.discountType === "percent" ? "percent" : "fixed",
            discountValue: numberField(v.discountValue) as number,
            ...(v.maxDiscountAmount ? { maxDiscountAmount: numberField(v.maxDiscountAmount) as number } : {}),
            minOrderAmount: numberField(v.minOrderAmount) ?? 0,
            totalQuantity: numberField(v.totalQuantity) as number,
            // datetime-local is local time without an offset; an empty one stays an (invalid) empty string.
            issueStartsAt: v.issueStartsAt ? new Date(v.issueStartsAt) : "",
            issueEndsAt: v.issueEndsAt ? new Date(v.issueEndsAt) : "",
            validDays: numberField(v.validDays) ?? 30,
          } as const;
          if (createForm.passes(createCouponInput, input, event.currentTarget)) create.mutate(input);
        }}
      >
        <h2>{t("쿠폰 만들기", "New coupon")}</h2>
        <div className="row">
          <Field label={t("쿠폰명", "Name")} error={createForm.errors.name}>
            <input name="name" required maxLength={100} />
          </Field>
          <label>
            {t("할인 방식", "Type")}
            <select name="discountType" defaultValue="fixed">
              <option value="fixed">{t("정액 (원)", "Fixed (won)")}</option>
              <option value="percent">{t("정률 (%)", "Percent")}</option>
            </select>
          </label>
          <Field label={t("할인값", "Value")} error={createForm.errors.discountValue}>
            <input name="discountValue" type="number" min={1} required style={{ width: "8rem" }} />
          </Field>
          <Field label={t("최대 할인 (정률)", "Cap (percent)")} error={createForm.errors.maxDiscountAmount}>
            <input name="maxDiscountAmount" type="number" min={1} style={{ width: "8rem" }} />
          </Field>
          <Field label={t("최소 주문 금액", "Min order")} error={createForm.errors.minOrderAmount}>
            <input name="minOrderAmount" type="number" min={0} defaultValue={0} style={{ width: "8rem" }} />
          </Field>
          <Field label={t("수량", "Quantity")} error={createForm.errors.totalQuantity}>
            <input name="totalQuantity" type="number" min={1} required style={{ width: "7rem" }} />
          </Field>
          <Field label={t("발급 시작", "Opens")} error={createForm.errors.issueStartsAt}>
            <input name="issueStartsAt" type="datetime-local" required defaultValue={localInput(now)} />
          </Field>
          <Field label={t("발급 종료", "Closes")} error={createForm.errors.issueEndsAt}>
            <input name="issueEndsAt" type="datetime-local" required defaultValue={localInput(new Date(now.getTime() + 7 * 86_400_000))} />
          </Field>
          <Field label={t("유효기간 (일)", "Valid days")} error={createForm.errors.validDays}>
            <input name="validDays" type="number" min={1} max={3650} defaultValue={30} style={{ width: "6rem" }} />
          </Field>
        </div>
        <ErrorNotice error={create.error} />
        {create.isSuccess ? <Success>{t(`'${create.data.name}' 쿠폰을 만들었습니다.`, `Created '${create.data.name}'.`)}</Success> : null}
        <div>
          <button type="submit" disabled={create.isPending}>
            {t("만들기", "Create")}
          </button>
        </div>
      </form>
      <label className="inline">
        <input type="checkbox" checked={includeEnded} onChange={(e) => setIncludeEnded(e.target.checked)} /> {t("종료된 쿠폰 포함", "Include ended")}
      </label>
      <QueryView query={list} isEmpty={(d) => d.length === 0} empty={t("쿠폰이 없습니다.", "No coupons.")}>
        {(coupons) => (
          <DataTable
            rows={coupons}
            rowKey={(c) => c.couponId}
            rowTestId="admin-coupon-row"
            columns={[
              { header: "ID", cell: (c) => c.couponId },
              { header: t("쿠폰명", "Name"), cell: (c) => <Link href={`/coupons/${c.couponId}`}>{c.name}</Link> },
              { header: t("할인", "Discount"), cell: (c) => (c.discountType === "fixed" ? won(c.discountValue) : `${c.discountValue}%`) },
              { header: t("발급", "Issued"), num: true, cell: (c) => `${num(c.issuedQuantity)} / ${num(c.totalQuantity)}` },
              { header: t("남음", "Left"), num: true, cell: (c) => num(c.remainingQuantity) },
              { header: t("기간", "Window"), className: "small", cell: (c) => `${dateTime(c.issueStartsAt, lang)} – ${dateTime(c.issueEndsAt, lang)}` },
              { header: t("상태", "State"), cell: (c) => <StatusBadge status={c.state} /> },
            ]}
          />
        )}
      </QueryView>
    </div>
  );
}

export function OutboxPage() {
  const t = useT();
  const lang = useLang();
  const queries = useQueryClient();
  const [status, setStatus] = useState<"pending" | "dead" | "sent">("dead");
  const list = useInfiniteQuery({
    queryKey: ["outbox", status],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => api.outbox.admin.list.query({ status, ...(pageParam ? { cursor: pageParam } : {}), limit: 50 }),
    getNextPageParam: (last) => last.nextCursor,
  });
  const retry = useMutation({
    mutationFn: (eventId: string) => api.outbox.admin.retry.mutate({ eventId }),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ["outbox"] }),
  });
  return (
    <div className="stack">
      <h1>{t("아웃박스", "Outbox")}</h1>
      <div className="row" role="tablist">
        {(["dead", "pending", "sent"] as const).map((s) => (
          <button key={s} type="button" role="tab" aria-selected={status === s} className={status === s ? "" : "secondary"} onClick={() => setStatus(s)}>
            {{ dead: t("실패 (dead)", "Dead"), pending: t("대기", "Pending"), sent: t("전송됨", "Sent") }[s]}
          </button>
        ))}
      </div>
      <ErrorNotice error={retry.error} />
      <PagedList query={list} empty={t("이벤트가 없습니다.", "No events.")}>
        {(items) => (
          <DataTable
            rows={items}
            rowKey={(e) => e.id}
            columns={[
              {
                header: t("이벤트", "Event"),
                cell: (e) => (
                  <>
                    {e.type}
                    <div className="muted small">{dateTime(e.createdAt, lang)}</div>
                  </>
                ),
              },
              { header: t("대상", "Destination"), cell: (e) => e.destination },
              { header: t("집합체", "Aggregate"), cell: (e) => `${e.aggregateType} #${e.aggregateId}` },
              { header: t("시도", "Attempts"), num: true, cell: (e) => e.attempts },
              {
                header: t("다음 시도 / 오류", "Next try / error"),
                className: "small",
                cell: (e) => (
                  <>
                    {e.status === "sent" ? dateTime(e.sentAt, lang) : dateTime(e.nextAttemptAt, lang)}
                    {e.lastError ? <div className="muted">{e.lastError}</div> : null}
                  </>
                ),
              },
              {
                header: null,
                cell: (e) =>
                  e.status !== "sent" ? (
                    <button type="button" className="secondary" onClick={() => retry.mutate(e.id)}>
                      {t("재시도", "Retry")}
                    </button>
                  ) : null,
              },
            ]}
          />
        )}
      </PagedList>
    </div>
  );
}

export function NotificationsPage() {
  const t = useT();
  const lang = useLang();
  const [channel, setChannel] = useState<"" | "email" | "sms">("");
  const list = useInfiniteQuery({
    queryKey: ["notifications", channel],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => api.notifications.admin.list.query({ ...(channel ? { channel } : {}), ...(pageParam ? { cursor: pageParam } : {}), limit: 30 }),
    getNextPageParam: (last) => last.nextCursor,
  });
  return (
    <div className="stack">
      <h1>{t("알림 기록", "Notifications")}</h1>
      <label>
        {t("채널", "Channel")}
        <select value={channel} onChange={(e) => setChannel(e.target.value as "" | "email" | "sms")} style={{ maxWidth: 200 }}>
          <option value="">{t("전체", "All")}</option>
          <option value="email">{t("이메일", "Email")}</option>
          <option value="sms">SMS</option>
        </select>
      </label>
      <PagedList query={list} empty={t("보낸 알림이 없습니다.", "No notifications yet.")}>
        {(items) => (
          <DataTable
            rows={items}
            rowKey={(n) => n.id}
            columns={[
              { header: t("일시", "When"), className: "small", cell: (n) => dateTime(n.createdAt, lang) },
              { header: t("채널", "Channel"), cell: (n) => n.channel },
              { header: t("받는 사람", "Recipient"), cell: (n) => n.recipient },
              {
                header: t("내용", "Message"),
                cell: (n) => (
                  <>
                    <strong>{n.subject}</strong>
                    <div className="muted small">{n.template}</div>
                  </>
                ),
              },
              { header: t("상태", "Status"), cell: (n) => <StatusBadge status={n.status} /> },
            ]}
          />
        )}
      </PagedList>
    </div>
  );
}
