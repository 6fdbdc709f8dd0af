/**
 * Customers: search and list, register (temporary password), detail with wallet and purchase history,
 * edit, deactivate and reactivate, delete (erases the person, keeps the books).
 */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "wouter";
import { api } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { dateOnly, dateTime, useLang, useT, won } from "../shared/i18n.ts";
import { DataTable, PagedList } from "../shared/table.tsx";
import { formValues, QueryView, StatusBadge, Success } from "../shared/ui.tsx";

/** An operator registers a customer; the temporary password is shown once, to hand over. */
function RegisterCustomer() {
  const t = useT();
  const queries = useQueryClient();
  const register = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api.identity.admin.registerCustomer.mutate({ email: v.email ?? "", name: v.name ?? "", ...(v.phone?.trim() ? { phone: v.phone.trim() } : {}) }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["admin-customers"] }),
  });
  return (
    <details>
      <summary>{t("고객 등록", "Register a customer")}</summary>
      <form
        className="filters"
        aria-label={t("고객 등록", "Register a customer")}
        onSubmit={(event) => {
          event.preventDefault();
          register.mutate(formValues(event.currentTarget));
        }}
      >
        <label>
          {t("이메일", "Email")}
          <input name="email" type="email" required />
        </label>
        <label>
          {t("이름", "Name")}
          <input name="name" required maxLength={100} />
        </label>
        <label>
          {t("전화", "Phone")}
          <input name="phone" type="tel" />
        </label>
        <button type="submit" disabled={register.isPending}>
          {t("등록", "Register")}
        </button>
      </form>
      <ErrorNotice error={register.error} />
      {register.data && (
        <Success>
          {t("임시 비밀번호 (한 번만 표시됩니다, 고객에게 전달하세요): ", "Temporary password (shown once; hand it to the customer): ")}
          <code>{register.data.temporaryPassword}</code>
          {t(" — 첫 로그인에서 새 비밀번호를 정해야 합니다.", " — the customer must set a new one at first login.")}
        </Success>
      )}
    </details>
  );
}

/** Edit name, email, phone. */
function EditCustomer({ user }: { user: { id: number; name: string; email: string; phone: string | null } }) {
  const t = useT();
  const queries = useQueryClient();
  const edit = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api.identity.admin.updateCustomer.mutate({ userId: user.id, name: v.name ?? "", email: v.email ?? "", phone: v.phone?.trim() ? v.phone.trim() : null }),
    onSuccess: (updated) => queries.setQueryData(["admin-customer", user.id], updated),
  });
  return (
    <details>
      <summary>{t("정보 수정", "Edit profile")}</summary>
      <form
        className="filters"
        aria-label={t("정보 수정", "Edit profile")}
        onSubmit={(event) => {
          event.preventDefault();
          edit.mutate(formValues(event.currentTarget));
        }}
      >
        <label>
          {t("이름", "Name")}
          <input name="name" defaultValue={user.name} required maxLength={100} />
        </label>
        <label>
          {t("이메일", "Email")}
          <input name="email" type="email" defaultValue={user.email} required />
        </label>
        <label>
          {t("전화", "Phone")}
          <input name="phone" type="tel" defaultValue={user.phone ?? ""} />
        </label>
        <button type="submit" disabled={edit.isPending}>
          {t("저장", "Save")}
        </button>
      </form>
      <ErrorNotice error={edit.error} />
      {edit.isSuccess && <Success>{t("저장했습니다.", "Saved.")}</Success>}
    </details>
  );
}

/** Delete: erases the person; orders, ledger and coupons stay for the books. */
function DeleteCustomer({ userId }: { userId: number }) {
  const t = useT();
  const queries = useQueryClient();
  const remove = useMutation({
    mutationFn: (reason: string) => api.customers.admin.delete.mutate({ userId, reason }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["admin-customer", userId] }),
  });
  return (
    <details>
      <summary className="danger-text">{t("고객 삭제", "Delete customer")}</summary>
      <p className="muted">
        {t(
          "이름·이메일·전화·주소록·주문의 배송지·알림 수신자가 지워지고 모든 세션이 끝납니다. 주문·지갑 원장·쿠폰은 장부로 남습니다. 지갑 잔액이 있거나 진행 중인 주문이 있으면 거절됩니다.",
          "Erases name, email, phone, the address book, the orders' shipping addresses and the notification recipients, and ends every session. Orders, the wallet ledger and coupons stay for the books. Refused while the wallet holds money or an order is under way.",
        )}
      </p>
      <form
        className="filters"
        aria-label={t("고객 삭제", "Delete customer")}
        onSubmit={(event) => {
          event.preventDefault();
          remove.mutate(formValues(event.currentTarget).reason ?? "");
        }}
      >
        <label>
          {t("사유", "Reason")}
          <input name="reason" required maxLength={500} />
        </label>
        <button type="submit" className="danger" disabled={remove.isPending}>
          {t("삭제", "Delete")}
        </button>
      </form>
      <ErrorNotice error={remove.error} />
      {remove.data && (
        <Success>
          {t(`삭제했습니다. 주문 ${remove.data.ordersKept}건은 장부로 남습니다.`, `Deleted. ${remove.data.ordersKept} orders stay in the books.`)}
        </Success>
      )}
    </details>
  );
}

export function CustomersPage() {
  const t = useT();
  const lang = useLang();
  const [filters, setFilters] = useState<{ query?: string; status?: "active" | "deactivated" | "deleted" }>({});
  const list = useInfiniteQuery({
    queryKey: ["admin-customers", filters],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => api.identity.admin.listCustomers.query({ ...filters, ...(pageParam ? { cursor: pageParam } : {}), limit: 25 }),
    getNextPageParam: (last) => last.nextCursor,
  });
  return (
    <div className="stack">
      <h1>{t("고객", "Customers")}</h1>
      <RegisterCustomer />
      <form
        className="filters"
        aria-label={t("검색", "Search")}
        onSubmit={(event) => {
          event.preventDefault();
          const v = formValues(event.currentTarget);
          setFilters({
            ...(v.query?.trim() ? { query: v.query.trim() } : {}),
            ...(v.status ? { status: v.status as "active" | "deactivated" | "deleted" } : {}),
          });
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
            <option value="deleted">{t("삭제됨", "Deleted")}</option>
          </select>
        </label>
        <button type="submit">{t("검색", "Search")}</button>
      </form>
      <PagedList query={list} empty={t("고객이 없습니다.", "No customers.")}>
        {(items) => (
          <DataTable
            rows={items}
            rowKey={(u) => u.id}
            columns={[
              { header: "ID", cell: (u) => u.id },
              { header: t("이름", "Name"), cell: (u) => <Link href={`/customers/${u.id}`}>{u.name}</Link> },
              { header: t("이메일", "Email"), cell: (u) => u.email },
              { header: t("전화", "Phone"), cell: (u) => u.phone ?? "" },
              { header: t("가입일", "Joined"), cell: (u) => dateOnly(u.createdAt, lang) },
              { header: t("상태", "Status"), cell: (u) => <StatusBadge status={u.status} /> },
            ]}
          />
        )}
      </PagedList>
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
            {u.status !== "deleted" && (
              <button
                type="button"
                className={u.status === "active" ? "danger" : ""}
                onClick={() => toggle.mutate(u.status === "active")}
                disabled={toggle.isPending}
              >
                {u.status === "active" ? t("비활성화", "Deactivate") : t("다시 활성화", "Reactivate")}
              </button>
            )}
          </div>
          <ErrorNotice error={toggle.error} />
          {u.status !== "deleted" && u.role === "customer" && (
            <>
              <EditCustomer user={u} />
              <DeleteCustomer userId={u.id} />
            </>
          )}
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
