/**
 * The typed Agora client. Other TypeScript projects, our scripts and our tests use it;
 * it imports only the router's type from the server.
 */
import { createTRPCClient, httpBatchLink, httpLink, TRPCClientError } from "@trpc/client";
import superjson from "superjson";
import type { AppRouter } from "../server/index.ts";

export type { AppRouter };

type LinkFetch = NonNullable<Parameters<typeof httpLink>[0]["fetch"]>;

export interface AgoraClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:3000 (the client adds /trpc). */
  url: string;
  /** Bearer token from identity.login or identity.signUp. */
  token?: string | null | (() => string | null | undefined);
  /** Batch concurrent calls into one HTTP request (default true). */
  batch?: boolean;
  /** Most calls in one batch (default 50, the server's MAX_BATCH_CALLS default); more are split into several requests. */
  maxBatchCalls?: number;
  /** Custom fetch, e.g. an in-process Hono app's fetch in tests. */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
}

export function createAgoraClient(options: AgoraClientOptions) {
  const linkOptions = {
    url: `${options.url.replace(/\/$/, "")}/trpc`,
    transformer: superjson,
    // Bun's fetch and tRPC's structural FetchEsque differ only in ReadableStream overloads.
    fetch: options.fetch as LinkFetch | undefined,
    headers() {
      const token = typeof options.token === "function" ? options.token() : options.token;
      return { ...options.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) };
    },
  };
  return createTRPCClient<AppRouter>({
    links: [options.batch === false ? httpLink(linkOptions) : httpBatchLink({ ...linkOptions, maxItems: options.maxBatchCalls ?? 50 })],
  });
}

export type AgoraClient = ReturnType<typeof createAgoraClient>;

/** The domain code of a failed call (INSUFFICIENT_STOCK, COUPON_SOLD_OUT, ...), if it has one. */
export function domainCodeOf(error: unknown): string | null {
  if (error instanceof TRPCClientError) {
    const data = (error as TRPCClientError<AppRouter>).data as { domainCode?: string | null } | undefined;
    return data?.domainCode ?? null;
  }
  return null;
}

export { TRPCClientError };
