/**
 * tRPC, initialised once: superjson, the error formatter, and the base procedures every module
 * builds on. Identity always comes from `ctx.session`, never from input.
 */
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError, ZodRealError, z } from "zod";
import { isConnectionError, isStatementTimeout } from "../../db/index.ts";
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
  /**
   * The answer is the same for every caller (a public query that reads nothing of the session): the
   * HTTP layer may serve it whole for a moment (apps/server/shared-answers.ts). Never with a cost.
   */
  shared?: boolean;
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

/** Who may call a procedure: anyone, a logged-in account, an operator. */
type Access = "public" | "session" | "admin";

/** A histogram child per (procedure, type, outcome): prom-client hashes and checks the labels on every `observe` otherwise. */
const durationChildren = new WeakMap<Metrics, Map<string, { observe(seconds: number): void }>>();

function observeDuration(metrics: Metrics, procedure: string, type: string, outcome: string, seconds: number): void {
  let children = durationChildren.get(metrics);
  if (!children) {
    children = new Map();
    durationChildren.set(metrics, children);
  }
  const key = `${procedure} ${type} ${outcome}`;
  let child = children.get(key);
  if (!child) {
    child = metrics.procedureDuration.labels({ procedure, type, outcome });
    children.set(key, child);
  }
  child.observe(seconds);
}

/**
 * Who may call, and how many times: counts the call against the limits that apply to it (mutations:
 * writes; declared costs) before its input is read, then checks the session for `access`.
 */
async function admit(ctx: RequestContext, path: string, type: "query" | "mutation" | "subscription", meta: ProcedureMeta | undefined, access: Access) {
  if (ctx.limits) {
    const decision = await ctx.limits.consume({ type, cost: meta?.cost, userId: ctx.session?.userId ?? null, role: ctx.session?.role ?? null, ip: ctx.ip });
    if (!decision.allowed) throw kernelErrors.RATE_LIMITED.create({ retryAfterSeconds: Math.max(1, Math.ceil(decision.retryAfterMs / 1000)) });
  }
  if (access === "public") return;
  if (!ctx.session) throw kernelErrors.UNAUTHENTICATED.create();
  if (ctx.session.mustChangePassword && !allowedBeforePasswordChange.has(path)) throw kernelErrors.PASSWORD_CHANGE_REQUIRED.create();
  if (access === "admin" && ctx.session.role !== "admin") throw kernelErrors.FORBIDDEN.create();
}

/**
 * The edge of every procedure, as one middleware (tRPC copies its options object at every middleware
 * level, the costliest part of a cheap call): admission (limits, session, role), timing and the log
 * line, a dropped database connection as SERVICE_UNAVAILABLE (503, retryable: not the caller's fault
 * and not a bug; the pool reconnects on the next request), and the one place a domain error becomes a
 * tRPC error. Services throw DomainError (tRPC wraps whatever a procedure throws as
 * INTERNAL_SERVER_ERROR with it as the cause); it answers with the kind's tRPC code instead
 * (kernel/trpc-errors.ts), and the formatter reads the cause.
 */
function edge<Narrowed extends object>(access: Access) {
  return t.middleware(async ({ ctx, path, type, meta, next }) => {
    const started = performance.now();
    let refused: unknown = null;
    try {
      await admit(ctx, path, type, meta, access);
    } catch (error) {
      refused = error;
    }
    // The narrowed context is a type, not a copy: admission has checked the session, and a new ctx
    // object would make tRPC copy the whole context once more.
    const result = refused === null ? await next({ ctx: undefined as unknown as Narrowed }) : null;
    const seconds = (performance.now() - started) / 1000;
    let failure: unknown = result === null ? refused : result.ok ? null : result.error;
    let domain = failure === null ? null : domainErrorOf(failure);
    // The database unreachable or a statement past statement_timeout: the caller gets a retryable 503.
    // A timeout also warns the operator with the driver's own error (as a refusal it would only be
    // logged at info); a lost connection is already reported, once per outage, by the pool's events.
    let timedOut: unknown = null;
    const cause = failure instanceof TRPCError ? (failure.cause ?? failure) : failure;
    if (failure !== null && !domain && isConnectionError(cause)) {
      if (isStatementTimeout(cause)) timedOut = cause;
      failure = domain = kernelErrors.SERVICE_UNAVAILABLE.create({ dependency: "database", retryable: true });
    }
    const outcome = failure === null ? "ok" : (domain?.domainCode ?? (failure instanceof TRPCError ? failure.code : "INTERNAL_SERVER_ERROR"));
    if (ctx.metrics) observeDuration(ctx.metrics, path, type, outcome, seconds);
    const unexpected = failure !== null && !domain && (!(failure instanceof TRPCError) || failure.code === "INTERNAL_SERVER_ERROR");
    if (unexpected || ctx.log.isLevelEnabled("info")) {
      const entry = { requestId: ctx.requestId, procedure: path, userId: ctx.session?.userId ?? null, durationMs: Math.round(seconds * 10000) / 10, outcome };
      if (unexpected) ctx.log.error({ ...entry, err: failure instanceof TRPCError ? (failure.cause ?? failure) : failure }, "procedure failed");
      else ctx.log.info(entry, "procedure");
    }
    if (timedOut !== null) ctx.log.warn({ requestId: ctx.requestId, procedure: path, err: timedOut }, "statement timed out (DB_STATEMENT_TIMEOUT_MS)");
    if (result?.ok) return result;
    // A domain error already answering with its own code (a nested server-side call) stays as it is.
    if (domain && !(failure instanceof TRPCError && failure.code !== "INTERNAL_SERVER_ERROR")) throw toTrpcError(domain);
    if (result) return result;
    throw refused;
  });
}

export const publicProcedure = t.procedure.use(edge<Record<never, never>>("public"));

/** Any logged-in account (customers; admins may shop too). */
export const authedProcedure = t.procedure.use(edge<{ session: Session }>("session"));

export const adminProcedure = t.procedure.use(edge<{ session: Session }>("admin"));
