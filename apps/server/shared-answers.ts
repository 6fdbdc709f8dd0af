/**
 * Answers that are the same for every caller, kept whole for a moment: what a CDN's micro-cache does
 * for a public page, inside the server. A procedure opts in with `.meta({ shared: true })` — a public
 * query whose answer reads nothing of the caller and costs no rate limit (sales.popular). A GET of
 * such a query (or a batch of only such queries) is answered from here for `ttlMs`, byte for byte as
 * tRPC answered it, without the tRPC round through input decoding, middleware and serialization; the
 * answer also says `Cache-Control: public, max-age=…` so a CDN or browser in front may do the same.
 * Only successful answers are kept; errors always go through tRPC.
 */
import type { AnyTRPCRouter } from "@trpc/server";
import type { ProcedureMeta } from "../../modules/kernel/index.ts";

interface Kept {
  body: Uint8Array;
  contentType: string;
  until: number;
}

export interface SharedAnswers {
  /** The kept answer for this request, or null (not shared, not kept, expired). */
  answer(method: string, url: string): Response | null;
  /** Whether a request is for shared procedures only, so its answer may be kept. */
  isShared(method: string, url: string): boolean;
  /** Keeps a successful answer (reads a clone of it) and marks the original cacheable. */
  keep(url: string, response: Response): Promise<Response>;
}

/** At most this many distinct URLs are kept (inputs vary: days, limit); the oldest go first. */
const MAX_KEPT = 1_000;

export function createSharedAnswers(router: AnyTRPCRouter, ttlMs: number, now: () => number): SharedAnswers {
  const procedures = router._def.procedures as Record<string, { _def: { type: string; meta?: ProcedureMeta } }>;
  const shared = new Set(
    Object.entries(procedures)
      .filter(([, procedure]) => procedure._def.type === "query" && procedure._def.meta?.shared === true && procedure._def.meta.cost === undefined)
      .map(([path]) => path),
  );
  const kept = new Map<string, Kept>();
  const maxAge = `public, max-age=${Math.max(1, Math.floor(ttlMs / 1000))}`;

  /** `/trpc/a,b?…` → the paths, when every one of them is shared. */
  function sharedPaths(method: string, url: string): boolean {
    if (ttlMs <= 0 || shared.size === 0 || method !== "GET") return false;
    const start = url.indexOf("/trpc/");
    if (start < 0) return false;
    const query = url.indexOf("?", start);
    const paths = url.slice(start + 6, query < 0 ? undefined : query);
    return paths.length > 0 && paths.split(",").every((path) => shared.has(decodeURIComponent(path)));
  }

  const keyOf = (url: string) => url.slice(url.indexOf("/trpc/"));

  return {
    isShared: sharedPaths,
    answer(method, url) {
      if (!sharedPaths(method, url)) return null;
      const key = keyOf(url);
      const entry = kept.get(key);
      if (!entry) return null;
      if (entry.until <= now()) {
        kept.delete(key);
        return null;
      }
      return new Response(entry.body, { status: 200, headers: { "content-type": entry.contentType, "cache-control": maxAge } });
    },
    async keep(url, response) {
      if (response.status !== 200) return response;
      const body = new Uint8Array(await response.clone().arrayBuffer());
      if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value as string);
      kept.set(keyOf(url), { body, contentType: response.headers.get("content-type") ?? "application/json", until: now() + ttlMs });
      response.headers.set("cache-control", maxAge);
      return response;
    },
  };
}
