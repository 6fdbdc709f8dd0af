/** Stack traces reach the client only on a developer's own server (exposeErrorDetails), and are read only then. */
import { afterEach, describe, expect, test } from "bun:test";
import { getTRPCErrorFromUnknown } from "@trpc/server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { couponsErrors } from "../../modules/coupons/index.ts";
import { createLogger, exposeErrorDetails, publicProcedure, type RequestContext, recordRefusalStacks, router } from "../../modules/kernel/index.ts";

const silent = createLogger("silent");

const app = router({
  soldOut: publicProcedure.query(() => {
    throw couponsErrors.COUPON_SOLD_OUT.create({ couponId: 1, remainingQuantity: 0 });
  }),
});

async function errorData(): Promise<Record<string, unknown>> {
  const response = await fetchRequestHandler({
    endpoint: "/trpc",
    req: new Request("http://agora.test/trpc/soldOut"),
    router: app,
    createContext: (): RequestContext => ({ requestId: "r", ip: null, session: null, log: silent, metrics: null, limits: null }),
  });
  const body = (await response.json()) as { error: { json: { data: Record<string, unknown> } } };
  return body.error.json.data;
}

afterEach(() => {
  exposeErrorDetails(false);
  recordRefusalStacks(true);
});

describe("error stacks", () => {
  test("hidden by default: the answer carries the domain code and no stack", async () => {
    const data = await errorData();
    expect(data.domainCode).toBe("COUPON_SOLD_OUT");
    expect(data.stack).toBeUndefined();
  });

  test("shown on a developer's server", async () => {
    exposeErrorDetails(true);
    const data = await errorData();
    expect(data.domainCode).toBe("COUPON_SOLD_OUT");
    expect(typeof data.stack).toBe("string");
    expect(data.stack as string).toContain("DomainError");
  });

  test("a production server records no stack for a refusal; the answer is the same", async () => {
    recordRefusalStacks(false);
    const refusal = couponsErrors.COUPON_SOLD_OUT.create({ couponId: 1, remainingQuantity: 0 });
    expect(refusal.stack).toBe(`DomainError: ${refusal.message}`);
    const data = await errorData();
    expect(data.domainCode).toBe("COUPON_SOLD_OUT");
    expect(data.details).toEqual({ couponId: 1, remainingQuantity: 0 });
    expect(data.httpStatus).toBe(409);
    recordRefusalStacks(true);
    expect(couponsErrors.COUPON_SOLD_OUT.create({ couponId: 1, remainingQuantity: 0 }).stack).toContain("error-stacks.test.ts");
  });

  test("tRPC's wrapper of a thrown error carries the error's stack, of a non-error its own (what the patch that captures no wrapper stack must keep)", () => {
    const cause = new Error("the database went away");
    const wrapped = getTRPCErrorFromUnknown(cause);
    expect(wrapped.code).toBe("INTERNAL_SERVER_ERROR");
    expect(wrapped.cause).toBe(cause);
    expect(wrapped.stack).toBe(cause.stack as string);
    expect(wrapped.stack).toContain("error-stacks.test.ts");
    const stackless = new Error("no stack");
    stackless.stack = "";
    expect(getTRPCErrorFromUnknown(stackless).stack).toContain("error-stacks.test.ts");
    expect(getTRPCErrorFromUnknown("a string").stack).toContain("error-stacks.test.ts");
    expect(Error.stackTraceLimit).toBeGreaterThan(0); // put back
  });
});
