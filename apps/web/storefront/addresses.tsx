/** The address book in "my account": several addresses, one default; and deleting the account. */
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useLocation } from "wouter";
import { api } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { SubmitRow } from "../shared/forms.tsx";
import { useT } from "../shared/i18n.ts";
import { formValues, LoadMore, Success } from "../shared/ui.tsx";

export function AddressBook() {
  const t = useT();
  const queries = useQueryClient();
  const list = useInfiniteQuery({
    queryKey: ["addresses"],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => api.addresses.list.query({ ...(pageParam ? { cursor: pageParam } : {}), limit: 20 }),
    getNextPageParam: (last) => last.nextCursor,
  });
  const refresh = () => queries.invalidateQueries({ queryKey: ["addresses"] });
  const add = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api.addresses.add.mutate({
        label: v.label ?? "",
        recipient: v.recipient ?? "",
        address: v.address ?? "",
        ...(v.phone?.trim() ? { phone: v.phone.trim() } : {}),
        makeDefault: v.makeDefault === "on",
      }),
    onSuccess: refresh,
  });
  const setDefault = useMutation({ mutationFn: (addressId: number) => api.addresses.setDefault.mutate({ addressId }), onSuccess: refresh });
  const remove = useMutation({ mutationFn: (addressId: number) => api.addresses.remove.mutate({ addressId }), onSuccess: refresh });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <section className="card stack" aria-label={t("배송지 목록", "Address book")}>
      <h2>{t("배송지 목록", "Address book")}</h2>
      {items.length === 0 ? <p className="muted">{t("저장된 배송지가 없습니다.", "No saved addresses.")}</p> : null}
      <ul className="stack">
        {items.map((a) => (
          <li key={a.addressId}>
            <strong>{a.label}</strong> {a.isDefault ? <span className="badge good">{t("기본", "Default")}</span> : null}
            <div className="small">
              {a.recipient}
              {a.phone ? ` (${a.phone})` : ""} · {a.address}
            </div>
            <div className="row">
              {a.isDefault ? null : (
                <button type="button" className="secondary" onClick={() => setDefault.mutate(a.addressId)}>
                  {t("기본으로", "Make default")}
                </button>
              )}
              <button type="button" className="secondary" onClick={() => remove.mutate(a.addressId)}>
                {t("삭제", "Remove")}
              </button>
            </div>
          </li>
        ))}
      </ul>
      <LoadMore pages={list} />
      <ErrorNotice error={list.error ?? setDefault.error ?? remove.error} />
      <form
        className="stack"
        aria-label={t("배송지 추가", "Add an address")}
        onSubmit={(event) => {
          event.preventDefault();
          add.mutate(formValues(event.currentTarget));
          event.currentTarget.reset();
        }}
      >
        <h3>{t("배송지 추가", "Add an address")}</h3>
        <label>
          {t("이름 (예: 집)", "Label (e.g. Home)")}
          <input name="label" required maxLength={50} />
        </label>
        <label>
          {t("받는 분", "Recipient")}
          <input name="recipient" required maxLength={100} />
        </label>
        <label>
          {t("연락처", "Phone")}
          <input name="phone" type="tel" />
        </label>
        <label>
          {t("주소", "Address")}
          <textarea name="address" required minLength={5} maxLength={370} />
        </label>
        <label className="inline">
          <input type="checkbox" name="makeDefault" /> {t("기본 배송지로", "Make it the default")}
        </label>
        <SubmitRow error={add.error} disabled={add.isPending}>
          {t("추가", "Add")}
        </SubmitRow>
      </form>
    </section>
  );
}

/** Deleting my account: confirmed with the password; refused while the wallet holds money or an order is under way. */
export function DeleteMyAccount() {
  const t = useT();
  const queries = useQueryClient();
  const [, navigate] = useLocation();
  const remove = useMutation({
    mutationFn: (password: string) => api.customers.deleteMyAccount.mutate({ password }),
    onSuccess: async () => {
      await fetch("/session", { method: "DELETE" });
      queries.clear();
      navigate("/");
    },
  });
  return (
    <details className="card">
      <summary>{t("회원 탈퇴", "Delete my account")}</summary>
      <form
        className="stack"
        aria-label={t("회원 탈퇴", "Delete my account")}
        onSubmit={(event) => {
          event.preventDefault();
          remove.mutate(formValues(event.currentTarget).password ?? "");
        }}
      >
        <p className="muted small">
          {t(
            "이름·이메일·전화·배송지가 지워지고 다시 로그인할 수 없습니다. 주문 기록은 회계를 위해 이름 없이 남습니다. 지갑 잔액이 남아 있거나 진행 중인 주문이 있으면 탈퇴할 수 없습니다.",
            "Your name, email, phone and addresses are erased and you cannot log in again. Order records stay, without your name, for accounting. Not possible while the wallet holds money or an order is under way.",
          )}
        </p>
        <label>
          {t("비밀번호 확인", "Confirm with your password")}
          <input name="password" type="password" required autoComplete="current-password" />
        </label>
        <ErrorNotice error={remove.error} />
        {remove.isSuccess ? <Success>{t("탈퇴했습니다.", "Your account was deleted.")}</Success> : null}
        <div>
          <button type="submit" className="danger" disabled={remove.isPending}>
            {t("탈퇴", "Delete my account")}
          </button>
        </div>
      </form>
    </details>
  );
}
