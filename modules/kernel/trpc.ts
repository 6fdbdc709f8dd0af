/**
 * tRPC, initialised once: superjson, the error formatter, and the base procedures every module
 * builds on. Identity always comes from `ctx.session`, never from input.
 */
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError, ZodRealError, z } from "zod";
import { isConnectionError } from "../../db/index.ts";
import { domainErrorOf, kernelErrors } from "./errors.ts";
import type { Logger, Metrics } from "./observability.ts";
import type { CallCost, CallLimits } from "./rate-limits.ts";
import { envelopeViolation, inputViolations } from "./schemas.ts";
import { serializedFormOf, serializePlain } from "./serialized.ts";
import { toTrpcError } from "./trpc-errors.ts";

export type Role = "customer" | "admin";

export interface Session {
  userId: number;
  role: Role;
  /** sha256 of the bearer token: what logout revokes. */
  tokenHash: string;
  expiresAt: Date;
  /** An operator registered the account with a temporary password: only changing it is allowed. */
  mustChangePassword?: boolean;
}

/** What an account with a temporary password may still call. */
const allowedBeforePasswordChange = new Set(["identity.changePassword", "identity.me", "identity.logout"]);

export interface RequestContext {
  requestId: string;
  ip: string | null;
  session: Session | null;
  log: Logger;
  metrics: Metrics | null;
  /** Rate limits on writes, sign-ups and searches; null: none (a caller built without the HTTP layer). */
  limits?: CallLimits | null;
}

/** What a procedure declares of itself: `.meta({ cost: "search" })` puts it under the search limits. */
export interface ProcedureMeta {
  cost?: CallCost;
}

/**
 * superjson, behind the input policy: before an input is decoded, prototype keys, NUL and absurd
 * nesting anywhere in it are refused as a validation error (superjson would drop `__proto__`
 * silently, and NUL ends in PostgreSQL error 22021).
 */
const guardedSuperjson = {
  input: {
    serialize: (value: unknown) => superjson.serialize(value),
    deserialize: (raw: unknown) => {
      const notEnvelope = envelopeViolation(raw);
      const issues = notEnvelope ? [notEnvelope] : inputViolations(raw);
      if (issues.length > 0) throw new TRPCError({ code: "BAD_REQUEST", message: "Invalid input", cause: new ZodRealError(issues) });
      // biome-ignore lint/suspicious/noExplicitAny: superjson's own parameter type
      return superjson.deserialize(raw as any);
    },
  },
  output: {
    // A kept form first (cached answers), then the one-pass form of plain data, else superjson's walker.
    serialize: (value: unknown) => serializedFormOf(value) ?? serializePlain(value) ?? superjson.serialize(value),
    deserialize: (raw: unknown) =>
      // biome-ignore lint/suspicious/noExplicitAny: superjson's own parameter type
      superjson.deserialize(raw as any),
  },
};

/** Stack traces are shown only to a developer's own server. */
let exposeStacks = false;

/** Stack traces and inner error messages reach the client only on a developer's own server (the composition root decides, from NODE_ENV). */
export function exposeErrorDetails(on: boolean): void {
  exposeStacks = on;
}

const t = initTRPC
  .context<RequestContext>()
  .meta<ProcedureMeta>()
  .create({
    transformer: guardedSuperjson,
    // tRPC would read every error's stack (in Bun, formatting it through the source maps: the
    // costliest part of a refusal such as COUPON_SOLD_OUT); the formatter reads it only when it is shown.
    isDev: false,
    errorFormatter({ shape, error }) {
      const domain = domainErrorOf(error);
      const zodError = error.cause instanceof ZodError ? error.cause : null;
      const internal = error.code === "INTERNAL_SERVER_ERROR";
      return {
        ...shape,
        // An unexpected failure says nothing of its inner workings outside development.
        message: zodError ? "Invalid input" : internal && !exposeStacks ? "Internal server error" : shape.message,
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          domainCode: domain?.domainCode ?? (zodError ? "VALIDATION_FAILED" : null),
          ref: domain?.ref ?? null,
          details: domain?.details ?? null,
          fieldErrors: zodError ? z.flattenError(zodError).fieldErrors : null,
          formErrors: zodError ? z.flattenError(zodError).formErrors : null,
          // A refusal's own stack (where the module threw it), not the edge's wrapper.
          ...(exposeStacks ? { stack: (domain ?? error).stack } : {}),
        },
      };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/**
 * The one place a domain error becomes a tRPC error: services throw DomainError (tRPC wraps whatever a
 * procedure throws as INTERNAL_SERVER_ERROR with it as the cause), and this outermost middleware answers
 * with the kind's tRPC code instead (kernel/trpc-errors.ts). The formatter then reads the cause.
 */
const domainErrorsAnswerByKind = t.middleware(async ({ next }) => {
  const result = await next();
  if (result.ok) return result;
  const domain = domainErrorOf(result.error);
  if (domain && result.error.code === "INTERNAL_SERVER_ERROR") throw toTrpcError(domain);
  return result;
});

/**
 * A statement caught on a dropped or refused database connection is not the caller's fault and not
 * a bug: it answers SERVICE_UNAVAILABLE (503, retryable). The pool reconnects on the next request.
 */
const databaseOutagesAreRetryable = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && !domainErrorOf(result.error) && isConnectionError(result.error.cause ?? result.error)) {
    throw kernelErrors.SERVICE_UNAVAILABLE.create({ dependency: "database", retryable: true });
  }
  return result;
});

/** Times every call and logs it with the request id, procedure, caller and outcome. */
const observed = t.middleware(async ({ ctx, path, type, next }) => {
  const started = performance.now();
  const result = await next();
  const seconds = (performance.now() - started) / 1000;
  const domain = result.ok ? null : domainErrorOf(result.error);
  const outcome = result.ok ? "ok" : (domain?.domainCode ?? result.error.code);
  ctx.metrics?.procedureDuration.observe({ procedure: path, type, outcome }, seconds);
  const entry = { requestId: ctx.requestId, procedure: path, userId: ctx.session?.userId ?? null, durationMs: Math.round(seconds * 10000) / 10, outcome };
  if (!result.ok && !domain && result.error.code === "INTERNAL_SERVER_ERROR")
    ctx.log.error({ ...entry, err: result.error.cause ?? result.error }, "procedure failed");
  else ctx.log.info(entry, "procedure");
  return result;
});

/** Counts the call against the limits that apply to it (mutations: writes; declared costs), before its input is read. */
const limited = t.middleware(async ({ ctx, type, meta, next }) => {
  if (ctx.limits) {
    const decision = await ctx.limits.consume({ type, cost: meta?.cost, userId: ctx.session?.userId ?? null, role: ctx.session?.role ?? null, ip: ctx.ip });
    if (!decision.allowed) throw kernelErrors.RATE_LIMITED.create({ retryAfterSeconds: Math.max(1, Math.ceil(decision.retryAfterMs / 1000)) });
  }
  return next();
});

export const publicProcedure = t.procedure.use(domainErrorsAnswerByKind).use(observed).use(databaseOutagesAreRetryable).use(limited);

/** Any logged-in account (customers; admins may shop too). */
export const authedProcedure = publicProcedure.use(({ ctx, path, next }) => {
  if (!ctx.session) throw kernelErrors.UNAUTHENTICATED.create();
  if (ctx.session.mustChangePassword && !allowedBeforePasswordChange.has(path)) throw kernelErrors.PASSWORD_CHANGE_REQUIRED.create();
  return next({ ctx: { ...ctx, session: ctx.session } });
});

export const adminProcedure = authedProcedure.use(({ ctx, next }) => {
  if (ctx.session.role !== "admin") throw kernelErrors.FORBIDDEN.create();
  return next({ ctx });
});
