/** The cart and checkout: change and remove lines, pick a coupon (validated, showing the discount), pay in one step. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link, useLocation } from "wouter";
import { placeOrderInput } from "../../../modules/orders/schema.ts";
import { api, newIdempotencyKey } from "../shared/api.ts";
import { ErrorNotice } from "../shared/errors.tsx";
import { Field, useSchemaCheck } from "../shared/forms.tsx";
import { dateOnly, useLang, useT, won } from "../shared/i18n.ts";
import { useMe } from "../shared/session.ts";
import { Empty, QueryView } from "../shared/ui.tsx";

function LoginFirst() {
  const t = useT();
  return (
    <Empty>
      {t("로그인 후 이용할 수 있습니다.", "Please log in first.")} <Link href="/login">{t("로그인", "Log in")}</Link>
    </Empty>
  );
}

export function CartPage() {
  const me = useMe();
  const t = useT();
  if (me.isPending) return null;
  if (!me.data) return <LoginFirst />;
  return (
    <div className="stack">
      <h1>{t("장바구니", "Cart")}</h1>
      <CartLines />
    </div>
  );
}

function CartLines() {
  const t = useT();
  const queries = useQueryClient();
  const cart = useQuery({ queryKey: ["cart"], queryFn: () => api.cart.get.query() });
  const [lineError, setLineError] = useState<unknown>(null);
  const setQuantity = useMutation({
    mutationFn: (v: { productId: number; quantity: number }) => api.cart.setQuantity.mutate(v),
    onSuccess: (data) => {
      setLineError(null);
      queries.setQueryData(["cart"], data);
    },
    onError: (error) => {
      setLineError(error);
      void queries.invalidateQueries({ queryKey: ["cart"] });
    },
  });
  const remove = useMutation({
    mutationFn: (productId: number) => api.cart.removeItem.mutate({ productId }),
    onSuccess: (data) => queries.setQueryData(["cart"], data),
    onError: setLineError,
  });
  return (
    <QueryView
      query={cart}
      isEmpty={(c) => c.items.length === 0}
      empty={
        <>
          {t("장바구니가 비어 있습니다.", "Your cart is empty.")} <Link href="/products">{t("상품 보러 가기", "Browse products")}</Link>
        </>
      }
    >
      {(c) => (
        <>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>{t("상품", "Product")}</th>
                  <th className="num hide-mobile">{t("단가", "Price")}</th>
                  <th>{t("수량", "Qty")}</th>
                  <th className="num">{t("금액", "Amount")}</th>
                  <th>
                    <span className="sr-only">{t("삭제", "Remove")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {c.items.map((line) => (
                  <tr key={line.productId} data-testid="cart-line">
                    <td>
                      <Link href={`/products/${line.productId}`}>{line.name}</Link>
                      {!line.available ? (
                        <div className="badge bad">
                          {line.stock > 0 ? t(`재고 ${line.stock}개뿐`, `only ${line.stock} left`) : t("구매 불가", "unavailable")}
                        </div>
                      ) : null}
                    </td>
                    <td className="num hide-mobile">{won(line.unitPrice)}</td>
                    <td>
                      <input
                        type="number"
                        min={1}
                        max={99}
                        defaultValue={line.quantity}
                        key={`${line.productId}-${line.quantity}`}
                        aria-label={t(`${line.name} 수량`, `${line.name} quantity`)}
                        style={{ width: "4.5rem" }}
                        onBlur={(event) => {
                          const quantity = Number(event.currentTarget.value);
                          if (quantity >= 1 && quantity !== line.quantity) setQuantity.mutate({ productId: line.productId, quantity });
                        }}
                        onKeyDown={(event) => {
                          if (event.key === "Enter") event.currentTarget.blur();
                        }}
                      />
                    </td>
                    <td className="num">{won(line.lineAmount)}</td>
                    <td>
                      <button type="button" className="secondary" onClick={() => remove.mutate(line.productId)}>
                        {t("삭제", "Remove")}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <ErrorNotice error={lineError} />
          <p className="row spread">
            <span>{t(`총 ${c.totalQuantity}개`, `${c.totalQuantity} items`)}</span>
            <span className="price" data-testid="cart-total">
              {won(c.totalAmount)}
            </span>
          </p>
          <Checkout subtotal={c.totalAmount} orderable={c.orderable} />
        </>
      )}
    </QueryView>
  );
}

function Checkout({ subtotal, orderable }: { subtotal: number; orderable: boolean }) {
  const t = useT();
  const lang = useLang();
  const queries = useQueryClient();
  const [, navigate] = useLocation();
  const [userCouponId, setUserCouponId] = useState<number | null>(null);
  const [address, setAddress] = useState("");
  const [method, setMethod] = useState<"wallet" | "card" | "split">("wallet");
  const [walletPart, setWalletPart] = useState("");
  /** An address book entry, or "new" (type one). Starts at the default entry when there is one. */
  const [addressChoice, setAddressChoice] = useState<number | "new" | null>(null);
  const book = useQuery({ queryKey: ["addresses", "checkout"], queryFn: () => api.addresses.list.query({ limit: 20 }) });
  const entries = book.data?.items ?? [];
  const chosen = addressChoice ?? entries.find((a) => a.isDefault)?.addressId ?? "new";
  const idempotencyKey = useMemo(() => newIdempotencyKey(), []);
  const coupons = useQuery({ queryKey: ["coupons", "mine", "available"], queryFn: () => api.coupons.mine.query({ status: "available" }) });
  const balance = useQuery({ queryKey: ["wallet", "balance"], queryFn: () => api.wallet.balance.query() });
  const preview = useQuery({
    queryKey: ["coupon-preview", userCouponId, subtotal],
    queryFn: () => api.coupons.validate.query({ userCouponId: userCouponId as number, orderAmount: subtotal }),
    enabled: userCouponId !== null,
    retry: false,
  });
  const finalAmount = preview.data?.finalAmount ?? subtotal;
  const walletBalance = balance.data?.balance ?? 0;
  // Split: what the customer typed, else as much as the wallet holds; the card pays the rest.
  const splitWallet = Math.max(0, Math.min(finalAmount, walletPart.trim() ? Math.floor(Number(walletPart)) || 0 : walletBalance));
  const checkout = useSchemaCheck();
  const orderInput = {
    ...(userCouponId !== null ? { userCouponId } : {}),
    ...(chosen !== "new" ? { addressId: chosen } : address.trim() ? { shippingAddress: address.trim() } : {}),
    payment: method === "split" ? { method, walletAmount: splitWallet } : { method },
    idempotencyKey,
  };
  const place = useMutation({
    mutationFn: () => api.orders.place.mutate(orderInput),
    onSuccess: (order) => {
      void queries.invalidateQueries();
      navigate(`/orders/${order.orderId}`);
    },
  });
  const cardPart = method === "card" ? finalAmount : method === "split" ? finalAmount - splitWallet : 0;
  const methodName = { wallet: t("지갑", "Wallet"), card: t("카드", "Card"), split: t("지갑 + 카드", "Wallet + card") };
  return (
    <section className="card stack" aria-labelledby="checkout-title">
      <h2 id="checkout-title">{t("결제", "Checkout")}</h2>
      <label>
        {t("쿠폰", "Coupon")}
        <select value={userCouponId ?? ""} onChange={(event) => setUserCouponId(event.target.value ? Number(event.target.value) : null)}>
          <option value="">{t("사용 안 함", "None")}</option>
          {coupons.data?.map((coupon) => (
            <option key={coupon.userCouponId} value={coupon.userCouponId}>
              {coupon.couponName} ({coupon.discountType === "fixed" ? won(coupon.discountValue) : `${coupon.discountValue}%`}, ~
              {dateOnly(coupon.expiresAt, lang)})
            </option>
          ))}
        </select>
      </label>
      {userCouponId !== null && preview.isError ? <ErrorNotice error={preview.error} /> : null}
      {entries.length > 0 ? (
        <label>
          {t("저장된 배송지", "Saved address")}
          <select value={String(chosen)} onChange={(event) => setAddressChoice(event.target.value === "new" ? "new" : Number(event.target.value))}>
            {entries.map((a) => (
              <option key={a.addressId} value={a.addressId}>
                {a.label}
                {a.isDefault ? t(" (기본)", " (default)") : ""} — {a.address}
              </option>
            ))}
            <option value="new">{t("새 주소 입력", "Enter another address")}</option>
          </select>
        </label>
      ) : null}
      {chosen === "new" ? (
        <Field label={t("배송지", "Shipping address")} error={checkout.errors.shippingAddress}>
          <input
            value={address}
            onChange={(e) => setAddress(e.target.value)}
            placeholder={t("서울시 중구 세종대로 110", "Street, city")}
            autoComplete="street-address"
          />
        </Field>
      ) : null}
      <fieldset className="row" data-testid="payment-method">
        <legend>{t("결제 수단", "Payment method")}</legend>
        {(["wallet", "card", "split"] as const).map((m) => (
          <label key={m} className="inline">
            <input type="radio" name="payment-method" value={m} checked={method === m} onChange={() => setMethod(m)} />
            {methodName[m]}
          </label>
        ))}
      </fieldset>
      {method === "split" ? (
        <label>
          {t("지갑에서 결제할 금액", "From the wallet (won)")}
          <input
            type="number"
            inputMode="numeric"
            min={0}
            max={finalAmount}
            step={1}
            value={walletPart}
            placeholder={String(Math.min(walletBalance, finalAmount))}
            onChange={(e) => setWalletPart(e.target.value)}
            data-testid="split-wallet-amount"
          />
        </label>
      ) : null}
      <table style={{ maxWidth: 420 }}>
        <tbody>
          <tr>
            <th>{t("상품 금액", "Subtotal")}</th>
            <td className="num">{won(subtotal)}</td>
          </tr>
          <tr>
            <th>{t("쿠폰 할인", "Coupon discount")}</th>
            <td className="num" data-testid="discount">
              -{won(preview.data?.discountAmount ?? 0)}
            </td>
          </tr>
          <tr>
            <th>{t("결제 금액", "To pay")}</th>
            <td className="num price" data-testid="final-amount">
              {won(finalAmount)}
            </td>
          </tr>
          <tr>
            <th>{t("지갑 잔액", "Wallet balance")}</th>
            <td className="num">{won(walletBalance)}</td>
          </tr>
          {method !== "wallet" ? (
            <>
              <tr>
                <th>{t("지갑 결제", "Paid from the wallet")}</th>
                <td className="num">{won(finalAmount - cardPart)}</td>
              </tr>
              <tr>
                <th>{t("카드 결제", "Paid by card")}</th>
                <td className="num" data-testid="card-amount">
                  {won(cardPart)}
                </td>
              </tr>
            </>
          ) : null}
        </tbody>
      </table>
      <ErrorNotice error={place.error} />
      <div>
        <button
          type="button"
          onClick={(event) => {
            if (checkout.passes(placeOrderInput, orderInput, event.currentTarget.closest("section"))) place.mutate();
          }}
          disabled={!orderable || place.isPending || (userCouponId !== null && !preview.isSuccess)}
        >
          {place.isPending ? t("결제 중…", "Paying…") : t(`${won(finalAmount)} 결제하기`, `Pay ${won(finalAmount)}`)}
        </button>
      </div>
    </section>
  );
}
