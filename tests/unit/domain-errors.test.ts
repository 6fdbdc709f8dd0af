/**
 * Domain errors as modules declare them (`defineErrors`) and as the edge answers them: the kind
 * decides the tRPC code and HTTP status, a thrown DomainError reaches a server-side caller as that
 * tRPC error with its code, ref and details, and details are type-checked at the throw.
 */
import { describe, expect, test } from "bun:test";
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import {
  createCallerFactory,
  createLogger,
  DomainError,
  defineErrors,
  domainErrorOf,
  ErrorDefinition,
  errorKinds,
  isDomainError,
  kernelErrors,
  publicProcedure,
  refusal,
  router,
  TRPCDomainError,
  toTrpcError,
  trpcCodeOfKind,
} from "../../modules/kernel/index.ts";

const sampleErrors = defineErrors({
  WIDGET_NOT_FOUND: refusal<{ widgetId: number }>({ kind: "not_found", message: "No such widget", ref: "W001" }),
  WIDGET_BUSY: refusal({ kind: "conflict", message: "The widget is busy" }),
});

describe("a declared code", () => {
  test("create() carries code, kind, ref, details and the default message, or the one given", () => {
    const error = sampleErrors.WIDGET_NOT_FOUND.create({ widgetId: 7 });
    expect(error).toBeInstanceOf(DomainError);
    expect([error.domainCode, error.kind, error.ref, error.details, error.message]).toEqual([
      "WIDGET_NOT_FOUND",
      "not_found",
      "W001",
      { widgetId: 7 },
      "No such widget",
    ]);
    expect(sampleErrors.WIDGET_NOT_FOUND.create({ widgetId: 7 }, "Gone").message).toBe("Gone");
    expect(sampleErrors.WIDGET_BUSY.create().details).toEqual({});
  });

  test("is() recognises its own code only", () => {
    const busy = sampleErrors.WIDGET_BUSY.create();
    expect(sampleErrors.WIDGET_BUSY.is(busy)).toBe(true);
    expect(sampleErrors.WIDGET_NOT_FOUND.is(busy)).toBe(false);
    expect(sampleErrors.WIDGET_BUSY.is(new Error("WIDGET_BUSY"))).toBe(false);
    expect(isDomainError(busy, "WIDGET_BUSY")).toBe(true);
  });

  test("details are type-checked where the error is made", () => {
    // @ts-expect-error widgetId is a number
    sampleErrors.WIDGET_NOT_FOUND.create({ widgetId: "7" });
    // @ts-expect-error the code carries details
    sampleErrors.WIDGET_NOT_FOUND.create();
    const caught: unknown = sampleErrors.WIDGET_NOT_FOUND.create({ widgetId: 1 });
    if (sampleErrors.WIDGET_NOT_FOUND.is(caught)) expect(caught.details.widgetId + 1).toBe(2);
  });
});

describe("the edge's mapping", () => {
  test("each kind answers one tRPC code and HTTP status", () => {
    const answers = Object.fromEntries(
      errorKinds.map((kind) => {
        const error = toTrpcError(new ErrorDefinition("SAMPLE", refusal({ kind, message: "A sample" })).create());
        return [kind, `${error.code} ${getHTTPStatusCodeFromError(error)}`];
      }),
    );
    expect(answers).toEqual({
      invalid: "BAD_REQUEST 400",
      unauthenticated: "UNAUTHORIZED 401",
      forbidden: "FORBIDDEN 403",
      not_found: "NOT_FOUND 404",
      conflict: "CONFLICT 409",
      unprocessable: "UNPROCESSABLE_CONTENT 422",
      rate_limited: "TOO_MANY_REQUESTS 429",
      unavailable: "SERVICE_UNAVAILABLE 503",
    });
    expect(Object.keys(trpcCodeOfKind).sort()).toEqual([...errorKinds].sort());
  });

  test("a DomainError thrown in a procedure reaches a server-side caller as the kind's tRPC error, with the domain facts", async () => {
    const app = router({
      widget: publicProcedure.query(() => {
        throw sampleErrors.WIDGET_NOT_FOUND.create({ widgetId: 3 });
      }),
      busy: publicProcedure.mutation(() => {
        throw sampleErrors.WIDGET_BUSY.create();
      }),
    });
    const caller = createCallerFactory(app)({ requestId: "t", ip: null, session: null, log: createLogger("silent"), metrics: null });
    const caught = await caller.widget().catch((error: unknown) => error);
    expect(caught).toBeInstanceOf(TRPCDomainError);
    const error = caught as TRPCDomainError;
    expect([error.code, error.domainCode, error.ref, error.details]).toEqual(["NOT_FOUND", "WIDGET_NOT_FOUND", "W001", { widgetId: 3 }]);
    expect(domainErrorOf(error)?.domainCode).toBe("WIDGET_NOT_FOUND");
    expect(((await caller.busy().catch((e: unknown) => e)) as TRPCError).code).toBe("CONFLICT");
  });

  test("domainErrorOf finds a domain error itself or as a cause, and nothing else", () => {
    const limited = kernelErrors.RATE_LIMITED.create({ retryAfterSeconds: 5 });
    expect(domainErrorOf(limited)).toBe(limited);
    expect(domainErrorOf(toTrpcError(limited))).toBe(limited);
    expect(domainErrorOf(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: new Error("boom") }))).toBeNull();
    expect(domainErrorOf("RATE_LIMITED")).toBeNull();
  });
});
