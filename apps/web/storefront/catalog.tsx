/** Home (popular products), browsing with filters and search, and the product page. */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link, useLocation, useParams, useSearch } from "wouter";
import { api, type Out } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { homeQueries } from "../shared/first-view.ts";
import { num, useT, won } from "../shared/i18n.ts";
import { useMe } from "../shared/session.ts";
import { Empty, Loading, LoadMore, QueryView, Success } from "../shared/ui.tsx";

type Product = Out<typeof api.catalog.get.query>;

const palette = ["#1f5eff", "#0e9384", "#c11574", "#dc6803", "#6941c6", "#2e90fa", "#099250"];
export function Thumb({ name, category }: { name: string; category: string }) {
  const hue = [...category].reduce((sum, ch) => sum + ch.charCodeAt(0), 0) % palette.length;
  return (
    <div className="thumb" style={{ background: palette[hue] }} aria-hidden="true">
      {name.slice(0, 1)}
    </div>
  );
}

function StockLine({ stock }: { stock: number }) {
  const t = useT();
  if (stock <= 0) return <span className="badge bad">{t("품절", "Sold out")}</span>;
  if (stock < 10) return <span className="badge warn">{t(`${num(stock)}개 남음`, `${num(stock)} left`)}</span>;
  return <span className="badge ok">{t("재고 있음", "In stock")}</span>;
}

export function ProductCard({ product }: { product: Pick<Product, "id" | "name" | "category" | "price" | "stock"> }) {
  return (
    <article className="card product-card" data-testid="product-card">
      <Thumb name={product.name} category={product.category} />
      <Link className="title" href={`/products/${product.id}`}>
        {product.name}
      </Link>
      <div className="row spread">
        <span className="price">{won(product.price)}</span>
        <StockLine stock={product.stock} />
      </div>
      <span className="muted small">{product.category}</span>
    </article>
  );
}

export function HomePage() {
  const t = useT();
  const popular = useQuery({ queryKey: homeQueries.popular.key, queryFn: () => api.sales.popular.query(homeQueries.popular.input) });
  const newest = useQuery({ queryKey: homeQueries.newest.key, queryFn: () => api.catalog.list.query(homeQueries.newest.input) });
  const coupons = useQuery({ queryKey: homeQueries.coupons.key, queryFn: () => api.coupons.list.query() });
  const openCoupons = coupons.data?.filter((c) => c.state === "open") ?? [];
  return (
    <div className="stack">
      <section className="card" style={{ background: "linear-gradient(120deg,#1f5eff,#6941c6)", color: "#fff", border: 0 }}>
        <h1 style={{ margin: 0 }}>{t("오늘의 특가, 선착순 쿠폰까지", "Today's deals and first-come coupons")}</h1>
        <p style={{ margin: ".4rem 0 .8rem" }}>{t("지갑을 충전하고 한 번에 결제하세요.", "Charge your wallet and pay in one step.")}</p>
        <div className="row">
          <Link className="btn secondary" href="/products">
            {t("상품 둘러보기", "Browse products")}
          </Link>
          {openCoupons.length > 0 ? (
            <Link className="btn secondary" href="/coupons">
              {t(`쿠폰 ${openCoupons.length}종 발급 중`, `${openCoupons.length} coupons open`)}
            </Link>
          ) : null}
        </div>
      </section>
      <h2>{t("인기 상품", "Popular products")}</h2>
      <QueryView query={popular} isEmpty={(d) => d.products.length === 0} empty={t("아직 판매 기록이 없습니다.", "No sales yet.")}>
        {(data) => (
          <ol className="grid" style={{ listStyle: "none", padding: 0 }}>
            {data.products.map((p) => (
              <li key={p.productId} className="card product-card">
                <span className="badge">#{p.rank}</span>
                <Link className="title" href={`/products/${p.productId}`}>
                  {p.name}
                </Link>
                <span className="price">{won(p.price)}</span>
                <span className="muted small">{t(`${num(p.soldQuantity)}개 판매`, `${num(p.soldQuantity)} sold`)}</span>
              </li>
            ))}
          </ol>
        )}
      </QueryView>
      <h2>{t("새로 들어온 상품", "New arrivals")}</h2>
      <QueryView query={newest} isEmpty={(d) => d.items.length === 0} empty={t("상품이 없습니다.", "No products yet.")}>
        {(data) => (
          <div className="grid">
            {data.items.map((p) => (
              <ProductCard key={p.id} product={p} />
            ))}
          </div>
        )}
      </QueryView>
    </div>
  );
}

type Sort = "newest" | "price_asc" | "price_desc";

export function CatalogPage() {
  const t = useT();
  const search = new URLSearchParams(useSearch());
  const [, navigate] = useLocation();
  const query = search.get("q") ?? "";
  const category = search.get("category") ?? "";
  const minPrice = search.get("min") ? Number(search.get("min")) : undefined;
  const maxPrice = search.get("max") ? Number(search.get("max")) : undefined;
  const sort = (search.get("sort") as Sort | null) ?? "newest";
  const categories = useQuery({ queryKey: ["categories"], queryFn: () => api.catalog.categories.query() });
  const filters = {
    ...(category ? { category } : {}),
    ...(minPrice !== undefined ? { minPrice } : {}),
    ...(maxPrice !== undefined ? { maxPrice } : {}),
    sort,
    limit: 12,
  };
  const products = useInfiniteQuery({
    queryKey: ["catalog", query, filters],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => {
      const page = pageParam ? { cursor: pageParam } : {};
      return query ? api.catalog.search.query({ ...filters, ...page, query }) : api.catalog.list.query({ ...filters, ...page });
    },
    getNextPageParam: (last) => last.nextCursor,
  });
  function apply(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const params = new URLSearchParams();
    for (const [key, value] of data.entries()) if (String(value).trim()) params.set(key, String(value).trim());
    navigate(`/products?${params.toString()}`);
  }
  const items = products.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <div>
      <h1>{t("상품", "Products")}</h1>
      <form className="filters card" onSubmit={apply} aria-label={t("검색", "Search")} key={search.toString()}>
        <label>
          {t("검색", "Search")}
          <input name="q" type="search" defaultValue={query} placeholder={t("상품명", "Product name")} />
        </label>
        <label>
          {t("카테고리", "Category")}
          <select name="category" defaultValue={category}>
            <option value="">{t("전체", "All")}</option>
            {categories.data?.map((c) => (
              <option key={c.category} value={c.category}>
                {c.category} ({c.productCount})
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("최소 가격", "Min price")}
          <input name="min" type="number" min={0} step={100} defaultValue={minPrice} style={{ width: "8rem" }} />
        </label>
        <label>
          {t("최대 가격", "Max price")}
          <input name="max" type="number" min={0} step={100} defaultValue={maxPrice} style={{ width: "8rem" }} />
        </label>
        <label>
          {t("정렬", "Sort")}
          <select name="sort" defaultValue={sort}>
            <option value="newest">{t("최신순", "Newest")}</option>
            <option value="price_asc">{t("낮은 가격순", "Price: low to high")}</option>
            <option value="price_desc">{t("높은 가격순", "Price: high to low")}</option>
          </select>
        </label>
        <button type="submit">{t("적용", "Apply")}</button>
      </form>
      {products.isPending ? (
        <Loading />
      ) : products.isError ? (
        <ErrorNotice error={products.error} />
      ) : items.length === 0 ? (
        <Empty>{t("조건에 맞는 상품이 없습니다.", "No products match.")}</Empty>
      ) : (
        <>
          <div className="grid">
            {items.map((p) => (
              <ProductCard key={p.id} product={p} />
            ))}
          </div>
          {products.hasNextPage ? (
            <p style={{ textAlign: "center" }}>
              <LoadMore pages={products} />
            </p>
          ) : null}
        </>
      )}
    </div>
  );
}

export function ProductPage() {
  const t = useT();
  const { id } = useParams<{ id: string }>();
  const productId = Number(id);
  const me = useMe();
  const queries = useQueryClient();
  const [, navigate] = useLocation();
  const [quantity, setQuantity] = useState(1);
  const product = useQuery({ queryKey: ["product", productId], queryFn: () => api.catalog.get.query({ productId }) });
  const addToCart = useMutation({
    mutationFn: () => api.cart.addItem.mutate({ productId, quantity }),
    onSuccess: (cart) => queries.setQueryData(["cart"], cart),
  });
  const restock = useMutation({ mutationFn: () => api.catalog.signUpForRestock.mutate({ productId }) });
  return (
    <QueryView query={product}>
      {(p) => (
        <div className="row" style={{ alignItems: "flex-start", gap: "1.5rem" }}>
          <div style={{ flex: "1 1 280px", maxWidth: 420 }}>
            <Thumb name={p.name} category={p.category} />
          </div>
          <div className="stack" style={{ flex: "1 1 320px" }}>
            <span className="muted">{p.category}</span>
            <h1>{p.name}</h1>
            <div className="price" style={{ fontSize: "1.6rem" }}>
              {won(p.price)}
            </div>
            <div>
              <StockLine stock={p.stock} /> <span className="muted small">{t(`재고 ${num(p.stock)}개`, `${num(p.stock)} in stock`)}</span>
            </div>
            {p.description ? <p>{p.description}</p> : null}
            {p.stock > 0 ? (
              <form
                className="row"
                onSubmit={(event) => {
                  event.preventDefault();
                  if (!me.data) return navigate("/login");
                  addToCart.mutate();
                }}
              >
                <label className="inline">
                  {t("수량", "Quantity")}&nbsp;
                  <input
                    type="number"
                    min={1}
                    max={99}
                    value={quantity}
                    onChange={(e) => setQuantity(Math.max(1, Number(e.target.value) || 1))}
                    style={{ width: "5rem" }}
                  />
                </label>
                <button type="submit" disabled={addToCart.isPending}>
                  {t("장바구니 담기", "Add to cart")}
                </button>
              </form>
            ) : (
              <div className="card stack">
                <strong>{t("품절된 상품입니다", "Sold out")}</strong>
                <span>{t("재입고되면 알려 드릴게요.", "We will tell you when it is back.")}</span>
                <button type="button" onClick={() => (me.data ? restock.mutate() : navigate("/login"))} disabled={restock.isPending || restock.isSuccess}>
                  {t("재입고 알림 신청", "Notify me when restocked")}
                </button>
                {restock.isSuccess ? <Success>{t("재입고 알림을 신청했습니다.", "You will be notified.")}</Success> : null}
                <ErrorNotice error={restock.error} />
              </div>
            )}
            {addToCart.isSuccess ? (
              <Success>
                {t("장바구니에 담았습니다.", "Added to your cart.")} <Link href="/cart">{t("장바구니 보기", "View cart")}</Link>
              </Success>
            ) : null}
            <ErrorNotice error={addToCart.error} />
          </div>
        </div>
      )}
    </QueryView>
  );
}
