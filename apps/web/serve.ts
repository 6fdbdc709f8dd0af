/**
 * Serves the storefront at `/` and the operator console at `/admin` from the Hono app, so the pages get
 * the same secure headers as the API plus a strict Content-Security-Policy (scripts and styles from this
 * origin only; no inline script). Client-side routes (e.g. /products/12, /admin/orders) answer the app's page.
 */
import { watch } from "node:fs";
import type { Hono } from "hono";
import { buildWeb, type WebBuild } from "./build.ts";

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
  options: { dev: boolean; log?: (message: string, error?: unknown) => void },
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
  const html = (body: string) =>
    new Response(body, {
      headers: { "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache" },
    });
  app.get("/assets/:file", (c) => {
    const asset = pages.build.assets.get(`/assets/${c.req.param("file")}`);
    if (!asset) return c.notFound();
    // Hashed names (dev rebuilds keep names stable, so no long cache there).
    return c.body(asset.body as Uint8Array<ArrayBuffer>, 200, {
      "Content-Type": asset.type,
      "Cache-Control": options.dev ? "no-cache" : "public, max-age=31536000, immutable",
    });
  });
  for (const path of STOREFRONT_PATHS) app.get(path, () => html(pages.build.storefrontHtml));
  app.get("/admin", () => html(pages.build.consoleHtml));
  app.get("/admin/*", () => html(pages.build.consoleHtml));
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
