/** The operator console (관리자 패널), served at `/admin`. Refuses any account that is not an admin. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Suspense } from "react";
import { Link, Route, Router, Switch } from "wouter";
import { logIn, logOut } from "../shared/api.ts";
import { lazyPage, mountApp, NavLink } from "../shared/app.tsx";
import { ErrorNotice } from "../shared/errors.tsx";
import { useT } from "../shared/i18n.ts";
import { useMe } from "../shared/session.ts";
import { formValues, LangSwitch, Loading } from "../shared/ui.tsx";
import { DashboardPage } from "./dashboard.tsx";

// The dashboard comes with the first bundle; every other page (and uPlot, zod's forms) when first opened.
const CouponPage = lazyPage(() => import("./coupon.tsx"), "CouponPage");
const CustomerPage = lazyPage(() => import("./customers.tsx"), "CustomerPage");
const CustomersPage = lazyPage(() => import("./customers.tsx"), "CustomersPage");
const CouponsPage = lazyPage(() => import("./operations.tsx"), "CouponsPage");
const NotificationsPage = lazyPage(() => import("./operations.tsx"), "NotificationsPage");
const OutboxPage = lazyPage(() => import("./operations.tsx"), "OutboxPage");
const OrderPage = lazyPage(() => import("./orders.tsx"), "OrderPage");
const OrdersPage = lazyPage(() => import("./orders.tsx"), "OrdersPage");
const ProductPage = lazyPage(() => import("./products.tsx"), "ProductPage");
const ProductsPage = lazyPage(() => import("./products.tsx"), "ProductsPage");
const ReportsPage = lazyPage(() => import("./reports.tsx"), "ReportsPage");
const WebhooksPage = lazyPage(() => import("./webhooks.tsx"), "WebhooksPage");

function AdminLogin({ refused }: { refused: boolean }) {
  const t = useT();
  const queries = useQueryClient();
  const login = useMutation({
    mutationFn: (v: Record<string, string>) => logIn(v.email ?? "", v.password ?? ""),
    onSuccess: () => queries.invalidateQueries(),
  });
  const logout = useMutation({ mutationFn: logOut, onSuccess: () => queries.invalidateQueries() });
  return (
    <main style={{ maxWidth: 460, margin: "4rem auto" }}>
      <form
        className="card stack"
        onSubmit={(event) => {
          event.preventDefault();
          login.mutate(formValues(event.currentTarget));
        }}
      >
        <div className="row spread">
          <h1>{t("Agora 관리자", "Agora console")}</h1>
          <LangSwitch />
        </div>
        {refused ? (
          <div className="notice error" role="alert" data-code="NOT_ADMIN">
            <strong>{t("관리자 계정이 아닙니다", "This account is not an operator")}</strong>
            {t("관리자 계정으로 다시 로그인해 주세요.", "Log in with an operator account.")}{" "}
            <button type="button" className="link" onClick={() => logout.mutate()}>
              {t("로그아웃", "Log out")}
            </button>
          </div>
        ) : null}
        <label>
          {t("이메일", "Email")}
          <input name="email" type="email" required autoComplete="username" />
        </label>
        <label>
          {t("비밀번호", "Password")}
          <input name="password" type="password" required autoComplete="current-password" />
        </label>
        <ErrorNotice error={login.error} />
        <div className="row spread">
          <button type="submit" disabled={login.isPending}>
            {t("로그인", "Log in")}
          </button>
          <a href="/">{t("쇼핑몰로", "To the shop")}</a>
        </div>
      </form>
    </main>
  );
}

function Console() {
  const t = useT();
  const me = useMe();
  const queries = useQueryClient();
  const logout = useMutation({ mutationFn: logOut, onSuccess: () => queries.invalidateQueries() });
  if (me.isPending) return <Loading />;
  if (me.isError) return <ErrorNotice error={me.error} />;
  if (me.data?.role !== "admin") return <AdminLogin refused={!!me.data} />;
  return (
    <div className="layout-admin">
      <nav className="side" aria-label={t("관리 메뉴", "Console")}>
        <Link className="brand" href="/">
          Agora<span style={{ color: "#7aa2ff" }}>.</span> {t("관리자", "Console")}
        </Link>
        <NavLink href="/">{t("대시보드", "Dashboard")}</NavLink>
        <NavLink href="/products">{t("상품·재고", "Products & stock")}</NavLink>
        <NavLink href="/orders">{t("주문", "Orders")}</NavLink>
        <NavLink href="/customers">{t("고객", "Customers")}</NavLink>
        <NavLink href="/coupons">{t("쿠폰", "Coupons")}</NavLink>
        <NavLink href="/reports">{t("리포트", "Reports")}</NavLink>
        <NavLink href="/outbox">{t("아웃박스", "Outbox")}</NavLink>
        <NavLink href="/notifications">{t("알림 기록", "Notifications")}</NavLink>
        <NavLink href="/webhooks">{t("웹훅", "Webhooks")}</NavLink>
        <div style={{ marginTop: "1.5rem", padding: "0 .7rem" }} className="stack small">
          <div>{me.data.name}</div>
          <LangSwitch />
          <button type="button" className="secondary" onClick={() => logout.mutate()}>
            {t("로그아웃", "Log out")}
          </button>
        </div>
      </nav>
      <main className="admin-main" id="content">
        <Suspense fallback={<Loading />}>
          <Switch>
            <Route path="/" component={DashboardPage} />
            <Route path="/products" component={ProductsPage} />
            <Route path="/products/:id" component={ProductPage} />
            <Route path="/orders" component={OrdersPage} />
            <Route path="/orders/:id" component={OrderPage} />
            <Route path="/customers" component={CustomersPage} />
            <Route path="/customers/:id" component={CustomerPage} />
            <Route path="/coupons" component={CouponsPage} />
            <Route path="/coupons/:id" component={CouponPage} />
            <Route path="/reports" component={ReportsPage} />
            <Route path="/outbox" component={OutboxPage} />
            <Route path="/notifications" component={NotificationsPage} />
            <Route path="/webhooks" component={WebhooksPage} />
            <Route>{t("페이지를 찾을 수 없습니다", "Page not found")}</Route>
          </Switch>
        </Suspense>
      </main>
    </div>
  );
}

mountApp(
  <Router base="/admin">
    <Console />
  </Router>,
);
