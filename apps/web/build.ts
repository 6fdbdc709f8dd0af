/**
 * Builds the storefront and the operator console with Bun's own bundler (HTML entrypoints), in memory.
 * `bun run start` builds once at start (about a second); `bun run dev` rebuilds when a file under
 * apps/web changes. Nothing is written to disk and there is no separate build step to remember.
 */
import { gzipSync } from "node:zlib";

const webRoot = new URL(".", import.meta.url).pathname;

export interface WebAsset {
  body: Uint8Array;
  /** The same bytes gzipped once at build time (text assets), for clients that accept gzip. */
  gzipped: Uint8Array | null;
  type: string;
}

export interface WebBuild {
  /** Public path (e.g. "/assets/storefront-1a2b.js") → file. */
  assets: Map<string, WebAsset>;
  storefrontHtml: string;
  consoleHtml: string;
  /** Gzipped bytes of the JavaScript each page loads first (its entry and the chunks it preloads; not the pages loaded when opened). */
  gzippedJs: { storefront: number; console: number };
}

export async function buildWeb(options: { minify?: boolean } = {}): Promise<WebBuild> {
  const result = await Bun.build({
    entrypoints: [`${webRoot}storefront/index.html`, `${webRoot}console/index.html`],
    publicPath: "/assets/",
    naming: { entry: "[dir]/[name].[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
    minify: options.minify ?? true,
    // Shared chunks plus one chunk per page opened later (React.lazy): the first view loads only its own code.
    splitting: true,
    target: "browser",
    define: { "process.env.NODE_ENV": JSON.stringify(options.minify === false ? "development" : "production") },
    throw: true,
  });
  const assets = new Map<string, WebAsset>();
  let storefrontHtml = "";
  let consoleHtml = "";
  for (const output of result.outputs) {
    const relative = output.path.replace(/^\.\//, "");
    const body = new Uint8Array(await output.arrayBuffer());
    if (relative.endsWith(".html")) {
      const text = new TextDecoder().decode(body);
      if (relative.startsWith("console")) consoleHtml = text;
      else storefrontHtml = text;
      continue;
    }
    const type = output.type || "application/octet-stream";
    const text = /^(text\/|application\/(javascript|json))/.test(type);
    assets.set(`/assets/${relative.split("/").pop()}`, { body, gzipped: text ? gzipSync(body, { level: 9 }) : null, type });
  }
  const jsOf = (html: string) =>
    [...html.matchAll(/<(?:script[^>]+src|link rel="modulepreload"[^>]+href)="([^"]+)"/g)].reduce(
      (total, match) => total + (assets.get(match[1] as string)?.gzipped?.length ?? 0),
      0,
    );
  return { assets, storefrontHtml, consoleHtml, gzippedJs: { storefront: jsOf(storefrontHtml), console: jsOf(consoleHtml) } };
}
