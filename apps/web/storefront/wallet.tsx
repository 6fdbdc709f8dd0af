/** The wallet: balance, charge by card (one idempotency key per intended charge), history. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearch } from "wouter";
import { chargeInput } from "../../../modules/wallet/schema.ts";
import { api, newIdempotencyKey } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { Field, useSchemaCheck } from "../shared/forms.tsx";
import { dateTime, useLang, useT, won } from "../shared/i18n.ts";
import { useMe } from "../shared/session.ts";
import { DataTable, PagedList } from "../shared/table.tsx";
import { Empty, Loading, Success } from "../shared/ui.tsx";

export function WalletPage() {
  const t = useT();
  const lang = useLang();
  const me = useMe();
  const queries = useQueryClient();
  const suggested = Number(new URLSearchParams(useSearch()).get("charge") ?? "") || 50_000;
  const [amount, setAmount] = useState(Math.max(1000, suggested));
  // One key per intended charge: a retry after a timeout reuses it, a new charge gets a new one.
  const [idempotencyKey, setIdempotencyKey] = useState(newIdempotencyKey);
  const balance = useQuery({ queryKey: ["wallet", "balance"], queryFn: () => api.wallet.balance.query(), enabled: !!me.data });
  const history = useInfiniteQuery({
    queryKey: ["wallet", "history"],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => api.wallet.history.query(pageParam ? { cursor: pageParam, limit: 20 } : { limit: 20 }),
    getNextPageParam: (last) => last.nextCursor,
    enabled: !!me.data,
  });
  const chargeForm = useSchemaCheck();
  const charge = useMutation({
    mutationFn: () => api.wallet.charge.mutate({ amount, idempotencyKey }),
    onSuccess: () => {
      setIdempotencyKey(newIdempotencyKey());
      void queries.invalidateQueries({ queryKey: ["wallet"] });
    },
    onError: () => setIdempotencyKey(newIdempotencyKey()), // a refusal keeps no key
  });
  if (me.isPending) return <Loading />;
  if (!me.data)
    return (
      <Empty>
        <Link href="/login">{t("로그인", "Log in")}</Link>
      </Empty>
    );
  const kindName = (kind: string) => ({ charge: t("충전", "Charge"), payment: t("결제", "Payment"), refund: t("환불", "Refund") })[kind] ?? kind;
  return (
    <div className="stack">
      <h1>{t("지갑", "Wallet")}</h1>
      <div className="stats">
        <div className="card stat">
          <div className="label">{t("잔액", "Balance")}</div>
          <div className="value" data-testid="wallet-balance">
            {balance.isPending ? "…" : won(balance.data?.balance ?? 0)}
          </div>
        </div>
      </div>
      <form
        className="card stack"
        aria-label={t("충전하기", "Charge")}
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          if (chargeForm.passes(chargeInput, { amount, idempotencyKey }, event.currentTarget)) charge.mutate();
        }}
      >
        <h2>{t("충전하기", "Charge")}</h2>
        <Field label={t("충전 금액 (원)", "Amount (won)")} error={chargeForm.errors.amount}>
          <input name="amount" type="number" min={1000} step={1000} value={amount} onChange={(e) => setAmount(Number(e.target.value))} required />
        </Field>
        <div className="row">
          {[10_000, 50_000, 100_000].map((preset) => (
            <button key={preset} type="button" className="secondary" onClick={() => setAmount(preset)}>
              {won(preset)}
            </button>
          ))}
        </div>
        <div>
          <button type="submit" disabled={charge.isPending}>
            {charge.isPending ? t("충전 중…", "Charging…") : t("카드로 충전", "Charge by card")}
          </button>
        </div>
        {charge.isSuccess ? (
          <Success>
            {t(
              `${won(charge.data.chargedAmount)} 충전했습니다. 잔액 ${won(charge.data.currentBalance)}`,
              `Charged ${won(charge.data.chargedAmount)}. Balance ${won(charge.data.currentBalance)}`,
            )}
          </Success>
        ) : null}
        <ErrorNotice error={charge.error} />
      </form>
      <h2>{t("이용 내역", "History")}</h2>
      <PagedList query={history} empty={t("아직 내역이 없습니다.", "No history yet.")}>
        {(entries) => (
          <DataTable
            rows={entries}
            rowKey={(entry) => entry.id}
            columns={[
              { header: t("일시", "When"), cell: (entry) => dateTime(entry.createdAt, lang) },
              { header: t("구분", "Kind"), cell: (entry) => kindName(entry.kind) },
              { header: t("금액", "Amount"), num: true, cell: (entry) => won(entry.amount) },
              { header: t("잔액", "Balance"), num: true, cell: (entry) => won(entry.balanceAfter) },
              { header: t("주문", "Order"), cell: (entry) => (entry.orderId ? <Link href={`/orders/${entry.orderId}`}>#{entry.orderId}</Link> : "") },
            ]}
          />
        )}
      </PagedList>
    </div>
  );
}
