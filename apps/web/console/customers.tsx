/** Customers: search and list, detail with wallet and purchase history, deactivate and reactivate. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "wouter";
import { api } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { dateOnly, dateTime, useLang, useT, won } from "../shared/i18n.ts";
import { Empty, formValues, Loading, LoadMore, QueryView, StatusBadge } from "../shared/ui.tsx";

export function CustomersPage() {
  const t = useT();
  const lang = useLang();
  const [filters, setFilters] = useState<{ query?: string; status?: "active" | "deactivated" }>({});
  const list = useInfiniteQuery({
    queryKey: ["admin-customers", filters],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => api.identity.admin.listCustomers.query({ ...filters, ...(pageParam ? { cursor: pageParam } : {}), limit: 25 }),
    getNextPageParam: (last) => last.nextCursor,
  });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <div className="stack">
      <h1>{t("고객", "Customers")}</h1>
      <form
        className="filters"
        aria-label={t("검색", "Search")}
        onSubmit={(event) => {
          event.preventDefault();
          const v = formValues(event.currentTarget);
          setFilters({ ...(v.query?.trim() ? { query: v.query.trim() } : {}), ...(v.status ? { status: v.status as "active" | "deactivated" } : {}) });
        }}
      >
        <label>
          {t("이름·이메일·전화", "Name, email or phone")}
          <input name="query" type="search" />
        </label>
        <label>
          {t("상태", "Status")}
          <select name="status" defaultValue="">
            <option value="">{t("전체", "All")}</option>
            <option value="active">{t("활성", "Active")}</option>
            <option value="deactivated">{t("비활성", "Deactivated")}</option>
          </select>
        </label>
        <button type="submit">{t("검색", "Search")}</button>
      </form>
      {list.isPending ? (
        <Loading />
      ) : list.isError ? (
        <ErrorNotice error={list.error} />
      ) : items.length === 0 ? (
        <Empty>{t("고객이 없습니다.", "No customers.")}</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>ID</th>
                <th>{t("이름", "Name")}</th>
                <th>{t("이메일", "Email")}</th>
                <th>{t("전화", "Phone")}</th>
                <th>{t("가입일", "Joined")}</th>
                <th>{t("상태", "Status")}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((u) => (
                <tr key={u.id}>
                  <td>{u.id}</td>
                  <td>
                    <Link href={`/customers/${u.id}`}>{u.name}</Link>
                  </td>
                  <td>{u.email}</td>
                  <td>{u.phone ?? ""}</td>
                  <td>{dateOnly(u.createdAt, lang)}</td>
                  <td>
                    <StatusBadge status={u.status} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <LoadMore pages={list} />
    </div>
  );
}

export function CustomerPage() {
  const t = useT();
  const lang = useLang();
  const userId = Number(useParams<{ id: string }>().id);
  const queries = useQueryClient();
  const customer = useQuery({ queryKey: ["admin-customer", userId], queryFn: () => api.identity.admin.getCustomer.query({ userId }) });
  const orders = useQuery({ queryKey: ["admin-customer", userId, "orders"], queryFn: () => api.orders.admin.list.query({ userId, limit: 20 }) });
  const ledger = useQuery({ queryKey: ["admin-customer", userId, "ledger"], queryFn: () => api.wallet.admin.ledger.query({ userId, limit: 10 }) });
  const toggle = useMutation({
    mutationFn: (active: boolean) => (active ? api.identity.admin.deactivate.mutate({ userId }) : api.identity.admin.reactivate.mutate({ userId })),
    onSuccess: (user) => queries.setQueryData(["admin-customer", userId], user),
  });
  return (
    <QueryView query={customer}>
      {(u) => (
        <div className="stack">
          <p>
            <Link href="/customers">← {t("고객 목록", "Customers")}</Link>
          </p>
          <h1>
            {u.name} <StatusBadge status={u.status} />
          </h1>
          <p className="muted">
            {u.email} · {u.phone ?? t("전화 없음", "no phone")} · {t(`가입 ${dateOnly(u.createdAt, lang)}`, `joined ${dateOnly(u.createdAt, lang)}`)} · {u.role}
          </p>
          <div className="row">
            <span>
              {t("지갑 잔액", "Wallet balance")}: <strong>{ledger.data ? won(ledger.data.balance) : "…"}</strong>
            </span>
            <button
              type="button"
              className={u.status === "active" ? "danger" : ""}
              onClick={() => toggle.mutate(u.status === "active")}
              disabled={toggle.isPending}
            >
              {u.status === "active" ? t("비활성화", "Deactivate") : t("다시 활성화", "Reactivate")}
            </button>
          </div>
          <ErrorNotice error={toggle.error} />
          <h2>{t("구매 내역", "Purchase history")}</h2>
          <QueryView query={orders} isEmpty={(d) => d.items.length === 0} empty={t("주문이 없습니다.", "No orders.")}>
            {(d) => (
              <div className="table-wrap">
                <table>
                  <tbody>
                    {d.items.map((o) => (
                      <tr key={o.orderId}>
                        <td>
                          <Link href={`/orders/${o.orderId}`}>#{o.orderId}</Link>
                        </td>
                        <td>{dateTime(o.createdAt, lang)}</td>
                        <td>
                          <StatusBadge status={o.status} />
                        </td>
                        <td className="num">{won(o.finalAmount)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </QueryView>
          <p>
            <Link href={`/orders?userId=${userId}`}>{t("이 고객의 주문 모두 보기", "All orders of this customer")}</Link>
          </p>
        </div>
      )}
    </QueryView>
  );
}
