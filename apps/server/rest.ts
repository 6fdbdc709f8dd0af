/**
 * REST routes in the shape the design documents (seeds 002–004) draw, for clients that do not speak
 * tRPC. Each route is one row of `restRoutes`: it names the procedure it calls through a server-side
 * caller, so rules, caching and validation are the tRPC ones, and `/openapi.json` (openapi.ts) is
 * generated from the same rows and the procedures' zod input schemas.
 *
 * Identity comes from `Authorization: Bearer <token>` only. The seeds' bodies and queries carry a
 * `userId`; it is ignored (dropped before validation), so a caller can never act for someone else.
 * Errors answer `{ error: <domain code>, message, code?: <seed ref such as P002>, ...details }`.
 */
import { TRPCError } from "@trpc/server";
import type { Context, Hono } from "hono";
import { ZodError, z } from "zod";
import { createCallerFactory, domainErrorOf, httpStatusOfKind, type Logger, type RequestContext, type Session } from "../../modules/kernel/index.ts";
import type { AppRouter } from "./router.ts";

export interface RestRoute {
  method: "get" | "post";
  /** Hono-style path; `:name` segments are path parameters. */
  path: string;
  /** The tRPC procedure it calls, e.g. "cart.addItem". */
  procedure: string;
  summary: string;
  tag: string;
  /** Needs a bearer token. */
  auth: boolean;
  /** Fields of the seeds' bodies that mean nothing here and are dropped (userId always is). */
  ignored?: string[];
}

/** Every REST path. Order matters where one path would shadow another (popular before :productId). */
export const restRoutes: RestRoute[] = [
  { method: "get", path: "/api/products", procedure: "catalog.list", summary: "List products", tag: "catalog", auth: false },
  { method: "get", path: "/api/products/popular", procedure: "sales.popular", summary: "Popular products of the last days", tag: "catalog", auth: false },
  { method: "get", path: "/api/products/:productId", procedure: "catalog.get", summary: "One product", tag: "catalog", auth: false },
  { method: "get", path: "/api/products/:productId/stock", procedure: "catalog.stock", summary: "A product's stock", tag: "catalog", auth: false },
  {
    method: "post",
    path: "/api/products/:productId/restock-notification",
    procedure: "catalog.signUpForRestock",
    summary: "Be told (at the account's email) when a sold-out product is back",
    tag: "catalog",
    auth: true,
    ignored: ["email"],
  },
  { method: "get", path: "/api/cart", procedure: "cart.get", summary: "The caller's cart", tag: "cart", auth: true },
  { method: "post", path: "/api/cart/items", procedure: "cart.addItem", summary: "Add a product to the cart", tag: "cart", auth: true },
  { method: "get", path: "/api/coupons", procedure: "coupons.list", summary: "Coupons that can be issued now", tag: "coupons", auth: false },
  {
    method: "post",
    path: "/api/coupons/validate",
    procedure: "coupons.validate",
    summary: "Check an issued coupon against an order amount",
    tag: "coupons",
    auth: true,
  },
  {
    method: "post",
    path: "/api/coupons/:couponId/issue",
    procedure: "coupons.issue",
    summary: "Issue a coupon to the caller (first come, first served)",
    tag: "coupons",
    auth: true,
  },
  {
    method: "get",
    path: "/api/users/coupons",
    procedure: "coupons.mine",
    summary: "The caller's coupons (?status=available|used|expired)",
    tag: "coupons",
    auth: true,
  },
  { method: "get", path: "/api/users/balance", procedure: "wallet.balance", summary: "The caller's balance", tag: "wallet", auth: true },
  { method: "post", path: "/api/users/balance/charge", procedure: "wallet.charge", summary: "Charge the caller's balance by card", tag: "wallet", auth: true },
  {
    method: "post",
    path: "/api/orders",
    procedure: "orders.place",
    summary: "Place and pay an order (wallet by default, card or split)",
    tag: "orders",
    auth: true,
  },
];

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

class BadBody extends Error {}

type AnyProcedure = { _def: { inputs: unknown[] } };

/** The zod input schema of a procedure, if it takes input. */
function inputSchemaOf(router: AppRouter, procedure: string): z.ZodType | null {
  const found = (router._def.procedures as unknown as Record<string, AnyProcedure | undefined>)[procedure];
  if (!found) throw new Error(`REST route names an unknown procedure: ${procedure}`);
  return (found._def.inputs[0] as z.ZodType | undefined) ?? null;
}

/** The JSON Schema (input side) of a procedure's input, as OpenAPI 3.1 takes it. */
export function inputJsonSchemaOf(
  router: AppRouter,
  procedure: string,
): { type?: string; properties?: Record<string, { type?: string }>; required?: string[] } | null {
  const schema = inputSchemaOf(router, procedure);
  if (!schema) return null;
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  delete json.$schema;
  return json as never;
}

export function pathParamsOf(path: string): string[] {
  return [...path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
}

/** Query strings and path segments are text: turn them into the numbers and booleans the schema wants. */
function coerce(value: string, type: string | undefined): unknown {
  if (type === "integer" || type === "number") return value === "" ? Number.NaN : Number(value); // NaN fails validation with a field error
  if (type === "boolean") return value === "true" ? true : value === "false" ? false : value;
  return value;
}

export function mountRestRoutes(
  app: Hono<{ Variables: { requestId: string } }>,
  router: AppRouter,
  logger: Logger,
  resolveSession: (authorization: string | undefined) => Promise<Session | null>,
): void {
  const callerFor = createCallerFactory(router);

  async function answer(c: Context<{ Variables: { requestId: string } }>, call: () => Promise<unknown>, status = 200) {
    try {
      return c.json(await call(), status as 200);
    } catch (error) {
      if (error instanceof BadBody) return c.json({ error: "VALIDATION_FAILED", message: error.message }, 400);
      // The same mapping as the tRPC answers: the refusal's kind decides the status.
      const domain = domainErrorOf(error);
      if (domain) {
        return c.json(
          { error: domain.domainCode, message: domain.message, ...(domain.ref ? { code: domain.ref } : {}), ...domain.details },
          httpStatusOfKind(domain.kind) as 400,
        );
      }
      if (error instanceof TRPCError && error.cause instanceof ZodError) {
        return c.json({ error: "VALIDATION_FAILED", message: "Invalid input", fieldErrors: z.flattenError(error.cause).fieldErrors }, 400);
      }
      if (error instanceof TRPCError && httpStatusOf[error.code]) {
        return c.json({ error: error.code, message: error.message }, httpStatusOf[error.code] as 400);
      }
      throw error; // the app's error handler answers 500 without details
    }
  }

  for (const route of restRoutes) {
    const schema = inputJsonSchemaOf(router, route.procedure);
    const properties = schema?.properties ?? {};
    const params = pathParamsOf(route.path);
    const dropped = new Set(["userId", ...(route.ignored ?? [])]);

    app[route.method](route.path, (c) =>
      answer(c, async () => {
        const fields: Record<string, unknown> = {};
        if (route.method === "get") {
          for (const [key, value] of Object.entries(c.req.query())) fields[key] = coerce(value, properties[key]?.type);
        } else {
          const text = await c.req.text();
          let body: unknown = {};
          try {
            body = text.trim() === "" ? {} : JSON.parse(text);
          } catch {
            throw new BadBody("The body is not JSON");
          }
          if (typeof body !== "object" || body === null || Array.isArray(body)) throw new BadBody("The body is not a JSON object");
          Object.assign(fields, body);
        }
        for (const key of dropped) delete fields[key];
        for (const name of params) fields[name] = coerce(c.req.param(name) ?? "", properties[name]?.type);

        const session = await resolveSession(c.req.header("authorization"));
        const context: RequestContext = { requestId: c.get("requestId"), ip: null, session, log: logger, metrics: null };
        const procedure = route.procedure.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], callerFor(context)) as (
          input?: unknown,
        ) => Promise<unknown>;
        return schema ? procedure(fields) : procedure();
      }),
    );
  }
}
