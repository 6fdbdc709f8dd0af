/** Products: list and search, create, edit, hide/show, delete, stock in/out/adjust, low-stock threshold, movements. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useLocation, useParams } from "wouter";
import type { z } from "zod";
import { adjustInput, createProductInput, inboundInput, updateProductInput } from "../../../modules/catalog/schema.ts";
import { api } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { Field, numberField, SubmitRow, useSchemaCheck } from "../shared/forms.tsx";
import { dateTime, num, useLang, useT, won } from "../shared/i18n.ts";
import { DataTable, PagedList } from "../shared/table.tsx";
import { formValues, QueryView, StatusBadge, Success } from "../shared/ui.tsx";

type ProductStatus = "active" | "hidden";

export function ProductsPage() {
  const t = useT();
  const queries = useQueryClient();
  const [, navigate] = useLocation();
  const [query, setQuery] = useState("");
  const [status, setStatus] = useState<"" | ProductStatus>("");
  const [creating, setCreating] = useState(false);
  const list = useInfiniteQuery({
    queryKey: ["admin-products", query, status],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      api.catalog.admin.list.query({ ...(query ? { query } : {}), ...(status ? { status } : {}), ...(pageParam ? { cursor: pageParam } : {}), limit: 25 }),
    getNextPageParam: (last) => last.nextCursor,
  });
  const createForm = useSchemaCheck();
  const create = useMutation({
    mutationFn: (input: z.input<typeof createProductInput>) => api.catalog.admin.create.mutate(input),
    onSuccess: (product) => {
      void queries.invalidateQueries({ queryKey: ["admin-products"] });
      navigate(`/products/${product.id}`);
    },
  });
  return (
    <div className="stack">
      <div className="row spread">
        <h1>{t("상품·재고", "Products & stock")}</h1>
        <button type="button" onClick={() => setCreating(!creating)}>
          {creating ? t("닫기", "Close") : t("상품 등록", "New product")}
        </button>
      </div>
      {creating ? (
        <form
          className="card stack"
          aria-label={t("상품 등록", "New product")}
          noValidate
          onSubmit={(event) => {
            event.preventDefault();
            const v = formValues(event.currentTarget);
            const input = {
              name: v.name ?? "",
              category: v.category ?? "",
              price: numberField(v.price) as number,
              description: v.description ?? "",
              initialStock: numberField(v.initialStock) ?? 0,
              lowStockThreshold: numberField(v.lowStockThreshold) ?? 10,
              status: (v.status as ProductStatus) || "active",
            };
            if (createForm.passes(createProductInput, input, event.currentTarget)) create.mutate(input);
          }}
        >
          <div className="row">
            <Field label={t("상품명", "Name")} error={createForm.errors.name}>
              <input name="name" required maxLength={200} />
            </Field>
            <Field label={t("카테고리", "Category")} error={createForm.errors.category}>
              <input name="category" required maxLength={50} />
            </Field>
            <Field label={t("가격 (원)", "Price (won)")} error={createForm.errors.price}>
              <input name="price" type="number" min={0} required />
            </Field>
            <Field label={t("초기 재고", "Initial stock")} error={createForm.errors.initialStock}>
              <input name="initialStock" type="number" min={0} defaultValue={0} />
            </Field>
            <Field label={t("재고 부족 기준", "Low-stock threshold")} error={createForm.errors.lowStockThreshold}>
              <input name="lowStockThreshold" type="number" min={0} defaultValue={10} />
            </Field>
            <label>
              {t("상태", "Status")}
              <select name="status" defaultValue="active">
                <option value="active">{t("판매", "Active")}</option>
                <option value="hidden">{t("숨김", "Hidden")}</option>
              </select>
            </label>
          </div>
          <Field label={t("설명", "Description")} error={createForm.errors.description}>
            <textarea name="description" rows={3} maxLength={5000} />
          </Field>
          <SubmitRow error={create.error} disabled={create.isPending}>
            {t("등록", "Create")}
          </SubmitRow>
        </form>
      ) : null}
      <form
        className="filters"
        aria-label={t("검색", "Search")}
        onSubmit={(event) => {
          event.preventDefault();
          const v = formValues(event.currentTarget);
          setQuery((v.query ?? "").trim());
          setStatus((v.status as "" | ProductStatus) ?? "");
        }}
      >
        <label>
          {t("상품명 검색", "Search by name")}
          <input name="query" type="search" defaultValue={query} />
        </label>
        <label>
          {t("상태", "Status")}
          <select name="status" defaultValue={status}>
            <option value="">{t("판매·숨김", "Active & hidden")}</option>
            <option value="active">{t("판매", "Active")}</option>
            <option value="hidden">{t("숨김", "Hidden")}</option>
          </select>
        </label>
        <button type="submit">{t("검색", "Search")}</button>
      </form>
      <PagedList query={list} empty={t("상품이 없습니다.", "No products.")}>
        {(items) => (
          <DataTable
            rows={items}
            rowKey={(p) => p.id}
            rowTestId="product-row"
            columns={[
              { header: "ID", cell: (p) => p.id },
              { header: t("상품명", "Name"), cell: (p) => <Link href={`/products/${p.id}`}>{p.name}</Link> },
              { header: t("카테고리", "Category"), cell: (p) => p.category },
              { header: t("가격", "Price"), num: true, cell: (p) => won(p.price) },
              { header: t("재고", "Stock"), num: true, cell: (p) => num(p.stock) },
              { header: t("상태", "Status"), cell: (p) => <StatusBadge status={p.status} /> },
            ]}
          />
        )}
      </PagedList>
    </div>
  );
}

export function ProductPage() {
  const t = useT();
  const lang = useLang();
  const productId = Number(useParams<{ id: string }>().id);
  const queries = useQueryClient();
  const [, navigate] = useLocation();
  const [done, setDone] = useState<string | null>(null);
  const product = useQuery({ queryKey: ["admin-product", productId], queryFn: () => api.catalog.admin.get.query({ productId }) });
  const movements = useQuery({
    queryKey: ["admin-product", productId, "movements"],
    queryFn: () => api.catalog.admin.movements.query({ productId, limit: 30 }),
  });
  const refresh = (message: string) => {
    setDone(message);
    void queries.invalidateQueries({ queryKey: ["admin-product", productId] });
    void queries.invalidateQueries({ queryKey: ["admin-products"] });
  };
  const updateForm = useSchemaCheck();
  const update = useMutation({
    mutationFn: (input: z.input<typeof updateProductInput>) => api.catalog.admin.update.mutate(input),
    onSuccess: () => refresh(t("저장했습니다.", "Saved.")),
  });
  const setStatus = useMutation({
    mutationFn: (status: ProductStatus) => api.catalog.admin.setStatus.mutate({ productId, status }),
    onSuccess: () => refresh(t("상태를 바꿨습니다.", "Status changed.")),
  });
  const remove = useMutation({
    mutationFn: () => api.catalog.admin.delete.mutate({ productId }),
    onSuccess: () => {
      void queries.invalidateQueries({ queryKey: ["admin-products"] });
      navigate("/products");
    },
  });
  const stockForm = useSchemaCheck();
  /** The stock form's input for its kind, with the schema of the procedure it calls. */
  const stockMove = (v: Record<string, string>) => {
    const quantity = numberField(v.quantity) as number;
    const reason = (v.reason ?? "").trim();
    if (v.kind === "inbound" || v.kind === "outbound")
      return { kind: v.kind, schema: inboundInput, input: { productId, quantity, ...(reason ? { reason } : {}) } } as const;
    return { kind: "adjust", schema: adjustInput, input: { productId, change: quantity, reason } } as const;
  };
  const stock = useMutation({
    mutationFn: (move: ReturnType<typeof stockMove>) => {
      if (move.kind === "adjust") return api.catalog.admin.adjust.mutate(move.input);
      return move.kind === "inbound" ? api.catalog.admin.inbound.mutate(move.input) : api.catalog.admin.outbound.mutate(move.input);
    },
    onSuccess: (level) => refresh(t(`재고가 ${num(level.stock)}개가 되었습니다.`, `Stock is now ${num(level.stock)}.`)),
  });
  const threshold = useMutation({
    mutationFn: (value: number) => api.catalog.admin.setLowStockThreshold.mutate({ productId, threshold: value }),
    onSuccess: () => refresh(t("기준을 저장했습니다.", "Threshold saved.")),
  });
  const kindName = (kind: string) =>
    ({
      inbound: t("입고", "Inbound"),
      outbound: t("출고", "Outbound"),
      adjustment: t("조정", "Adjust"),
      sale: t("판매", "Sale"),
      release: t("반환", "Release"),
    })[kind] ?? kind;
  return (
    <QueryView query={product}>
      {(p) => (
        <div className="stack">
          <p>
            <Link href="/products">← {t("상품 목록", "Products")}</Link>
          </p>
          <h1>
            {p.name} <StatusBadge status={p.status} />
          </h1>
          <div className="stats">
            <div className="card stat">
              <div className="label">{t("재고", "Stock")}</div>
              <div className="value" data-testid="product-stock">
                {num(p.stock)}
              </div>
            </div>
            <div className="card stat">
              <div className="label">{t("가격", "Price")}</div>
              <div className="value">{won(p.price)}</div>
            </div>
          </div>
          {done ? <Success>{done}</Success> : null}
          <div className="row" style={{ alignItems: "flex-start" }}>
            <form
              className="card stack"
              style={{ flex: "1 1 360px" }}
              aria-label={t("재고 변경", "Stock change")}
              noValidate
              onSubmit={(event) => {
                event.preventDefault();
                const move = stockMove(formValues(event.currentTarget));
                if (stockForm.passes(move.schema, move.input, event.currentTarget)) stock.mutate(move);
              }}
            >
              <h2>{t("재고 입출고", "Stock in / out")}</h2>
              <label>
                {t("구분", "Kind")}
                <select name="kind" defaultValue="inbound">
                  <option value="inbound">{t("입고", "Inbound")}</option>
                  <option value="outbound">{t("출고", "Outbound")}</option>
                  <option value="adjust">{t("조정 (±)", "Adjust (±)")}</option>
                </select>
              </label>
              <Field label={t("수량", "Quantity")} error={stockForm.errors.quantity ?? stockForm.errors.change}>
                <input name="quantity" type="number" required />
              </Field>
              <Field label={t("사유", "Reason")} error={stockForm.errors.reason}>
                <input name="reason" maxLength={200} />
              </Field>
              <SubmitRow error={stock.error} disabled={stock.isPending}>
                {t("반영", "Apply")}
              </SubmitRow>
            </form>
            <form
              className="card stack"
              style={{ flex: "1 1 360px" }}
              aria-label={t("상품 수정", "Edit product")}
              noValidate
              onSubmit={(event) => {
                event.preventDefault();
                const v = formValues(event.currentTarget);
                const input = {
                  productId,
                  name: v.name ?? "",
                  category: v.category ?? "",
                  price: numberField(v.price) as number,
                  description: v.description ?? "",
                };
                if (updateForm.passes(updateProductInput, input, event.currentTarget)) update.mutate(input);
              }}
            >
              <h2>{t("상품 정보", "Details")}</h2>
              <Field label={t("상품명", "Name")} error={updateForm.errors.name}>
                <input name="name" defaultValue={p.name} required />
              </Field>
              <Field label={t("카테고리", "Category")} error={updateForm.errors.category}>
                <input name="category" defaultValue={p.category} required />
              </Field>
              <Field label={t("가격 (원)", "Price (won)")} error={updateForm.errors.price}>
                <input name="price" type="number" min={0} defaultValue={p.price} required />
              </Field>
              <Field label={t("설명", "Description")} error={updateForm.errors.description}>
                <textarea name="description" rows={3} defaultValue={p.description} />
              </Field>
              <ErrorNotice error={update.error} />
              <div className="row">
                <button type="submit">{t("저장", "Save")}</button>
                <button type="button" className="secondary" onClick={() => setStatus.mutate(p.status === "active" ? "hidden" : "active")}>
                  {p.status === "active" ? t("숨기기", "Hide") : t("판매 재개", "Show")}
                </button>
                <button
                  type="button"
                  className="danger"
                  onClick={() => {
                    if (confirm(t("삭제하면 되돌릴 수 없습니다. 삭제할까요?", "Deleting cannot be undone. Delete?"))) remove.mutate();
                  }}
                >
                  {t("삭제", "Delete")}
                </button>
              </div>
              <ErrorNotice error={setStatus.error ?? remove.error} />
            </form>
          </div>
          <form
            className="card row"
            onSubmit={(event) => {
              event.preventDefault();
              threshold.mutate(Number(formValues(event.currentTarget).threshold));
            }}
          >
            <label>
              {t("재고 부족 기준", "Low-stock threshold")}
              <input name="threshold" type="number" min={0} required />
            </label>
            <button type="submit">{t("저장", "Save")}</button>
            <ErrorNotice error={threshold.error} />
          </form>
          <h2>{t("입출고 기록", "Movements")}</h2>
          <QueryView query={movements} isEmpty={(d) => d.items.length === 0} empty={t("기록이 없습니다.", "No movements.")}>
            {(d) => (
              <DataTable
                rows={d.items}
                rowKey={(m) => m.id}
                columns={[
                  { header: t("일시", "When"), cell: (m) => dateTime(m.createdAt, lang) },
                  { header: t("구분", "Kind"), cell: (m) => kindName(m.kind) },
                  { header: t("변화", "Change"), num: true, cell: (m) => (m.change > 0 ? `+${num(m.change)}` : num(m.change)) },
                  { header: t("이후 재고", "After"), num: true, cell: (m) => num(m.quantityAfter) },
                  {
                    header: t("사유", "Reason"),
                    cell: (m) => m.reason ?? (m.orderId ? <Link href={`/orders/${m.orderId}`}>#{m.orderId}</Link> : ""),
                  },
                ]}
              />
            )}
          </QueryView>
        </div>
      )}
    </QueryView>
  );
}
