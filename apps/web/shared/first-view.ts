/**
 * The queries each app's first view starts with. The server answers them as the request's own caller and
 * sends the answers inside the page (apps/web/serve.ts), so the first view renders its data as soon as the
 * bundle runs instead of asking after it (one round trip less; two for the console, which needs `me` first).
 * The pages ask by the same keys and inputs, so they find the answers in the query cache.
 *
 * Pure data (no DOM, no React): the server imports it too.
 */
export interface FirstViewQuery {
  /** The query key the page uses (other code invalidates by it). */
  key: readonly unknown[];
  /** The procedure, e.g. "catalog.list". */
  path: string;
  input?: unknown;
}

/** Storefront `/`: popular products, new arrivals and the open coupons. Public data only: the page is the same for everyone. */
export const homeQueries = {
  popular: { key: ["popular"], path: "sales.popular", input: { days: 7, limit: 8 } },
  newest: { key: ["catalog", "home"], path: "catalog.list", input: { limit: 8 } },
  coupons: { key: ["coupons"], path: "coupons.list" },
} as const satisfies Record<string, FirstViewQuery>;

/** Who is logged in: every console page starts from it (the storefront asks for it itself, its pages are public). */
export const sessionQueries = {
  me: { key: ["me"], path: "identity.me" },
} as const satisfies Record<string, FirstViewQuery>;

/** Console `/admin`: the dashboard's figures and lists. */
export const dashboardQueries = {
  today: { key: ["reports", "sales", 1], path: "reports.admin.sales", input: { days: 1 } },
  inventory: { key: ["reports", "inventory"], path: "reports.admin.inventory" },
  dead: { key: ["outbox", "dead", "count"], path: "outbox.admin.list", input: { status: "dead", limit: 100 } },
  pending: { key: ["outbox", "stats"], path: "outbox.admin.stats" },
  notifications: { key: ["notifications", "recent"], path: "notifications.admin.list", input: { limit: 8 } },
} as const satisfies Record<string, FirstViewQuery>;

/** The element the server writes the answers into: a JSON data block, which the Content-Security-Policy lets through (it is never run). */
export const FIRST_VIEW_ELEMENT_ID = "first-view";
