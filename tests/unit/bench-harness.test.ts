/** Pure pieces of the benchmark harness: the wire format it sends, how answers are classified, the statistics. */
import { describe, expect, test } from "bun:test";
import { classifyAnswer, type LoadResult, trpcMutation, trpcQuery } from "../../scripts/bench/load.ts";
import { processCpu } from "../../scripts/bench/proc.ts";
import { answersCheck } from "../../scripts/bench/scenarios.ts";
import { percentiles } from "../../scripts/bench/util.ts";

describe("tRPC wire format (v11, superjson, no batching)", () => {
  test("a mutation is POST /trpc/<path> with {json: input} and the bearer token", () => {
    expect(trpcMutation("coupons.issue", { couponId: 7 }, "tok")).toEqual({
      method: "POST",
      path: "/trpc/coupons.issue",
      headers: { "content-type": "application/json", authorization: "Bearer tok" },
      body: '{"json":{"couponId":7}}',
      label: undefined,
    });
  });

  test("a query is GET /trpc/<path>?input=<urlencoded {json: input}>", () => {
    const request = trpcQuery("sales.popular", { days: 3, limit: 5 });
    expect(request.method).toBe("GET");
    expect(request.path).toBe(`/trpc/sales.popular?input=${encodeURIComponent('{"json":{"days":3,"limit":5}}')}`);
    expect(trpcQuery("ping", undefined).path).toBe("/trpc/ping");
  });
});

describe("classifyAnswer", () => {
  test("2xx is ok; errors give the domain code, else the tRPC code, else the status", () => {
    expect(classifyAnswer(200, '{"result":{"data":{"json":{}}}}')).toBe("ok");
    const domain = JSON.stringify({
      error: { json: { message: "sold out", code: -32009, data: { code: "CONFLICT", httpStatus: 409, domainCode: "COUPON_SOLD_OUT" } } },
    });
    expect(classifyAnswer(409, domain)).toBe("COUPON_SOLD_OUT");
    const plain = JSON.stringify({ error: { json: { message: "x", code: -32603, data: { code: "INTERNAL_SERVER_ERROR", domainCode: null } } } });
    expect(classifyAnswer(500, plain)).toBe("INTERNAL_SERVER_ERROR");
    expect(classifyAnswer(413, JSON.stringify({ error: { message: "too large", code: "PAYLOAD_TOO_LARGE" } }))).toBe("PAYLOAD_TOO_LARGE");
    expect(classifyAnswer(502, "<html>bad gateway</html>")).toBe("HTTP_502");
  });
});

describe("statistics", () => {
  test("nearest-rank percentiles", () => {
    const p = percentiles(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(p).toEqual({ count: 100, mean: 50.5, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(percentiles([]).count).toBe(0);
  });

  test("answersCheck wants exactly the expected answers and no transport errors", () => {
    const load = { outcomes: { ok: 5, COUPON_SOLD_OUT: 15 }, transportErrors: 0, timeouts: 0 } as unknown as LoadResult;
    expect(answersCheck(load, { ok: 5, COUPON_SOLD_OUT: 15 }).ok).toBe(true);
    expect(answersCheck(load, { ok: 5 }).ok).toBe(false);
    expect(answersCheck({ ...load, transportErrors: 1 }, { ok: 5, COUPON_SOLD_OUT: 15 }).ok).toBe(false);
  });

  test("reads this process's CPU time from /proc", () => {
    const cpu = processCpu(process.pid);
    expect(cpu).not.toBeNull();
    expect((cpu?.user ?? -1) >= 0 && (cpu?.sys ?? -1) >= 0).toBe(true);
    expect(processCpu(2 ** 30)).toBeNull();
  });
});
