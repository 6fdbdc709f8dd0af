/**
 * The edge's one mapping from a domain error to the transport: kind -> tRPC code -> HTTP status.
 * The tRPC procedures (kernel/trpc.ts) and the REST views (apps/server/rest.ts) both answer through
 * it; services never see it (they throw DomainError, which knows nothing of tRPC).
 */
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { type DomainError, type ErrorKind, refusalStacksRecorded } from "./errors.ts";

export const trpcCodeOfKind = {
  invalid: "BAD_REQUEST",
  unauthenticated: "UNAUTHORIZED",
  forbidden: "FORBIDDEN",
  not_found: "NOT_FOUND",
  conflict: "CONFLICT",
  unprocessable: "UNPROCESSABLE_CONTENT",
  rate_limited: "TOO_MANY_REQUESTS",
  unavailable: "SERVICE_UNAVAILABLE",
} as const satisfies Record<ErrorKind, TRPC_ERROR_CODE_KEY>;

/**
 * The tRPC face of a domain error: the kind's tRPC code, the domain error as its cause, and its code,
 * ref and details at hand for server-side callers (REST views, tests) as the wire's `data` has them.
 */
export class TRPCDomainError extends TRPCError {
  readonly domainCode: string;
  readonly ref: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(error: DomainError) {
    // The wrapper's own stack is the edge's, never shown (the formatter shows the refusal's): recorded only with the refusal's.
    const stackFrames = Error.stackTraceLimit;
    if (!refusalStacksRecorded()) Error.stackTraceLimit = 0;
    try {
      super({ code: trpcCodeOfKind[error.kind], message: error.message, cause: error });
    } finally {
      Error.stackTraceLimit = stackFrames;
    }
    this.domainCode = error.domainCode;
    this.ref = error.ref;
    this.details = error.details;
  }
}

/** The tRPC error a domain error answers as; the error formatter reads code, ref and details from its cause. */
export function toTrpcError(error: DomainError): TRPCDomainError {
  return new TRPCDomainError(error);
}

/** The HTTP status of a kind, as tRPC answers it (REST answers the same). */
export function httpStatusOfKind(kind: ErrorKind): number {
  return getHTTPStatusCodeFromError(new TRPCError({ code: trpcCodeOfKind[kind] }));
}
