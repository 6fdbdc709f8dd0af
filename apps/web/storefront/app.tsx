/** The storefront (고객 인터페이스), served at `/`: its header and pages (main.tsx mounts it; the server renders its first view). */
import { useQuery } from "@tanstack/react-query";
import { Suspense } from "react";
import { Link, Route, Switch } from "wouter";
import { api } from "../shared/api.ts";
import { lazyPage, NavLink } from "../shared/app.tsx";
import { useT } from "../shared/i18n.ts";
import { useMe } from "../shared/session.ts";
import { LangSwitch, Loading } from "../shared/ui.tsx";
import { CatalogPage, HomePage, ProductPage } from "./catalog.tsx";

// The home, browsing and product pages come with the first bundle; the rest when first opened.
const AccountPage = lazyPage(() => import("./account.tsx"), "AccountPage");
const LoginPage = lazyPage(() => import("./account.tsx"), "LoginPage");
const SignUpPage = lazyPage(() => import("./account.tsx"), "SignUpPage");
const CartPage = lazyPage(() => import("./cart.tsx"), "CartPage");
const CouponsPage = lazyPage(() => import("./coupons.tsx"), "CouponsPage");
const OrderPage = lazyPage(() => import("./orders.tsx"), "OrderPage");
const OrdersPage = lazyPage(() => import("./orders.tsx"), "OrdersPage");
const WalletPage = lazyPage(() => import("./wallet.tsx"), "WalletPage");

function CartCount() {
  const me = useMe();
  const cart = useQuery({ queryKey: ["cart"], queryFn: () => api.cart.get.query(), enabled: !!me.data });
  const count = cart.data?.totalQuantity ?? 0;
  return count > 0 ? (
    <span className="badge" data-testid="cart-count">
      {count}
    </span>
  ) : null;
}

function Header() {
  const t = useT();
  const me = useMe();
  return (
    <header className="top">
      <div className="bar">
        <Link className="brand" href="/">
          Agora<span>.</span>
        </Link>
        <nav className="main" aria-label={t("주 메뉴", "Main")}>
          <NavLink href="/products">{t("상품", "Products")}</NavLink>
          <NavLink href="/coupons">{t("쿠폰", "Coupons")}</NavLink>
          <NavLink href="/cart">{t("장바구니", "Cart")}</NavLink>
          <CartCount />
          {me.data ? (
            <>
              <NavLink href="/orders">{t("주문내역", "Orders")}</NavLink>
              <NavLink href="/wallet">{t("지갑", "Wallet")}</NavLink>
              <NavLink href="/account">{me.data.name}</NavLink>
            </>
          ) : (
            <>
              <NavLink href="/login">{t("로그인", "Log in")}</NavLink>
              <NavLink href="/signup">{t("회원가입", "Sign up")}</NavLink>
            </>
          )}
        </nav>
        <LangSwitch />
      </div>
    </header>
  );
}

function NotFound() {
  const t = useT();
  return (
    <div className="empty">
      <h1>{t("페이지를 찾을 수 없습니다", "Page not found")}</h1>
      <Link href="/">{t("홈으로", "Home")}</Link>
    </div>
  );
}

export function StorefrontApp() {
  return (
    <>
      <Header />
      <main id="content">
        <Suspense fallback={<Loading />}>
          <Switch>
            <Route path="/" component={HomePage} />
            <Route path="/products" component={CatalogPage} />
            <Route path="/products/:id" component={ProductPage} />
            <Route path="/cart" component={CartPage} />
            <Route path="/wallet" component={WalletPage} />
            <Route path="/coupons" component={CouponsPage} />
            <Route path="/orders" component={OrdersPage} />
            <Route path="/orders/:id" component={OrderPage} />
            <Route path="/login" component={LoginPage} />
            <Route path="/signup" component={SignUpPage} />
            <Route path="/account" component={AccountPage} />
            <Route component={NotFound} />
          </Switch>
        </Suspense>
      </main>
    </>
  );
}
