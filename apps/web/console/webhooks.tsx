/** Webhooks for integrators: register endpoints (the secret is shown once), pause or resume them, read each one's delivery log. */
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { dateTime, useLang, useT } from "../shared/i18n.ts";
import { DataTable, PagedList } from "../shared/table.tsx";
import { StatusBadge, Success } from "../shared/ui.tsx";

const eventTypes = ["order.paid", "order.cancelled", "order.refunded", "shipment.shipped", "shipment.delivered"] as const;
type EventType = (typeof eventTypes)[number];

function Deliveries({ endpointId }: { endpointId: number }) {
  const t = useT();
  const lang = useLang();
  const list = useInfiniteQuery({
    queryKey: ["webhook-deliveries", endpointId],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => api.webhooks.admin.deliveries.query({ endpointId, ...(pageParam ? { cursor: pageParam } : {}), limit: 30 }),
    getNextPageParam: (last) => last.nextCursor,
    refetchInterval: 5000,
  });
  return (
    <section className="card stack" aria-label={t("전송 기록", "Delivery log")}>
      <h2>
        {t("전송 기록", "Delivery log")} · #{endpointId}
      </h2>
      <PagedList query={list} empty={t("아직 보낸 이벤트가 없습니다.", "Nothing sent yet.")}>
        {(items) => (
          <DataTable
            rows={items}
            rowKey={(d) => d.id}
            rowTestId="webhook-delivery-row"
            columns={[
              {
                header: t("이벤트", "Event"),
                cell: (d) => (
                  <>
                    {d.eventType}
                    <div className="muted small">{d.eventId}</div>
                  </>
                ),
              },
              { header: t("상태", "Status"), cell: (d) => <StatusBadge status={d.status} /> },
              { header: t("시도", "Attempts"), num: true, cell: (d) => d.attempts },
              {
                header: t("마지막 응답", "Last answer"),
                className: "small",
                cell: (d) => (
                  <>
                    {d.lastStatusCode ?? "—"}
                    {d.lastError ? <div className="muted">{d.lastError}</div> : null}
                  </>
                ),
              },
              { header: t("일시", "When"), className: "small", cell: (d) => dateTime(d.deliveredAt ?? d.lastAttemptAt ?? d.createdAt, lang) },
            ]}
          />
        )}
      </PagedList>
    </section>
  );
}

export function WebhooksPage() {
  const t = useT();
  const lang = useLang();
  const queries = useQueryClient();
  const [selected, setSelected] = useState<number | null>(null);
  const [wanted, setWanted] = useState<EventType[]>(["order.paid"]);
  const list = useInfiniteQuery({
    queryKey: ["webhook-endpoints"],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => api.webhooks.admin.list.query({ ...(pageParam ? { cursor: pageParam } : {}), limit: 30 }),
    getNextPageParam: (last) => last.nextCursor,
  });
  const create = useMutation({
    mutationFn: (v: { url: string; description: string }) => api.webhooks.admin.create.mutate({ url: v.url, description: v.description, eventTypes: wanted }),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ["webhook-endpoints"] }),
  });
  const toggle = useMutation({
    mutationFn: (e: { id: number; status: "active" | "paused" }) =>
      e.status === "active" ? api.webhooks.admin.pause.mutate({ endpointId: e.id }) : api.webhooks.admin.resume.mutate({ endpointId: e.id }),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ["webhook-endpoints"] }),
  });
  return (
    <div className="stack">
      <h1>{t("웹훅", "Webhooks")}</h1>
      <form
        className="card stack"
        aria-label={t("엔드포인트 등록", "New endpoint")}
        onSubmit={(event) => {
          event.preventDefault();
          const form = new FormData(event.currentTarget);
          create.mutate({ url: String(form.get("url") ?? ""), description: String(form.get("description") ?? "") });
        }}
      >
        <h2>{t("엔드포인트 등록", "New endpoint")}</h2>
        <div className="row">
          <label style={{ flex: 2 }}>
            URL
            <input name="url" type="url" required maxLength={2000} placeholder="https://partner.example.com/agora" />
          </label>
          <label style={{ flex: 1 }}>
            {t("설명", "Description")}
            <input name="description" maxLength={200} />
          </label>
        </div>
        <fieldset className="row">
          <legend>{t("받을 이벤트", "Events")}</legend>
          {eventTypes.map((type) => (
            <label key={type} className="inline">
              <input
                type="checkbox"
                checked={wanted.includes(type)}
                onChange={(e) => setWanted(e.target.checked ? [...wanted, type] : wanted.filter((w) => w !== type))}
              />{" "}
              {type}
            </label>
          ))}
        </fieldset>
        <ErrorNotice error={create.error} />
        {create.isSuccess ? (
          <Success>
            {t("등록했습니다. 서명 비밀키는 지금 한 번만 보입니다:", "Registered. The signing secret is shown only now:")}{" "}
            <code data-testid="webhook-secret">{create.data.secret}</code>
          </Success>
        ) : null}
        <div>
          <button type="submit" disabled={create.isPending || wanted.length === 0}>
            {t("등록", "Register")}
          </button>
        </div>
      </form>
      <ErrorNotice error={toggle.error} />
      <PagedList query={list} empty={t("등록된 엔드포인트가 없습니다.", "No endpoints.")}>
        {(items) => (
          <DataTable
            rows={items}
            rowKey={(e) => e.id}
            rowTestId="webhook-endpoint-row"
            columns={[
              { header: "ID", cell: (e) => e.id },
              {
                header: "URL",
                cell: (e) => (
                  <>
                    {e.url}
                    {e.description ? <div className="muted small">{e.description}</div> : null}
                  </>
                ),
              },
              { header: t("이벤트", "Events"), className: "small", cell: (e) => e.eventTypes.join(", ") },
              { header: t("상태", "Status"), cell: (e) => <StatusBadge status={e.status} /> },
              { header: t("등록일", "Created"), className: "small", cell: (e) => dateTime(e.createdAt, lang) },
              {
                header: null,
                className: "row",
                cell: (e) => (
                  <>
                    <button type="button" className="secondary" onClick={() => toggle.mutate(e)} disabled={toggle.isPending}>
                      {e.status === "active" ? t("일시 중지", "Pause") : t("재개", "Resume")}
                    </button>
                    <button type="button" className="secondary" aria-pressed={selected === e.id} onClick={() => setSelected(selected === e.id ? null : e.id)}>
                      {t("전송 기록", "Deliveries")}
                    </button>
                  </>
                ),
              },
            ]}
          />
        )}
      </PagedList>
      {selected !== null ? <Deliveries endpointId={selected} /> : null}
    </div>
  );
}
