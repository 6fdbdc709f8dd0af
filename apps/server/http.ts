/** The Hono app: HTTP hygiene, health and readiness, metrics, and tRPC at /trpc. */
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getConnInfo } from "hono/bun";
import { cors } from "hono/cors";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { sql } from "kysely";
import { type DatabaseHandle, isConnectionError } from "../../db/index.ts";
import {
  type CallLimits,
  type Clock,
  createCallerFactory,
  domainErrorOf,
  type Infra,
  kernelErrors,
  type Logger,
  type Metrics,
  type RequestContext,
  toTrpcError,
} from "../../modules/kernel/index.ts";
import { createCarrierWebhookRoute } from "../../modules/shipping/index.ts";
import { mountSessionRoutes, sessionCookieToken } from "../web/server/session.ts";
import type { AgoraConfig } from "./config.ts";
import { mountOpenApi } from "./openapi.ts";
import { mountRestRoutes } from "./rest.ts";
import type { AppRouter } from "./router.ts";
import type { Services } from "./services.ts";
import { createSharedAnswers } from "./shared-answers.ts";

/** A prefetched call's data, or the domain code it was refused with (null: no code, e.g. the database is down). */
export type PrefetchAnswer = { data: unknown } | { refused: string | null };
/** Query calls by procedure path ("catalog.list"), each answered as the request's caller would be answered. */
export type PagePrefetch = (c: Context, calls: readonly { path: string; input?: unknown }[]) => Promise<PrefetchAnswer[]>;

/** How many API calls (/trpc) are being answered right now: the outbox poller yields while there are many. */
export interface RequestLoad {
  readonly inFlight: number;
  enter(): void;
  leave(): void;
}

export function createRequestLoad(): RequestLoad {
  let inFlight = 0;
  return {
    get inFlight() {
      return inFlight;
    },
    enter() {
      inFlight++;
    },
    leave() {
      inFlight--;
    },
  };
}

export interface HttpDeps {
  database: DatabaseHandle;
  infra: Infra;
  logger: Logger;
  metrics: Metrics | null;
  config: AgoraConfig;
  router: AppRouter;
  services: Services;
  limits: CallLimits | null;
  clock: Clock;
  /** Counts the API calls being answered (the composition root shares it with the outbox poller). */
  requestLoad?: RequestLoad;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The body as text if it is valid UTF-8, else null (a lenient decode would store U+FFFD in its place). */
function utf8OrNull(bytes: ArrayBuffer): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/** Whether the query string's percent-escapes decode to valid UTF-8 (URLSearchParams would substitute U+FFFD). */
function queryIsUtf8(url: string): boolean {
  const query = url.indexOf("?");
  if (query < 0) return true;
  try {
    decodeURIComponent(url.slice(query + 1).replace(/\+/g, " "));
    return true;
  } catch {
    return false;
  }
}

const notUtf8 = { error: { message: "The request is not valid UTF-8", code: "BAD_REQUEST" } };

function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1] ?? null;
}

export function createHttpApp({ database, infra, logger, metrics, config, router, services, limits, clock, requestLoad = createRequestLoad() }: HttpDeps) {
  const app = new Hono<{ Variables: { requestId: string } }>();

  app.use("*", requestId());
  app.use("*", secureHeaders());
  if (config.corsOrigins.length > 0) {
    app.use("*", cors({ origin: config.corsOrigins, allowHeaders: ["Authorization", "Content-Type"], maxAge: 600 }));
  }
  app.use(
    "/trpc/*",
    bodyLimit({
      maxSize: config.bodyLimitBytes,
      onError: (c) => c.json({ error: { message: "Request body too large", code: "PAYLOAD_TOO_LARGE" } }, 413),
    }),
  );

  app.get("/health", (c) => c.json({ status: "ok" }));

  app.get("/ready", async (c) => {
    const [databaseUp, cacheUp] = await Promise.all([
      sql`select 1`.execute(database.db).then(
        () => true,
        () => false,
      ),
      infra.ping(),
    ]);
    const body = { status: databaseUp && cacheUp ? "ready" : "unavailable", database: databaseUp ? "up" : "down", cache: { kind: infra.kind, up: cacheUp } };
    return c.json(body, databaseUp && cacheUp ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    if (!metrics) return c.text("metrics disabled", 404);
    const pool = database.poolStats();
    metrics.dbPool.set({ state: "total" }, pool.total);
    metrics.dbPool.set({ state: "idle" }, pool.idle);
    metrics.dbPool.set({ state: "waiting" }, pool.waiting);
    return c.text(await metrics.registry.metrics(), 200, { "Content-Type": metrics.registry.contentType });
  });

  /** Plain JSON route: the Hono baseline the benchmarks compare against. */
  app.get("/ping", (c) => c.json({ pong: true }));

  const sessionOfToken = async (token: string | null) => {
    if (!token) return null;
    return services.identity.resolveSession(token).catch((error: unknown) => {
      // Thrown while the context is made, before any procedure: answer as the procedures would (503).
      if (isConnectionError(error)) throw toTrpcError(kernelErrors.SERVICE_UNAVAILABLE.create({ dependency: "database", retryable: true }));
      throw error;
    });
  };
  const sessionOf = (authorization: string | undefined) => sessionOfToken(bearerToken(authorization));

  /**
   * A request's caller: its session (API clients send a bearer token; the web pages an httpOnly cookie)
   * and its address, looked up only when a limit or a login asks for it (a no-op query never does).
   */
  const requestContext = async (c: Context<{ Variables: { requestId: string } }>): Promise<RequestContext> => {
    let ip: string | null | undefined;
    const clientIp = (): string | null => {
      if (ip !== undefined) return ip;
      ip = config.trustProxy ? (c.req.header("x-forwarded-for")?.split(",")[0]?.trim() ?? null) : null;
      if (!ip) {
        try {
          ip = getConnInfo(c).remote.address ?? null;
        } catch {
          ip = null; // in-process requests (tests) have no socket
        }
      }
      return ip;
    };
    const session = await sessionOfToken(bearerToken(c.req.header("authorization")) ?? sessionCookieToken(c));
    return {
      requestId: c.get("requestId"),
      get ip() {
        return clientIp();
      },
      session,
      log: logger,
      metrics,
      limits,
    };
  };
  const createCaller = createCallerFactory(router);

  /**
   * Runs queries as the request's own caller through the router (the same procedures, checks, limits and
   * logs as /trpc), for a page that sends its first view's data with its HTML. A refused call answers its
   * domain code instead of data; the page then asks for it itself and shows the refusal as usual.
   */
  const prefetch: PagePrefetch = async (c, calls) => {
    const caller = await requestContext(c).then(createCaller, () => null);
    return Promise.all(
      calls.map(async ({ path, input }): Promise<PrefetchAnswer> => {
        if (!caller) return { refused: null };
        const procedure = path.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller);
        try {
          return { data: await (procedure as (input: unknown) => Promise<unknown>)(input) };
        } catch (error) {
          return { refused: domainErrorOf(error)?.domainCode ?? null };
        }
      }),
    );
  };

  const sharedAnswers = createSharedAnswers(router, config.sharedAnswerCacheMs, () => clock.now().getTime());

  /** One /trpc request: its calls run through the router (the shared answers are served before it). */
  const answerCall = async (c: Context<{ Variables: { requestId: string } }>) => {
    const id = c.get("requestId");
    if (!queryIsUtf8(c.req.url)) return c.json(notUtf8, 400);
    let req = c.req.raw;
    if (req.body !== null && req.method !== "GET" && req.method !== "HEAD") {
      const text = utf8OrNull(await c.req.arrayBuffer());
      if (text === null) return c.json(notUtf8, 400);
      req = new Request(req.url, { method: req.method, headers: req.headers, body: text, signal: req.signal });
    }
    const answered = fetchRequestHandler({
      endpoint: "/trpc",
      req,
      router,
      // One HTTP request carries at most this many calls; the client splits larger batches (maxItems).
      maxBatchSize: config.maxBatchCalls,
      createContext: () => requestContext(c),
      // A rate-limited call says when to come back, as HTTP says it: the longest wait of the batch.
      responseMeta: ({ errors }) => {
        const waits = errors.flatMap((error) => {
          const domain = domainErrorOf(error);
          return kernelErrors.RATE_LIMITED.is(domain) ? [Number(domain.details.retryAfterSeconds) || 1] : [];
        });
        return waits.length > 0 ? { headers: new Headers({ "Retry-After": String(Math.max(...waits)) }) } : {};
      },
      onError: ({ error, path }) => {
        if (error.code === "INTERNAL_SERVER_ERROR") logger.error({ requestId: id, procedure: path, err: error.cause ?? error }, "unhandled error");
      },
    });
    return sharedAnswers.isShared(req.method, req.url, req.headers) ? sharedAnswers.keep(req.url, await answered) : answered;
  };

  app.all("/trpc/*", async (c) => {
    const kept = sharedAnswers.answer(c.req.method, c.req.url, c.req.raw.headers);
    if (kept) return kept;
    requestLoad.enter();
    try {
      return await answerCall(c);
    } finally {
      requestLoad.leave();
    }
  });

  mountRestRoutes(app, router, logger, sessionOf);
  mountOpenApi(app, router);
  mountSessionRoutes(app, services.identity); // the web pages' httpOnly session cookie

  // Signed carrier updates; outside /trpc, with a body limit of its own.
  const carrierWebhook = createCarrierWebhookRoute(services.shipping, { logger, maxBodyBytes: config.carrierWebhookMaxBytes });
  app.all("/webhooks/carrier", (c) => carrierWebhook(c.req.raw)); // the route answers 405 to all but POST

  app.notFound((c) => c.json({ error: { message: "Not found", code: "NOT_FOUND" } }, 404));
  app.onError((error, c) => {
    logger.error({ err: error, requestId: c.get("requestId") }, "http error");
    return c.json({ error: { message: "Internal server error", code: "INTERNAL_SERVER_ERROR" } }, 500);
  });

  return { app, prefetch };
}
