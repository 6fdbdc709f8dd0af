/**
 * The pages' typed client: apps/client's `createAgoraClient` (it imports only `type AppRouter`).
 * No token in page JavaScript: same-origin calls carry the httpOnly session cookie (apps/web/server/session.ts).
 */
import { QueryClient } from "@tanstack/react-query";
import { createAgoraClient } from "../../client/index.ts";

export { domainCodeOf, TRPCClientError } from "../../client/index.ts";

export const api = createAgoraClient({ url: typeof location === "undefined" ? "http://127.0.0.1" : location.origin });

export type Api = typeof api;
/** The resolved output of a procedure call, e.g. `Out<Api["cart"]["get"]["query"]>`. */
export type Out<F extends (...args: never[]) => Promise<unknown>> = Awaited<ReturnType<F>>;

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: { staleTime: 10_000, retry: (count, error) => count < 1 && !("data" in (error as object)), refetchOnWindowFocus: false },
  },
});

/** Logs in, then trades the token for the httpOnly cookie; the token is not kept. */
export async function logIn(email: string, password: string) {
  const session = await api.identity.login.mutate({ email, password });
  await keepSession(session.token);
  return session.user;
}

export async function keepSession(token: string) {
  const response = await fetch("/session", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token }) });
  if (!response.ok) throw new Error("session cookie refused");
}

export async function logOut() {
  await api.identity.logout.mutate().catch(() => undefined);
  await fetch("/session", { method: "DELETE" });
  queryClient.clear();
}

/** A fresh idempotency key per intended operation (a UUID fits the key's alphabet). */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
