/**
 * The browser's session lives in an httpOnly, SameSite=Strict cookie, not in page JavaScript: a script
 * injected into a page cannot read it and carry it off, and it survives a reload. The pages still log in
 * with `identity.login` (which answers a token, as for every other client) and hand that token straight
 * to `POST /session`, which checks it and sets the cookie; the page keeps no copy.
 * Cross-site requests never carry a SameSite=Strict cookie, and `/session` also insists on same-origin
 * JSON, so another site can neither use nor plant a session.
 */
import type { Context, Env, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";

export const SESSION_COOKIE = "agora_session";

interface SessionResolver {
  resolveSession(token: string): Promise<{ expiresAt: Date | string } | null>;
}

/** The token of a request: the Authorization header first (API clients), else the browser's cookie. */
export function sessionCookieToken(c: Context): string | null {
  return getCookie(c, SESSION_COOKIE) ?? null;
}

function sameOrigin(c: Context): boolean {
  const origin = c.req.header("origin");
  if (!origin) return true; // same-origin fetches of some browsers omit it on POST; SameSite covers the rest
  try {
    return new URL(origin).host === new URL(c.req.url).host;
  } catch {
    return false;
  }
}

export function mountSessionRoutes<E extends Env>(app: Hono<E>, identity: SessionResolver) {
  app.post("/session", async (c) => {
    if (!sameOrigin(c) || !(c.req.header("content-type") ?? "").includes("application/json")) {
      return c.json({ error: { message: "Forbidden", code: "FORBIDDEN" } }, 403);
    }
    const body = (await c.req.json().catch(() => null)) as { token?: unknown } | null;
    const token = typeof body?.token === "string" ? body.token : null;
    const session = token ? await identity.resolveSession(token) : null;
    if (!token || !session) return c.json({ error: { message: "Not a live session", code: "UNAUTHENTICATED" } }, 401);
    const maxAge = Math.max(0, Math.floor((new Date(session.expiresAt).getTime() - Date.now()) / 1000));
    setCookie(c, SESSION_COOKIE, token, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/",
      secure: new URL(c.req.url).protocol === "https:",
      maxAge,
    });
    return c.json({ ok: true });
  });
  app.delete("/session", (c) => {
    if (!sameOrigin(c)) return c.json({ error: { message: "Forbidden", code: "FORBIDDEN" } }, 403);
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.json({ ok: true });
  });
}
