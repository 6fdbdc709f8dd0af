/**
 * Read-only REST routes in the shape the design documents (seeds 002–004) draw, for clients that
 * do not speak tRPC: they call the same procedures through a server-side caller, so rules, caching
 * and validation are the tRPC ones. Errors answer `{ error: <domain code>, message, ...details }`.
 */
import { TRPCError } from "@trpc/server";
import type { Context, Hono } from "hono";
import { ZodError, z } from "zod";
import { createCallerFactory, DomainError, type Logger, type RequestContext } from "../../modules/kernel/index.ts";
import type { AppRouter } from "./router.ts";

const httpStatusOf: Record<string, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  TOO_MANY_REQUESTS: 429,
  UNPROCESSABLE_CONTENT: 422,
  SERVICE_UNAVAILABLE: 503,
};

function numberParam(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : Number.NaN; // NaN fails validation with a clear field error
}

export function mountRestRoutes(app: Hono<{ Variables: { requestId: string } }>, router: AppRouter, logger: Logger): void {
  const callerFor = createCallerFactory(router);
  const anonymous = (c: Context<{ Variables: { requestId: string } }>) =>
    callerFor({ requestId: c.get("requestId"), ip: null, session: null, log: logger, metrics: null } satisfies RequestContext);

  async function answer(c: Context<{ Variables: { requestId: string } }>, call: () => Promise<unknown>) {
    try {
      return c.json(await call());
    } catch (error) {
      if (error instanceof DomainError) {
        return c.json(
          { error: error.domainCode, message: error.message, ...(error.ref ? { code: error.ref } : {}), ...error.details },
          httpStatusOf[error.code] as 400,
        );
      }
      if (error instanceof TRPCError && error.cause instanceof ZodError) {
        return c.json({ error: "VALIDATION_FAILED", message: "Invalid input", fieldErrors: z.flattenError(error.cause).fieldErrors }, 400);
      }
      throw error; // the app's error handler answers 500 without details
    }
  }

  app.get("/api/products", (c) =>
    answer(c, () =>
      anonymous(c).catalog.list({
        category: c.req.query("category"),
        minPrice: numberParam(c.req.query("minPrice")),
        maxPrice: numberParam(c.req.query("maxPrice")),
        sort: (c.req.query("sort") as "newest" | undefined) ?? undefined,
        cursor: c.req.query("cursor"),
        limit: numberParam(c.req.query("limit")),
      }),
    ),
  );
  // Before /:productId, which would take "popular" as an id.
  app.get("/api/products/popular", (c) =>
    answer(c, () => anonymous(c).sales.popular({ days: numberParam(c.req.query("days")), limit: numberParam(c.req.query("limit")) })),
  );
  app.get("/api/products/:productId", (c) => answer(c, () => anonymous(c).catalog.get({ productId: numberParam(c.req.param("productId")) as number })));
  app.get("/api/products/:productId/stock", (c) => answer(c, () => anonymous(c).catalog.stock({ productId: numberParam(c.req.param("productId")) as number })));
  app.get("/api/coupons", (c) =>
    answer(c, () => anonymous(c).coupons.list({ limit: numberParam(c.req.query("limit")), after: numberParam(c.req.query("after")) })),
  );
}
