/**
 * `/openapi.json`, generated from the REST route table (rest.ts) and each procedure's zod input
 * schema (`z.toJSONSchema`), and `/docs`, an API reference page (Scalar) that reads it. Nothing here
 * is written twice: a new route row or a changed input schema changes the document.
 */
import { Scalar } from "@scalar/hono-api-reference";
import type { Hono } from "hono";
import { inputJsonSchemaOf, pathParamsOf, restRoutes } from "./rest.ts";
import type { AppRouter } from "./router.ts";

type JsonSchema = { type?: string; properties?: Record<string, unknown>; required?: string[]; [key: string]: unknown };

const errorBody = {
  type: "object",
  description: "A refusal: the domain code, a message, the seeds' reference code when it has one, and details.",
  properties: {
    error: { type: "string", examples: ["INSUFFICIENT_STOCK", "INSUFFICIENT_BALANCE", "COUPON_SOLD_OUT", "VALIDATION_FAILED"] },
    message: { type: "string" },
    code: { type: "string", description: "The seeds' reference code", examples: ["P002", "PAY001", "C001", "C004"] },
    fieldErrors: { type: "object", additionalProperties: { type: "array", items: { type: "string" } }, description: "Only for VALIDATION_FAILED" },
  },
  required: ["error", "message"],
  additionalProperties: true,
};

function errorResponse(description: string) {
  return { description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
}

function openApiDocument(router: AppRouter) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of restRoutes) {
    const schema = inputJsonSchemaOf(router, route.procedure) as JsonSchema | null;
    const properties = schema?.properties ?? {};
    const required = new Set(schema?.required ?? []);
    const params = pathParamsOf(route.path);
    const parameters: unknown[] = params.map((name) => ({ name, in: "path", required: true, schema: properties[name] ?? { type: "integer" } }));
    let requestBody: unknown;
    const rest = Object.fromEntries(Object.entries(properties).filter(([name]) => !params.includes(name)));
    if (route.method === "get") {
      for (const [name, property] of Object.entries(rest)) parameters.push({ name, in: "query", required: required.has(name), schema: property });
    } else if (schema) {
      const bodyRequired = [...required].filter((name) => !params.includes(name));
      requestBody = {
        required: bodyRequired.length > 0,
        content: { "application/json": { schema: { ...schema, properties: rest, required: bodyRequired.length ? bodyRequired : undefined } } },
      };
    }
    const ignored = ["userId", ...(route.ignored ?? [])].map((name) => `\`${name}\``).join(", ");
    paths[route.path.replace(/:(\w+)/g, "{$1}")] ??= {};
    (paths[route.path.replace(/:(\w+)/g, "{$1}")] as Record<string, unknown>)[route.method] = {
      operationId: route.procedure,
      summary: route.summary,
      tags: [route.tag],
      description:
        `Calls the tRPC procedure \`${route.procedure}\` (docs/api.md describes its rules and errors).` +
        (route.auth ? ` The caller is the bearer token's user: ${ignored} in the body or query is ignored.` : ""),
      parameters,
      ...(requestBody ? { requestBody } : {}),
      ...(route.auth ? { security: [{ bearer: [] }] } : {}),
      responses: {
        200: { description: "OK", content: { "application/json": { schema: {} } } },
        400: errorResponse("Bad input (VALIDATION_FAILED with fieldErrors) or a refused rule (e.g. INSUFFICIENT_STOCK P002, INSUFFICIENT_BALANCE PAY001)"),
        ...(route.auth ? { 401: errorResponse("No or an expired bearer token (UNAUTHENTICATED)") } : {}),
        404: errorResponse("Not found (e.g. PRODUCT_NOT_FOUND, P001)"),
        409: errorResponse("A conflict (e.g. COUPON_SOLD_OUT C001, ALREADY_ISSUED C004)"),
        429: errorResponse("Too many requests"),
        503: errorResponse("A dependency is unavailable; retry"),
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Agora REST API",
      version: "1.0.0",
      description:
        "The seeds' REST paths, served from the same procedures as tRPC at /trpc. Sign in with the tRPC procedure " +
        "`identity.login` (or `bun run agora login`) and send `Authorization: Bearer <token>`.",
    },
    paths,
    components: {
      schemas: { Error: errorBody },
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A session token from identity.login or identity.signUp" } },
    },
  };
}

export function mountOpenApi(app: Hono<{ Variables: { requestId: string } }>, router: AppRouter): void {
  const document = openApiDocument(router);
  app.get("/openapi.json", (c) => c.json(document));
  app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "Agora API reference" }));
}
