/**
 * Serves the storefront at `/` and the operator console at `/admin` from the Hono app, so the pages get
 * the same secure headers as the API plus a strict Content-Security-Policy (scripts and styles from this
 * origin only; no inline script). Client-side routes (e.g. /products/12, /admin/orders) answer the app's page.
 *
 * A page is streamed: its head (stylesheet, bundle, preloads) goes out at once so the browser fetches the
 * bundle while the server answers the first view's queries (shared/first-view.ts) as the request's caller;
 * the answers follow in the app's root element (the storefront's home rendered from them) and a JSON data
 * block the bundle reads before its first render.
 */
import { watch } from "node:fs";
import type { Context, Hono } from "hono";
import superjson from "superjson";
import type { PagePrefetch } from "../server/http.ts";
import { buildWeb, type WebBuild } from "./build.ts";
import { dashboardQueries, FIRST_VIEW_ELEMENT_ID, type FirstViewQuery, homeQueries, sessionQueries } from "./shared/first-view.ts";

const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'", // React's style attributes
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The element each app renders into (index.html). */
const ROOT_ELEMENT = '<div id="root"></div>';

/** The language the server renders a first view in (shared/app.tsx SERVER_LANG: the visitor's own choice is only known to the browser). */
const SERVER_LANG = "ko";

type FirstViewRenderer = (path: string, answers: readonly [readonly unknown[], unknown][]) => string;
/** Loaded by path, not imported: it is page code (React, DOM types), checked with apps/web/tsconfig.json. */
const STOREFRONT_RENDERER = new URL("./storefront/server.tsx", import.meta.url).href;

/** Storefront paths the client router owns. */
const STOREFRONT_PATHS = ["/", "/products", "/products/:id", "/cart", "/wallet", "/coupons", "/orders", "/orders/:id", "/login", "/signup", "/account"];

export interface WebPages {
  build: WebBuild;
  /** Rebuilds after a change (dev). */
  rebuild(): Promise<void>;
  stopWatching(): void;
}

export async function mountWebPages(
  app: Hono<{ Variables: { requestId: string } }>,
  options: { dev: boolean; log?: (message: string, error?: unknown) => void; prefetch?: PagePrefetch },
): Promise<WebPages> {
  const pages: WebPages = {
    build: await buildWeb({ minify: !options.dev }),
    async rebuild() {
      try {
        pages.build = await buildWeb({ minify: !options.dev });
        options.log?.("web pages rebuilt");
      } catch (error) {
        options.log?.("web pages failed to build", error);
      }
    },
    stopWatching: () => {},
  };
  /**
   * A page with its first view's answers (a JSON data block the bundle reads) and, given `render`, the
   * first view itself rendered from them. `shared`: the same page for everyone (public data only); else it
   * carries the caller's own data and no cache may keep it.
   */
  const page = (c: Context, which: "storefront" | "console", queries: readonly FirstViewQuery[], how: { shared: boolean; render?: FirstViewRenderer }) => {
    const html = which === "storefront" ? pages.build.storefrontHtml : pages.build.consoleHtml;
    const root = html.indexOf(ROOT_ELEMENT);
    const headers = {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": PAGE_CSP,
      "Cache-Control": how.shared ? "no-cache" : "private, no-store",
    };
    if (root < 0) return new Response(html, { headers }); // an index.html without the root element: the bundle does it all
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode(html.slice(0, root)));
        const answers = await firstViewAnswers(c, queries);
        let rendered = "";
        if (how.render && answers.length > 0) {
          try {
            rendered = `<div id="root" data-rendered="${SERVER_LANG}">${how.render(c.req.path, answers)}</div>`;
          } catch (error) {
            options.log?.("first view failed to render on the server (the browser renders it)", error);
          }
        }
        controller.enqueue(encoder.encode(rendered || ROOT_ELEMENT));
        if (answers.length > 0) {
          controller.enqueue(
            encoder.encode(`<script type="application/json" id="${FIRST_VIEW_ELEMENT_ID}">${jsonForHtml(superjson.stringify(answers))}</script>`),
          );
        }
        controller.enqueue(encoder.encode(html.slice(root + ROOT_ELEMENT.length)));
        controller.close();
      },
    });
    return new Response(body, { headers });
  };
  /** The first view's answers as [query key, data] (a refused query is left out: the page asks for it and shows why). */
  const firstViewAnswers = async (c: Context, queries: readonly FirstViewQuery[]) => {
    const entries: [FirstViewQuery["key"], unknown][] = [];
    if (queries.length === 0 || !options.prefetch) return entries;
    const answers = await options.prefetch(c, queries).catch(() => []);
    queries.forEach((query, i) => {
      const answer = answers[i];
      if (answer && "data" in answer) entries.push([query.key, answer.data]);
      // useMe's own reading of a visitor (shared/session.ts): no session is `null`, not an error.
      else if (answer?.refused === "UNAUTHENTICATED" && query.key[0] === "me") entries.push([query.key, null]);
    });
    return entries;
  };
  app.get("/assets/:file", (c) => {
    const asset = pages.build.assets.get(`/assets/${c.req.param("file")}`);
    if (!asset) return c.notFound();
    // Hashed names (dev rebuilds keep names stable, so no long cache there).
    const headers: Record<string, string> = {
      "Content-Type": asset.type,
      "Cache-Control": options.dev ? "no-cache" : "public, max-age=31536000, immutable",
      Vary: "Accept-Encoding",
    };
    const gzip = asset.gzipped && /\bgzip\b/.test(c.req.header("accept-encoding") ?? "");
    if (gzip) headers["Content-Encoding"] = "gzip";
    return c.body((gzip ? asset.gzipped : asset.body) as Uint8Array<ArrayBuffer>, 200, headers);
  });
  const home = Object.values(homeQueries);
  const consoleShell = Object.values(sessionQueries);
  const dashboard = [...consoleShell, ...Object.values(dashboardQueries)];
  const { renderStorefront } = (await import(STOREFRONT_RENDERER)) as { renderStorefront: FirstViewRenderer };
  for (const path of STOREFRONT_PATHS) {
    app.get(path, (c) => page(c, "storefront", path === "/" ? home : [], { shared: true, render: path === "/" ? renderStorefront : undefined }));
  }
  app.get("/admin", (c) => page(c, "console", dashboard, { shared: false }));
  app.get("/admin/*", (c) => page(c, "console", consoleShell, { shared: false }));
  if (options.dev) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const watcher = watch(new URL(".", import.meta.url).pathname, { recursive: true }, (_event, file) => {
      if (file?.startsWith(".build")) return;
      clearTimeout(timer);
      timer = setTimeout(() => void pages.rebuild(), 100);
    });
    pages.stopWatching = () => watcher.close();
  }
  return pages;
}

/** JSON that cannot close its <script> element (`</script>` or `<!--` in a product name): every `<` escaped, as JSON allows. */
function jsonForHtml(json: string): string {
  return json.replaceAll("<", "\\u003c");
}
