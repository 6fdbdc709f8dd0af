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
  answer(method: string, url: string, headers: Headers): Response | null;
  /** Whether a request is for shared procedures only, so its answer may be kept. */
  isShared(method: string, url: string, headers: Headers): boolean;
  /** Keeps a successful answer (reads a clone of it) and marks the original cacheable. */
  keep(url: string, response: Response): Promise<Response>;
}

/** What else picks the answer's form: a CDN in front must not hand a streamed answer to a plain caller. */
const VARY = "trpc-accept, accept";

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

  /**
   * A GET of `/trpc/a,b?…` where every path is shared, answered as plain JSON: a streamed answer
   * (`trpc-accept: application/jsonl`) is 200 even when a call inside it failed, so it is never kept.
   */
  function sharedPaths(method: string, url: string, headers: Headers): boolean {
    if (ttlMs <= 0 || shared.size === 0 || method !== "GET") return false;
    if (headers.has("trpc-accept") || headers.get("accept")?.includes("jsonl")) return false;
    const start = url.indexOf("/trpc/");
    if (start < 0) return false;
    const query = url.indexOf("?", start);
    const paths = url.slice(start + 6, query < 0 ? undefined : query);
    if (paths.length === 0) return false;
    try {
      return paths.split(",").every((path) => shared.has(decodeURIComponent(path)));
    } catch {
      return false; // a malformed escape: tRPC answers it as any unknown path
    }
  }

  const keyOf = (url: string) => url.slice(url.indexOf("/trpc/"));

  return {
    isShared: sharedPaths,
    answer(method, url, headers) {
      if (!sharedPaths(method, url, headers)) return null;
      const key = keyOf(url);
      const entry = kept.get(key);
      if (!entry) return null;
      if (entry.until <= now()) {
        kept.delete(key);
        return null;
      }
      return new Response(entry.body, { status: 200, headers: { "content-type": entry.contentType, "cache-control": maxAge, vary: VARY } });
    },
    async keep(url, response) {
      if (response.status !== 200 || !response.headers.get("content-type")?.startsWith("application/json")) return response;
      const body = new Uint8Array(await response.clone().arrayBuffer());
      if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value as string);
      kept.set(keyOf(url), { body, contentType: response.headers.get("content-type") ?? "application/json", until: now() + ttlMs });
      response.headers.set("cache-control", maxAge);
      response.headers.set("vary", VARY);
      return response;
    },
  };
}
